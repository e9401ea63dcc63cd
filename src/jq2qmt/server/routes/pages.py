"""The web pages (Chinese UI): login/logout and the HTML shells of 总览, 持仓调整,
历史, 跟单, 跟单质量, 委托/成交 and 密码管理. Each page's data comes from the JSON
API, called by the page's script with the login session cookie and, on writes, the
session's CSRF token.

`install(app)` is the one call the app factory makes: it adds these routes, serves
the static files, and registers the session hook through which `require_admin`
accepts a login session (refusing a session write without the CSRF token with 403).
"""

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Optional
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.gzip import GZipMiddleware

from jq2qmt import __version__
from jq2qmt.server import sessions as session_rows
from jq2qmt.server.auth import Principal, add_session_hook, check_admin_password, client_ip
from jq2qmt.server.errors import ApiError
from jq2qmt.server.sessions import (
    COOKIE_NAME,
    CSRF_HEADER,
    LOGIN_CSRF_COOKIE,
    SessionSigner,
    load_or_create_key,
)
from jq2qmt.store import credentials
from jq2qmt.store.models import AdminCredential

PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"
STATIC_DIR = PAGES_DIR / "static"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
WEB_ADMIN = Principal(kind="admin", name="admin:web", scope="admin")

NAV = [
    ("/", "总览", "overview"),
    ("/adjustment", "持仓调整", "adjustment"),
    ("/history", "历史", "history"),
    ("/accounts", "跟单", "accounts"),
    ("/quality", "跟单质量", "quality"),
    ("/orders", "委托/成交", "orders"),
    ("/password", "密码管理", "password"),
]

# Pages may run only our own scripts; ECharts sets inline style attributes.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(PAGES_DIR / "templates"))


def _asset_version():
    digest = hashlib.sha256(__version__.encode("ascii"))
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            stat = path.stat()
            digest.update(
                (
                    "%s:%d:%d"
                    % (path.relative_to(STATIC_DIR).as_posix(), stat.st_size, int(stat.st_mtime))
                ).encode()
            )
    return digest.hexdigest()[:10]


ASSET_VERSION = _asset_version()


def static_url(path):
    return "/static/%s?v=%s" % (path, ASSET_VERSION)


