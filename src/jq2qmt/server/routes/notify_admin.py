"""Admin API for notification channels and events (what `jq2qmt notify` does, for the web UI).

- GET    /api/v1/notify                      channels (never their secrets), events, recent alerts
- PUT    /api/v1/notify/channels/{name}      create or replace {kind, config, enabled}
- DELETE /api/v1/notify/channels/{name}
- PATCH  /api/v1/notify/events/{event}       {enabled, interval_minutes, threshold_minutes}
- POST   /api/v1/notify/test                 {channel?}: send a test message, per-channel results

A channel's config holds webhook keys and SMTP passwords: it is written, never read back.
"""

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from jq2qmt.notify import settings as ns
from jq2qmt.notify.channels import KINDS, ConfigProblem
from jq2qmt.notify.dispatcher import Notifier, recent_log
from jq2qmt.notify.events import EVENTS
from jq2qmt.server.auth import Principal, require_admin
from jq2qmt.server.errors import ApiError
from jq2qmt.server.limits import loads_json_object

router = APIRouter(tags=["notify"])

_CONFIG_KEYS = {
    "email": ("host", "port", "security", "username", "password", "sender", "to"),
}
_WEBHOOK_KEYS = ("url", "secret")


def _name(name):
    if not name or len(name) > 64 or name.strip() != name or "/" in name:
        raise ApiError(
            422,
            "invalid_field",
            "渠道名称需 1-64 个字符，不能含 / 或首尾空格 / channel name must have "
            "1-64 characters, no '/' and no surrounding spaces",
            "name",
        )
    return name


def _db(request):
    return request.app.state.db


def _listing(db):
    with db.read() as session:
        channels = [
            {
                "name": name,
                "kind": channel.kind,
                "enabled": bool(enabled),
                "describe": channel.describe(),
            }
            for name, enabled, channel in ns.channels(session)
        ]
        events = ns.event_settings(session)
        recent = [
            {
                "at": row["at"].isoformat() if hasattr(row["at"], "isoformat") else row["at"],
                "event": row["event"],
                "status": row["status"],
                "subject": row["subject"],
                "title": row["title"],
            }
            for row in recent_log(session, 20)
        ]
    return {
        "kinds": list(KINDS),
        "channels": channels,
        "events": [dict(value, event=key) for key, value in events.items()],
        "recent": recent,
    }


@router.get("/api/v1/notify", summary="通知渠道与事件 / notification channels and events")
def get_notify(request: Request, _: Principal = Depends(require_admin)):
    return _listing(_db(request))


@router.put("/api/v1/notify/channels/{name}", summary="添加或替换通知渠道 / set a channel")
async def put_channel(name: str, request: Request, _: Principal = Depends(require_admin)):
    payload = loads_json_object(await request.body())
    unknown = sorted(set(payload) - {"kind", "config", "enabled"})
    if unknown:
        raise ApiError(422, "invalid_field", "未知字段 / unknown field", unknown[0])
    _name(name)
    kind = payload.get("kind")
    if kind not in KINDS:
        raise ApiError(
            422,
            "invalid_field",
            "渠道类型须为 %s 之一 / kind must be one of %s" % ("、".join(KINDS), ", ".join(KINDS)),
            "kind",
        )
    config = payload.get("config") or {}
    if not isinstance(config, dict):
        raise ApiError(422, "invalid_field", "必须是对象 / must be an object", "config")
    allowed = _CONFIG_KEYS.get(kind, _WEBHOOK_KEYS)
    for key, value in config.items():
        if key not in allowed:
            raise ApiError(
                422,
                "invalid_field",
                "该渠道类型没有此设置 / not a setting of this kind",
                "config." + key,
            )
        if key == "to":
            if not isinstance(value, list) or not all(
                isinstance(v, str) and len(v) <= 254 for v in value
            ):
                raise ApiError(
                    422,
                    "invalid_field",
                    "收件人须为地址列表 / must be a list of addresses",
                    "config.to",
                )
        elif key == "port":
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536
            ):
                raise ApiError(
                    422, "invalid_field", "端口须为 1-65535 / port must be 1-65535", "config.port"
                )
        elif value is not None and (not isinstance(value, str) or len(value) > 2000):
            raise ApiError(
                422,
                "invalid_field",
                "须为不超过 2000 字符的文本 / must be text up to 2000 characters",
                "config." + key,
            )
    config = {k: v for k, v in config.items() if v not in (None, "", [])}
    enabled = payload.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ApiError(
            422, "invalid_field", "须为 true 或 false / must be true or false", "enabled"
        )
    try:
        await run_in_threadpool(ns.set_channel, _db(request), name, kind, config, enabled)
    except ConfigProblem as exc:
        raise ApiError(422, "invalid_channel", str(exc), "config")
    return {"success": True, "name": name}


@router.delete("/api/v1/notify/channels/{name}", summary="删除通知渠道 / remove a channel")
def delete_channel(name: str, request: Request, _: Principal = Depends(require_admin)):
    if not ns.remove_channel(_db(request), name):
        raise ApiError(404, "not_found", "没有这个渠道 / no such channel", "name")
    return {"success": True, "name": name}


@router.patch("/api/v1/notify/events/{event}", summary="事件开关与间隔 / switch an event")
async def patch_event(event: str, request: Request, _: Principal = Depends(require_admin)):
    if event not in EVENTS:
        raise ApiError(404, "not_found", "没有这个事件 / no such event", "event")
    payload = loads_json_object(await request.body())
    unknown = sorted(set(payload) - {"enabled", "interval_minutes", "threshold_minutes"})
    if unknown:
        raise ApiError(422, "invalid_field", "未知字段 / unknown field", unknown[0])
    enabled = payload.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        raise ApiError(
            422, "invalid_field", "须为 true 或 false / must be true or false", "enabled"
        )
    numbers = {}
    for key, low in (("interval_minutes", 0), ("threshold_minutes", 1)):
        value = payload.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 10080
        ):
            raise ApiError(
                422,
                "invalid_field",
                "须为 %d-10080 的整数（分钟） / must be an integer %d-10080 (minutes)" % (low, low),
                key,
            )
        numbers[key] = value
    interval = numbers["interval_minutes"]
    await run_in_threadpool(
        ns.set_event,
        _db(request),
        event,
        enabled,
        None if interval is None else interval * 60,
        numbers["threshold_minutes"],
    )
    return {"success": True, "event": event}


@router.post("/api/v1/notify/test", summary="发送测试消息 / send a test message")
async def send_test(request: Request, _: Principal = Depends(require_admin)):
    payload = loads_json_object(await request.body(), required=False) or {}
    unknown = sorted(set(payload) - {"channel"})
    if unknown:
        raise ApiError(422, "invalid_field", "未知字段 / unknown field", unknown[0])
    channel = payload.get("channel")
    if channel is not None and not isinstance(channel, str):
        raise ApiError(422, "invalid_field", "须为渠道名称 / must be a channel name", "channel")
    notifier = getattr(request.app.state, "notifier", None) or Notifier(_db(request))
    results = await run_in_threadpool(notifier.test, channel)
    if not results:
        raise ApiError(404, "not_found", "没有可测试的渠道 / no channel to test", "channel")
    return {
        "results": [
            {"channel": name, "ok": error is None, "error": error} for name, error in results
        ]
    }
