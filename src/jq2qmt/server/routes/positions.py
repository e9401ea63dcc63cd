"""The seed's position endpoints (same paths and fields, stricter contract)."""

import json

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from jq2qmt.server import paths, versioned_reads
from jq2qmt.server.auth import (
    Principal,
    authenticate_upload,
    check_admin_password,
    client_ip,
    optional_admin,
    require_reader,
)
from jq2qmt.server.errors import ApiError, AuthError
from jq2qmt.server.limits import loads_json_object
from jq2qmt.store import repo
from jq2qmt.store.snapshot import SnapshotError, format_time, parse_snapshot

router = APIRouter(tags=["positions"])

_POSITION_SCHEMA = {
    "type": "object",
    "required": ["code", "volume", "cost"],
    "properties": {
        "code": {
            "type": "string",
            "example": "600000.XSHG",
            "description": "600000.XSHG 或 600000.SH",
        },
        "volume": {"type": "integer", "minimum": 0, "description": "股数；ADJUSTMENT_ 策略可为负"},
        "cost": {"type": "number", "minimum": 0},
        "name": {"type": "string", "maxLength": 64},
    },
}
_SNAPSHOT_SCHEMA = {
    "type": "object",
    "required": ["strategy_name", "positions"],
    "properties": {
        "strategy_name": {"type": "string", "minLength": 1, "maxLength": 64},
        "positions": {"type": "array", "items": _POSITION_SCHEMA},
        "as_of": {
            "type": "string",
            "format": "date-time",
            "description": "策略时钟；无时区按北京时间",
        },
        "portfolio": {
            "type": "object",
            "properties": {"total_value": {"type": "number"}, "cash": {"type": "number"}},
        },
    },
}


def _body_doc(extra_properties=None):
    schema = json.loads(json.dumps(_SNAPSHOT_SCHEMA))
    schema["properties"].update(extra_properties or {})
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def decode_json(body):
    """The decoded JSON object of a request body, or a 400/422 ApiError (see
    `limits.loads_json_object`)."""
    return loads_json_object(body)


class VersionConflict(ApiError):
    """409 for a correction whose base version is no longer the strategy's version;
    the body also says which version the strategy is at and who wrote it."""

    def __init__(self, exc):
        if exc.current:
            message = (
                "快照已更新到 v%d（%s 于 %s 写入），你编辑的是 v%d，未保存；请重新加载后再修改 / the snapshot is "
                "now v%d, your edit started from v%d; not saved, reload and edit again"
                % (
                    exc.current,
                    exc.source or "—",
                    exc.update_time or "—",
                    exc.base_version,
                    exc.current,
                    exc.base_version,
                )
            )
        else:
            message = (
                "策略已不存在（被删除），你编辑的是 v%d，未保存；请重新加载 / the strategy no longer exists, "
                "your edit started from v%d; not saved, reload"
                % (exc.base_version, exc.base_version)
            )
        ApiError.__init__(self, 409, "version_conflict", message, "base_version")
        self.conflict = exc

    def response(self):
        response = ApiError.response(self)
        body = json.loads(response.body)
        body["error"].update(
            {
                "base_version": self.conflict.base_version,
                "current_version": self.conflict.current,
                "current_source": self.conflict.source,
                "current_update_time": self.conflict.update_time,
            }
        )
        return JSONResponse(body, status_code=self.status)


def _base_version(payload):
    """The optional `base_version` of a correction: an integer >= 0, or None."""
    value = payload.pop("base_version", None)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ApiError(
            422,
            "invalid_field",
            "base_version 必须是不小于 0 的整数（编辑开始时的版本号，新策略为 0） / "
            "base_version must be an integer >= 0 (the version the edit started from, 0 for a new "
            "strategy)",
            "base_version",
        )
    return value


def _negative_warnings(db, snapshot):
    """Warnings for the codes of `snapshot` whose merged total went below 0."""
    with db.read() as session:
        negative = repo.negative_totals(session, [p["code"] for p in snapshot.positions])
    return [
        {
            "code": "negative_target",
            "stock": code,
            "volume": volume,
            "message": "%s 的合并目标为 %d 股（负数）：跟单端按 0 处理，会卖出账户里这只股票的全部持仓，不会卖空 / "
            "merged target of %s is %d (negative): followers treat it as 0 and sell all they hold of it, "
            "never short" % (code, volume, code, volume),
        }
        for code, volume in sorted(negative.items())
    ]