class _Static(StaticFiles):
    """Static files: versioned URLs (``?v=``) are cached for a year, others revalidate
    with their ETag (the ES modules import each other without the version)."""

    def file_response(self, full_path, stat_result, scope, status_code=200):
        response = super().file_response(full_path, stat_result, scope, status_code)
        versioned = b"v=" in scope.get("query_string", b"")
        response.headers["Cache-Control"] = (
            "public, max-age=31536000, immutable" if versioned else "no-cache"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


# ---- sessions ----------------------------------------------------------------------


def _signer(request) -> SessionSigner:
    return signer_of(request.app)


def signer_of(app) -> SessionSigner:
    """The app's session signer (its key file is read once per app)."""
    signer = getattr(app.state, "session_signer", None)
    if signer is None:
        signer = SessionSigner(load_or_create_key(app.state.settings.secret_key_path))
        app.state.session_signer = signer
    return signer


def _password_hash(request) -> Optional[str]:
    with request.app.state.db.read() as session:
        row = session.get(AdminCredential, 1)
        return row.password_hash if row is not None else None


def current_session(request):
    """The verified login session of this request, or None."""
    cookie = request.cookies.get(COOKIE_NAME)
    if not cookie:
        return None
    with request.app.state.db.read() as tx:
        row = tx.get(AdminCredential, 1)
        session = _signer(request).verify(cookie, row.password_hash if row is not None else None)
        if session is None or not session_rows.is_active(tx, session.sid):
            return None  # forged, expired, issued under another password, or revoked
    return session


def session_hook(request) -> Optional[Principal]:
    """`require_admin` hook: admin for a valid session; a write without the session's
    CSRF token in the X-CSRF-Token header is refused with 403."""
    session = current_session(request)
    if session is None:
        return None
    if request.method not in SAFE_METHODS and not session.csrf_matches(
        request.headers.get(CSRF_HEADER)
    ):
        raise ApiError(
            403,
            "csrf_failed",
            "缺少或错误的 CSRF 令牌，请刷新页面后重试 / missing or wrong CSRF token, "
            "reload the page and try again",
            field=CSRF_HEADER,
        )
    return WEB_ADMIN


def _is_https(request):
    return request.url.scheme == "https"


def _safe_next(value):
    """Only same-site relative paths are followed after login (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _login_redirect(request):
    target = request.url.path + ("?" + request.url.query if request.url.query else "")
    return RedirectResponse("/login?next=" + quote(target, safe=""), status_code=303)


def _render(request, template, status_code=200, **context):
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response


def _page(request, template, page, title, **context):
    session = current_session(request)
    if session is None:
        return _login_redirect(request)
    return _render(
        request,
        template,
        page=page,
        title=title,
        nav=NAV,
        csrf_token=session.csrf_token,
        version=__version__,
        static_url=static_url,
        **context,
    )


# ---- login / logout ------------------------------------------------------------------

_NOTICES = {
    "logged_out": "已退出登录。",
    "password_changed": "密码已修改，所有会话已退出，请用新密码登录。",
}


def _login_page(request, next_url, error=None, notice=None, status_code=200):
    token = secrets.token_urlsafe(24)
    response = _render(
        request,
        "login.html",
        status_code=status_code,
        login_csrf=token,
        next_url=next_url,
        error=error,
        notice=notice,
        static_url=static_url,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=_is_https(request),
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/", notice: str = "", expired: str = ""):
    next_url = _safe_next(next)
    if current_session(request) is not None:
        return RedirectResponse(next_url, status_code=303)
    message = _NOTICES.get(notice) or ("登录已过期，请重新登录。" if expired else None)
    return _login_page(request, next_url, notice=message)


@router.post("/login")
def login(
    request: Request, password: str = Form(""), csrf_token: str = Form(""), next: str = Form("/")
):
    next_url = _safe_next(next)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), csrf_token.encode()):
        return _login_page(
            request, next_url, error="登录表单已过期，请重新输入密码。", status_code=403
        )
    try:
        check_admin_password(request, password)  # counts failures, 429 when rate-limited
    except ApiError as exc:
        message = "密码错误。" if exc.status == 401 else exc.message.split(" / ")[0]
        page = _login_page(request, next_url, error=message, status_code=exc.status)
        page.headers.update(exc.headers or {})  # Retry-After on 429
        return page
    cookie, session = _signer(request).issue(_password_hash(request))
    session_rows.record(
        request.app.state.db, session, client_ip(request), request.headers.get("User-Agent")
    )
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        cookie,
        max_age=session.expires_at - session.issued_at,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_is_https(request),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: str = Form("")):
    session = current_session(request)
    if session is not None and not session.csrf_matches(csrf_token):
        return Response(
            "CSRF 令牌错误 / wrong CSRF token",
            status_code=403,
            media_type="text/plain; charset=utf-8",
        )
    if session is not None:
        session_rows.revoke(request.app.state.db, session.sid)  # a copy of the cookie ends here too
    response = RedirectResponse("/login?notice=logged_out", status_code=303)
    response.delete_cookie(
        COOKIE_NAME, path="/", httponly=True, samesite="strict", secure=_is_https(request)
    )
    return response


# ---- pages ---------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def overview_page(request: Request):
    return _page(request, "overview.html", "overview", "总览")


@router.get("/adjustment", response_class=HTMLResponse)
def adjustment_page(request: Request):
    return _page(request, "adjustment.html", "adjustment", "持仓调整")


@router.get("/history", response_class=HTMLResponse)
def history_index(request: Request):
    return _page(request, "history.html", "history", "历史", strategy=None)


@router.get("/history/{strategy}", response_class=HTMLResponse)
def history_page(request: Request, strategy: str):
    return _page(request, "history.html", "history", "历史 · %s" % strategy, strategy=strategy)


@router.get("/accounts", response_class=HTMLResponse)
def accounts_page(request: Request):
    return _page(request, "accounts.html", "accounts", "跟单")


@router.get("/quality", response_class=HTMLResponse)
def quality_page(request: Request):
    return _page(request, "quality.html", "quality", "跟单质量")


@router.get("/orders", response_class=HTMLResponse)
def orders_page(request: Request):
    return _page(request, "orders.html", "orders", "委托/成交")


@router.get("/password", response_class=HTMLResponse)
def password_page(request: Request):
    return _page(
        request,
        "password.html",
        "password",
        "密码管理",
        min_password_length=credentials.MIN_PASSWORD_LENGTH,
    )


def install(app):
    """Add the web pages to `app`: routes, static files, login-session auth hook."""
    app.include_router(router)
    # gzip only the static files (ECharts is 700 kB raw, ~240 kB compressed)
    app.mount(
        "/static",
        GZipMiddleware(_Static(directory=str(STATIC_DIR)), minimum_size=1024),
        name="static",
    )
    add_session_hook(app, session_hook)
