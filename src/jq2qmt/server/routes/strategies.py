"""Strategy history, single versions, diffs, and removal (admin)."""

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from jq2qmt.server.auth import Principal, client_ip, require_admin, require_reader
from jq2qmt.server.errors import not_found
from jq2qmt.store import repo

router = APIRouter(tags=["strategies"])

# Version numbers are 32-bit integer columns: a larger number in a URL must be a 422,
# not a database error (PostgreSQL refuses the comparison, "integer out of range").
MAX_VERSION = 2**31 - 1
MAX_OFFSET = 2**31 - 1


@router.get("/api/v1/strategies", summary="策略列表 / strategies")
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


@router.get("/api/v1/strategies/{strategy_name}/history", summary="历史版本 / version history")
def strategy_history(
    strategy_name: str,
    request: Request,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    _: Principal = Depends(require_reader),
):
    with request.app.state.db.read() as session:
        try:
            return repo.history(session, strategy_name, limit, offset)
        except repo.NotFoundError:
            raise not_found(("策略", "strategy"), "strategy_name")


def _version(session, name, version, field):
    try:
        return repo.get_version(session, name, version)
    except repo.NotFoundError:
        raise not_found(("策略或版本", "strategy or version"), field)


@router.get(
    "/api/v1/strategies/{strategy_name}/versions/{version}", summary="某个版本 / one version"
)
def strategy_version(
    strategy_name: str,
    request: Request,
    version: int = Path(..., ge=1, le=MAX_VERSION),
    _: Principal = Depends(require_reader),
):
    with request.app.state.db.read() as session:
        return _version(session, strategy_name, version, "version")


@router.get(
    "/api/v1/strategies/{strategy_name}/diff", summary="两个版本的差异 / diff of two versions"
)
def strategy_diff(
    strategy_name: str,
    request: Request,
    from_version: int = Query(..., alias="from", ge=1, le=MAX_VERSION),
    to_version: int = Query(None, alias="to", ge=1, le=MAX_VERSION),
    _: Principal = Depends(require_reader),
):
    with request.app.state.db.read() as session:
        if to_version is None:
            try:
                to_version = repo.history(session, strategy_name, 1)["version"]
            except repo.NotFoundError:
                raise not_found(("策略", "strategy"), "strategy_name")
        old = _version(session, strategy_name, from_version, "from")
        new = _version(session, strategy_name, to_version, "to")
    return {
        "strategy_name": strategy_name,
        "from": from_version,
        "to": to_version,
        "changes": repo.diff_positions(old["positions"], new["positions"]),
    }


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