def _save(request, snapshot, source, before=None, base_version=None, carry=(), warn=False):
    try:
        result = repo.save_snapshot(
            request.app.state.db,
            snapshot,
            source,
            client_ip(request),
            before=before,
            base_version=base_version,
            carry=carry,
        )
    except repo.StaleSnapshotError as exc:
        raise ApiError(
            409,
            "stale_snapshot",
            "as_of (%s) 早于已保存的快照 (%s)，未应用 / as_of is older than the stored "
            "snapshot, not applied" % (format_time(exc.as_of), format_time(exc.stored_as_of)),
            "as_of",
        )
    except repo.VersionConflictError as exc:
        raise VersionConflict(exc)
    extra = {"warnings": _negative_warnings(request.app.state.db, snapshot)} if warn else {}
    return dict(
        extra,
        **{
            "success": True,
            "message": "持仓已更新 / positions updated"
            if result.created
            else "持仓未变化 / positions unchanged",
            "strategy_name": result.strategy_name,
            "version": result.version,
            "created": result.created,
            "update_time": result.update_time,
        },
    )


def _parse(request, body_or_payload):
    payload = (
        decode_json(body_or_payload) if isinstance(body_or_payload, bytes) else body_or_payload
    )
    return parse_snapshot(payload, request.app.state.settings.max_positions)


@router.post(
    paths.UPLOAD,
    summary="上传策略持仓（签名） / upload a snapshot (signed)",
    openapi_extra=_body_doc(),
)
async def update_positions(request: Request):
    body = await request.body()
    failure = request.scope.pop(UPLOAD_FAILURE, None)
    if failure is not None:
        raise failure
    return await run_in_threadpool(signed_save, request, body)


# Set by the upload fast path (server/fastupload.py) when it ran this upload and it
# failed: the route answers with that failure instead of running the upload again
# (its nonce may be spent already, and a second run would answer "replayed").
UPLOAD_FAILURE = "jq2qmt.upload_failure"


def signed_save(request, body):
    """An upload in one worker thread: authenticate (401 before anything else), parse
    the body, then record the nonce and save the snapshot in one write transaction.
    A nonce is spent even when the upload is refused (400/409/422), so a signed
    request is never applied by a later replay either."""
    principal, guard = authenticate_upload(request, body)
    try:
        snapshot = _parse(request, body)
    except (ApiError, SnapshotError):
        if guard is not None:
            request.app.state.db.write(guard)  # raises nonce_reused for a replay
        raise
    return _save(request, snapshot, "client:%s" % principal.name, before=guard)


@router.post(
    paths.UPLOAD_INTERNAL,
    summary="管理员更新持仓 / admin snapshot update",
    openapi_extra=_body_doc(
        {
            "password": {"type": "string", "description": "或 X-Internal-Password 请求头"},
            "base_version": {
                "type": "integer",
                "minimum": 0,
                "description": "编辑开始时的版本（新策略为 0）；与当前版本不同则 409 version_conflict，不写入。"
                "不给则后写者覆盖 / the version the edit started from; 409 when stale",
            },
        }
    ),
)
async def update_positions_internal(request: Request):
    body = await request.body()
    principal = await run_in_threadpool(optional_admin, request)
    if principal is None:
        principal = await run_in_threadpool(check_admin_password, request, _body_password(body))
    payload = decode_json(body)
    payload.pop("password", None)
    payload.pop("internal_password", None)
    base_version = _base_version(payload)
    # a correction that leaves out portfolio / as_of keeps the stored ones
    carry = tuple(key for key in ("portfolio", "as_of") if key not in payload)
    return await run_in_threadpool(
        lambda: _save(
            request,
            _parse(request, payload),
            principal.kind,
            base_version=base_version,
            carry=carry,
            warn=True,
        )
    )


def _body_password(body):
    try:
        payload = loads_json_object(body)
    except ApiError:
        payload = None
    password = None
    if isinstance(payload, dict):
        password = payload.get("password") or payload.get("internal_password")
    if not isinstance(password, str) or not password:
        raise AuthError(
            "admin_required",
            "需要管理员密码（X-Internal-Password 请求头或 password 字段） / admin password "
            "required (X-Internal-Password header or password field)",
        )
    return password


@router.get(paths.STRATEGY, summary="策略当前持仓 / a strategy's snapshot")
def strategy_positions(
    strategy_name: str, request: Request, _: Principal = Depends(require_reader)
):
    return versioned_reads.respond(
        request, versioned_reads.STRATEGY, {"strategy_name": strategy_name}
    )


@router.get(paths.ALL_POSITIONS, summary="所有策略持仓 / every strategy's snapshot")
def all_positions(request: Request, _: Principal = Depends(require_reader)):
    with request.app.state.db.read() as session:
        strategies = repo.all_strategies(session)
    times = [s["update_time"] for s in strategies if s["update_time"]]
    return {
        "strategies": [versioned_reads.with_position_times(s) for s in strategies],
        "update_time": max(times) if times else None,
    }


@router.get(paths.TOTAL, summary="合并目标持仓 / aggregated target")
def total_positions(
    request: Request,
    strategies: str = Query(None, description="a,b,c"),
    include_adjustments: bool = Query(True),
    _: Principal = Depends(require_reader),
):
    params = {
        "strategies": versioned_reads.parse_names(strategies),
        "include_adjustments": include_adjustments,
    }
    return versioned_reads.respond(request, versioned_reads.TOTAL, params)
