"""Strategy history, single versions, diffs, and removal (admin)."""

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from jq2qmt.server import paths, versioned_reads
from jq2qmt.server.auth import Principal, client_ip, require_admin, require_reader
from jq2qmt.server.errors import not_found
from jq2qmt.store import repo

router = APIRouter(tags=["strategies"])


@router.get(paths.STRATEGIES, summary="策略列表 / strategies")
def list_strategies(
    request: Request, include_removed: bool = Query(False), _: Principal = Depends(require_reader)
):
    with request.app.state.db.read() as session:
        strategies = repo.all_strategies(session)
        removed = repo.removed_strategies(session) if include_removed else None
    result = {
        "strategies": [
            {k: s[k] for k in ("strategy_name", "version", "update_time", "as_of")}
            | {"position_count": len(s["positions"])}
            for s in strategies
        ]
    }
    if removed is not None:
        # removed strategies keep their history; the 历史 page lists them (marked 已删除)
        result["removed"] = removed
    return result


@router.get(paths.HISTORY, summary="历史版本 / version history")
def strategy_history(
    strategy_name: str,
    request: Request,
    limit: int = Query(100, ge=1, le=versioned_reads.MAX_HISTORY),
    offset: int = Query(0, ge=0, le=versioned_reads.MAX_OFFSET),
    _: Principal = Depends(require_reader),
):
    params = {"strategy_name": strategy_name, "limit": limit, "offset": offset}
    return versioned_reads.respond(request, versioned_reads.HISTORY, params)


@router.get(paths.VERSION, summary="某个版本 / one version")
def strategy_version(
    strategy_name: str,
    request: Request,
    version: int = Path(..., ge=1, le=versioned_reads.MAX_VERSION),
    _: Principal = Depends(require_reader),
):
    params = {"strategy_name": strategy_name, "version": version}
    return versioned_reads.respond(request, versioned_reads.VERSION, params)


@router.get(paths.DIFF, summary="两个版本的差异 / diff of two versions")
def strategy_diff(
    strategy_name: str,
    request: Request,
    from_version: int = Query(..., alias="from", ge=1, le=versioned_reads.MAX_VERSION),
    to_version: int = Query(None, alias="to", ge=1, le=versioned_reads.MAX_VERSION),
    _: Principal = Depends(require_reader),
):
    params = {"strategy_name": strategy_name, "from": from_version, "to": to_version}
    return versioned_reads.respond(request, versioned_reads.DIFF, params)


@router.delete(
    "/api/v1/strategies/{strategy_name}",
    summary="删除策略（保留历史） / remove a strategy (history kept)",
)
async def remove_strategy(
    strategy_name: str, request: Request, principal: Principal = Depends(require_admin)
):
    try:
        result = await run_in_threadpool(
            repo.remove_strategy,
            request.app.state.db,
            strategy_name,
            principal.kind,
            client_ip(request),
        )
    except repo.NotFoundError:
        raise not_found(("策略", "strategy"), "strategy_name")
    return {
        "success": True,
        "strategy_name": strategy_name,
        "version": result.version,
        "message": "策略已删除，历史保留 / strategy removed, history kept",
    }
