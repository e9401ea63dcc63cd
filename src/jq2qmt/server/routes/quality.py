"""Tracking and execution quality, and the order log (jq2qmt.store.quality).

- GET /api/v1/accounts/{id}/quality?from=YYYY-MM-DD&to=YYYY-MM-DD[&format=csv]
- GET /api/v1/orders?account=&code=&status=&day=&limit=&offset=[&format=csv]
- GET /api/v1/prices (the newest price followers used per code, with its time)

Admin only (password header or web session), like every account read: holdings,
P&L and orders are the account owner's. CSV with ``format=csv`` or
``Accept: text/csv`` (UTF-8 with BOM, so Excel shows the Chinese text). A bad
parameter is a 422 naming it. The JSON answers carry an ETag of their bytes: the
pages poll with ``If-None-Match`` and get a 304 without a body while nothing changed.
"""

import hashlib
import json

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select

from jq2qmt.server.auth import Principal, require_admin
from jq2qmt.server.caches import held_etags
from jq2qmt.server.errors import ApiError
from jq2qmt.store import accounts as account_store
from jq2qmt.store import quality as store

router = APIRouter(tags=["quality"])

MAX_LIMIT = store.MAX_ORDERS
MAX_OFFSET = (
    10**9
)  # paging the order log (newest first); the page asks for `limit` rows after `offset`


def _wants_csv(request):
    fmt = request.query_params.get("format")
    if fmt not in (None, "", "json", "csv"):
        raise ApiError(
            422, "invalid_field", "format 只能是 json 或 csv / format must be json or csv", "format"
        )
    if fmt:
        return fmt == "csv"
    accept = request.headers.get("accept") or ""
    return "text/csv" in accept and "application/json" not in accept


def _known(request, allowed):
    unknown = sorted(set(request.query_params) - set(allowed))
    if unknown:
        raise ApiError(422, "invalid_field", "未知参数 / unknown query parameter", unknown[0])


def _run(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except store.QualityError as exc:
        raise ApiError(422, "invalid_field", exc.message, exc.field)
    except account_store.AccountError as exc:
        raise ApiError(exc.status, exc.code, exc.message, exc.field)


def _json(request, result):
    body = json.dumps(result, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode(
        "utf-8"
    )
    etag = '"%s"' % hashlib.sha256(body).hexdigest()[:32]
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if etag in held_etags(request.headers.get("If-None-Match")):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def _csv(text, name):
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="%s"' % name},
    )


@router.get(
    "/api/v1/accounts/{account_id}/quality",
    summary="跟踪与成交质量 / tracking and execution quality",
)
def get_quality(account_id: str, request: Request, _: Principal = Depends(require_admin)):
    _known(request, ("from", "to", "format"))
    csv_wanted = _wants_csv(request)
    start = _run(store.parse_day, "from", request.query_params.get("from"))
    end = _run(store.parse_day, "to", request.query_params.get("to"))
    with request.app.state.db.read() as session:
        account = _run(account_store.get_account, session, account_id)
        result = _run(store.quality, session, account, start, end)
    if csv_wanted:
        return _csv(
            store.to_csv(result["days"], store.DAY_COLUMNS),
            "quality-%s-%s-%s.csv" % (account_id, result["from"], result["to"]),
        )
    return _json(request, result)


@router.get("/api/v1/prices", summary="跟单端最近使用的价格 / the prices followers used last")
def get_prices(request: Request, _: Principal = Depends(require_admin)):
    """The newest price each code was traded on by any follower, with its time: the
    overview values the merged target at these (market value, unrealised P&L)."""
    _known(request, ())
    with request.app.state.db.read() as session:
        prices = store.latest_prices(session)
    return _json(request, {"prices": prices})


@router.get("/api/v1/orders", summary="委托与成交记录 / the order log")
def get_orders(request: Request, _: Principal = Depends(require_admin)):
    _known(request, ("account", "code", "status", "day", "limit", "offset", "format"))
    csv_wanted = _wants_csv(request)
    params = request.query_params
    day = _run(store.parse_day, "day", params.get("day"))
    limit = params.get("limit") or "200"
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
        raise ApiError(
            422,
            "invalid_field",
            "limit 应为 1-%d 的整数 / limit must be an integer 1-%d" % (MAX_LIMIT, MAX_LIMIT),
            "limit",
        )
    offset = params.get("offset") or "0"
    if not offset.isdigit() or int(offset) > MAX_OFFSET:
        raise ApiError(
            422,
            "invalid_field",
            "offset 应为 0-%d 的整数 / offset must be an integer 0-%d" % (MAX_OFFSET, MAX_OFFSET),
            "offset",
        )
    code = params.get("code") or None
    if code is not None and (len(code) > 32 or not code.isascii()):
        raise ApiError(
            422, "invalid_field", "代码格式不对 / code must be ASCII, at most 32 characters", "code"
        )
    with request.app.state.db.read() as session:
        account = None
        if params.get("account"):
            account = _run(account_store.get_account, session, params["account"])
        names = dict(
            session.execute(
                select(account_store.Account.id, account_store.Account.account_id)
            ).all()
        )
        status = params.get("status") or None
        rows = _run(
            store.list_orders, session, names, account, code, status, day, int(limit), int(offset)
        )
        total = None if csv_wanted else store.count_orders(session, account, code, status, day)
    if csv_wanted:
        return _csv(store.to_csv(rows, store.ORDER_COLUMNS), "orders.csv")
    return _json(
        request, {"orders": rows, "count": len(rows), "total": total, "offset": int(offset)}
    )
