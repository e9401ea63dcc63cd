"""Follower accounts: the plan and report endpoints of the followers, and the admin API.

Followers (contract: docs/api.md)
- GET  /api/v1/accounts/{id}/plan[?wait=N]   that account's follower token (or admin)
- POST /api/v1/accounts/{id}/reports          that account's follower token only
A reader token or another account's token gets 403 with a JSON reason; no token 401.

Admin (password header or web session)
- GET/POST /api/v1/accounts, GET/PATCH/DELETE /api/v1/accounts/{id}
- PUT/DELETE /api/v1/accounts/{id}/follow/{strategy}
- POST /api/v1/accounts/{id}/pause | resume | approve | reject
- POST /api/v1/accounts/{id}/confirm                  after the preflight: start trading
- POST /api/v1/accounts/{id}/token {rotate?}          a follower token, in this answer only
- GET /api/v1/accounts/{id}/reports?limit=N&kind=round|heartbeat|preflight|all
A new account is unconfirmed: its plan says ``"preflight": true`` and its follower
only reports what it sees (kind "preflight") until the admin confirms it.
Every change of what a plan is built from (settings, follows, switches, approval,
confirmation) bumps the account's revision and the change counter, so the plan's
ETag changes and long-polls wake. Dismissing a hold (reject) does not change the plan.
"""

import asyncio

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from jq2qmt.server import caches as app_caches
from jq2qmt.server import fresh_reads, paths, plans, versioned_reads
from jq2qmt.server.auth import Principal, client_ip, require_admin, require_scope
from jq2qmt.server.errors import ApiError
from jq2qmt.server.limits import loads_json_object
from jq2qmt.store import accounts as store

router = APIRouter(tags=["accounts"])

_follow_token = require_scope("follow", allow_admin=False)
_follow_token_or_admin = require_scope("follow", allow_admin=True)


def _api_error(exc):
    return ApiError(exc.status, exc.code, exc.message, exc.field)


def _call(fn, *args, **kwargs):
    """Run a store function; its AccountError becomes the API's error shape."""
    try:
        return fn(*args, **kwargs)
    except store.AccountError as exc:
        raise _api_error(exc)


def _own_account(principal, account_id):
    if principal.kind == "token" and principal.account_id != account_id:
        raise ApiError(
            403,
            "wrong_account",
            "该令牌不属于账户 %s / this token belongs to another account" % account_id,
        )
    return principal


def plan_reader(account_id: str, request: Request) -> Principal:
    """The account's own follower token, or the admin (read-only view for the UI)."""
    return _own_account(_follow_token_or_admin(request), account_id)


def report_writer(account_id: str, request: Request) -> Principal:
    """Only the account's own follower token may post its reports."""
    return _own_account(_follow_token(request), account_id)


def _db(request):
    return request.app.state.db


def _cache(app):
    return app_caches.for_app(app).plans


def _watcher(app):
    watcher = getattr(app.state, "change_watcher", None)
    if watcher is None:
        watcher = app.state.change_watcher = plans.ChangeWatcher(fresh_reads.for_app(app))
    return watcher


def _json_body(body, required=True):
    return loads_json_object(body, required=required)


# ---- followers ------------------------------------------------------------------------


@router.get(paths.PLAN, summary="账户的跟单计划 / the account's plan")
async def get_plan(
    account_id: str,
    request: Request,
    wait: int = Query(0, ge=0, le=plans.MAX_WAIT, description="长轮询秒数 / long-poll seconds"),
    _: Principal = Depends(plan_reader),
):
    params = {"account_id": account_id}
    if_none_match = request.headers.get("If-None-Match")
    if wait > 0:
        db = _db(request)
        state = await run_in_threadpool(_call, plans.read_state, db, account_id)
        held_tags = app_caches.held_etags(if_none_match)
        if versioned_reads.plan_etag(state.version) in held_tags:
            state = await _wait_for_change(request, db, account_id, state, held_tags, wait)
            if state is None:
                return Response(status_code=304, headers={"ETag": next(iter(held_tags))})
            if_none_match = None  # changed while waiting: the new plan
    return await run_in_threadpool(
        _call, versioned_reads.answer, request.app, versioned_reads.PLAN, params, if_none_match
    )


async def _wait_for_change(request, db, account_id, state, held_tags, wait):
    """The new state once the plan's version leaves `held_tags`; None at the timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    watcher = _watcher(request.app)
    while True:
        recent = await watcher.wait_past(state.seen, deadline, request.is_disconnected)
        if recent is None:
            return None
        state = await run_in_threadpool(_call, plans.read_state, db, account_id)
        if versioned_reads.plan_etag(state.version) not in held_tags:
            return state


@router.post(paths.REPORTS, summary="跟单端报告 / follower report")
async def post_report(account_id: str, request: Request, _: Principal = Depends(report_writer)):
    payload = _json_body(await request.body())
    report_id = await run_in_threadpool(
        _call, store.save_report, _db(request), account_id, payload, client_ip(request)
    )
    return {"ok": True, "id": report_id}


# ---- admin ------------------------------------------------------------------------------


@router.get(paths.ACCOUNTS, summary="跟单账户列表 / follower accounts")
def list_accounts(request: Request, _: Principal = Depends(require_admin)):
    return versioned_reads.respond(request, versioned_reads.ACCOUNTS, {})


@router.post(paths.ACCOUNTS, summary="新建跟单账户 / add an account", status_code=201)
async def add_account(request: Request, _: Principal = Depends(require_admin)):
    payload = _json_body(await request.body())
    unknown = sorted(set(payload) - {"account_id", "name", "mode", "settings"})
    if unknown:
        raise ApiError(422, "invalid_field", "未知字段 / unknown field", unknown[0])
    settings = payload.get("settings") or {}
    if not isinstance(settings, dict):
        raise ApiError(422, "invalid_field", "必须是对象 / must be an object", "settings")
    return await run_in_threadpool(
        _call,
        store.add_account,
        _db(request),
        payload.get("account_id"),
        payload.get("name"),
        payload.get("mode", "ratio"),
        settings,
    )


def _detail(db, cache, account_id):
    plan = plans.current_plan(db, cache, account_id)
    with db.read() as session:
        account = store.get_account(session, account_id)
        result = store.summary(session, account)
        result["last_report"] = store.last_report(session, account)
        result["last_account"] = store.last_account_report(session, account)
        merged, problem = plans.merged_target(plan)
        # held codes outside the target: named from any strategy that holds them
        held = ((result["last_account"] or {}).get("account") or {}).get("positions")
        in_target = set(t.get("code") for t in merged or [])
        result["held_names"] = store.code_names(
            session,
            [
                p.get("code")
                for p in (held if isinstance(held, list) else [])
                if isinstance(p, dict) and not p.get("name") and p.get("code") not in in_target
            ],
        )
    followed = list(plan["follow"]["strategies"])
    present = dict((t["strategy"], t) for t in plan["targets"])
    result.update(
        {
            "plan_version": plan["plan_version"],
            "strategies": [
                {
                    "strategy": name,
                    "follow": plan["follow"]["strategies"][name],
                    "version": present[name]["version"] if name in present else None,
                    "update_time": present[name]["update_time"] if name in present else None,
                    "position_count": len(present[name]["positions"]) if name in present else 0,
                    "portfolio_value": present[name]["portfolio_value"]
                    if name in present
                    else None,
                    "missing": name not in present,
                }
                for name in followed
            ],
            "merged_target": merged,
            "merged_target_error": problem,
        }
    )
    return result


@router.get("/api/v1/accounts/{account_id}", summary="账户详情 / account details")
def get_account(account_id: str, request: Request, _: Principal = Depends(require_admin)):
    return _call(_detail, _db(request), _cache(request.app), account_id)


@router.patch("/api/v1/accounts/{account_id}", summary="修改账户设置 / change settings")
async def patch_account(account_id: str, request: Request, _: Principal = Depends(require_admin)):
    payload = _json_body(await request.body())
    return await run_in_threadpool(_call, store.update_account, _db(request), account_id, payload)


@router.delete("/api/v1/accounts/{account_id}", summary="删除账户 / remove an account")
def delete_account(account_id: str, request: Request, _: Principal = Depends(require_admin)):
    _call(store.remove_account, _db(request), account_id)
    return {"success": True, "account_id": account_id}


@router.put(
    "/api/v1/accounts/{account_id}/follow/{strategy}", summary="跟随策略 / follow a strategy"
)
async def put_follow(
    account_id: str, strategy: str, request: Request, _: Principal = Depends(require_admin)
):
    payload = _json_body(await request.body())
    unknown = sorted(set(payload) - {"ratio", "capital"})
    if unknown:
        raise ApiError(422, "invalid_field", "未知字段 / unknown field", unknown[0])
    return await run_in_threadpool(
        _call,
        store.set_follow,
        _db(request),
        account_id,
        strategy,
        payload.get("ratio"),
        payload.get("capital"),
    )


@router.delete("/api/v1/accounts/{account_id}/follow/{strategy}", summary="取消跟随 / unfollow")
def delete_follow(
    account_id: str, strategy: str, request: Request, _: Principal = Depends(require_admin)
):
    _call(store.unfollow, _db(request), account_id, strategy)
    return {"success": True, "account_id": account_id, "strategy": strategy}


@router.post(
    "/api/v1/accounts/{account_id}/token",
    summary="生成跟单令牌（只返回一次） / follower token (returned once)",
)
async def create_token(account_id: str, request: Request, _: Principal = Depends(require_admin)):
    payload = _json_body(await request.body(), required=False) or {}
    unknown = sorted(set(payload) - {"rotate"})
    if unknown:
        raise ApiError(422, "invalid_field", "未知字段 / unknown field", unknown[0])
    rotate = payload.get("rotate", False)
    if not isinstance(rotate, bool):
        raise ApiError(422, "invalid_field", "须为 true 或 false / must be true or false", "rotate")
    token = await run_in_threadpool(
        _call, store.create_follower_token, _db(request), account_id, rotate
    )
    return {"account_id": account_id, "token": token}


@router.post("/api/v1/accounts/{account_id}/pause", summary="暂停跟单 / pause")
def pause(account_id: str, request: Request, _: Principal = Depends(require_admin)):
    return _call(store.update_account, _db(request), account_id, {"paused": True})


@router.post("/api/v1/accounts/{account_id}/resume", summary="恢复跟单 / resume")
def resume(account_id: str, request: Request, _: Principal = Depends(require_admin)):
    return _call(store.update_account, _db(request), account_id, {"paused": False})


@router.post(
    "/api/v1/accounts/{account_id}/confirm", summary="确认账户，开始跟单 / confirm the account"
)
def confirm(account_id: str, request: Request, _: Principal = Depends(require_admin)):
    return _call(store.confirm_account, _db(request), account_id)


@router.get(paths.REPORTS, summary="跟单报告 / reports")
def list_reports(
    account_id: str,
    request: Request,
    limit: int = Query(50, ge=1, le=versioned_reads.MAX_REPORTS),
    kind: str = Query("round", pattern="^(%s)$" % "|".join(versioned_reads.REPORT_KINDS)),
    _: Principal = Depends(require_admin),
):
    params = {"account_id": account_id, "limit": limit, "kind": kind}
    return versioned_reads.respond(request, versioned_reads.REPORTS, params)


@router.post(
    "/api/v1/accounts/{account_id}/approve", summary="批准暂缓的计划 / approve a held plan"
)
async def approve(account_id: str, request: Request, principal: Principal = Depends(require_admin)):
    payload = _json_body(await request.body())
    return await run_in_threadpool(
        _call,
        store.decide,
        _db(request),
        account_id,
        payload.get("plan_version"),
        "approved",
        principal.name,
    )


@router.post("/api/v1/accounts/{account_id}/reject", summary="拒绝暂缓的计划 / reject a held plan")
async def reject(account_id: str, request: Request, principal: Principal = Depends(require_admin)):
    payload = _json_body(await request.body(), required=False)
    version = payload.get("plan_version")
    if version is None:
        version = await run_in_threadpool(_call, _held_version, _db(request), account_id)
    return await run_in_threadpool(
        _call, store.decide, _db(request), account_id, version, "rejected", principal.name
    )


def _held_version(db, account_id):
    with db.read() as session:
        held = store.held_of(session, store.get_account(session, account_id))
    if held is None:
        raise ApiError(
            409,
            "nothing_held",
            "没有等待确认的计划 / no plan is waiting for approval",
            "plan_version",
        )
    return held["plan_version"]
