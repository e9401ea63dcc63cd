"""HTTP client of the follower: the account plan (conditional GET, long-poll) and reports.

Contract: docs/api.md (`GET /api/v1/accounts/{id}/plan`, `POST
/api/v1/accounts/{id}/reports`). Every call has a short timeout and an overall
deadline (see http_session.py); any failure raises FetchError and the caller sends
nothing. PlanClient itself blocks for up to those limits: the QMT built-in strategy
wraps it in background.BackgroundClient so its single Python thread never waits.

Bundled into the exported QMT file: Python 3.6, stdlib only.
"""

import json
import ssl
from urllib.parse import quote as _quote

from .http_session import HttpSession

DEFAULT_TIMEOUT = 0.8
MAX_WAIT = 30


class FetchError(Exception):
    """The plan or a report could not be exchanged with the server."""

    def __init__(self, message, status=None):
        Exception.__init__(self, message)
        self.status = status


class FetchPending(FetchError):
    """No answer yet and no plan to go on: a quiet round, not a failure."""

    def __init__(self, message="等待服务器应答 / waiting for the server"):
        FetchError.__init__(self, message)


class PlanResponse(object):
    """`status` 200 (new plan in `plan`) or 304 (unchanged, `plan` is None)."""

    def __init__(self, status, plan, etag):
        self.status = status
        self.plan = plan
        self.etag = etag


class PlanClient(object):
    def __init__(self, server, token, account_id, timeout=DEFAULT_TIMEOUT, session=None):
        self.server = server.rstrip("/")
        self.token = token
        self.account_id = str(account_id)
        self.timeout = float(timeout)
        # any object with the same get/post (a requests.Session works too)
        self.session = session if session is not None else HttpSession()

    def _url(self, tail):
        return "%s/api/v1/accounts/%s/%s" % (self.server, _quote(self.account_id, safe=""), tail)

    def _headers(self):
        return {
            "Authorization": "Bearer %s" % self.token,
            "Accept": "application/json",
            "User-Agent": "jq2qmt-follower",
        }

    def fetch_plan(self, etag=None, wait=0):
        """GET the plan; `etag` makes it conditional, `wait` (s) long-polls."""
        headers = self._headers()
        params = {}
        if etag:
            headers["If-None-Match"] = etag
            wait = int(min(max(wait or 0, 0), MAX_WAIT))
            if wait > 0:
                params["wait"] = str(wait)
        else:
            wait = 0
        # connect timeout stays short; the read may take the long-poll time.
        timeout = (self.timeout, self.timeout + wait + (1.0 if wait else 0.0))
        try:
            resp = self.session.get(
                self._url("plan"), headers=headers, params=params, timeout=timeout
            )
        except Exception as exc:
            raise FetchError("服务器不可达 / server unreachable: %s" % (_describe(exc),))
        if resp.status_code == 304:
            return PlanResponse(304, None, etag)
        if resp.status_code != 200:
            raise FetchError(
                "服务器返回 %s / server answered %s: %s"
                % (resp.status_code, resp.status_code, _reason(resp)),
                resp.status_code,
            )
        try:
            plan = json.loads(resp.content.decode("utf-8"))
        except ValueError:
            raise FetchError("计划不是合法 JSON / plan is not valid JSON", 200)
        return PlanResponse(200, plan, resp.headers.get("ETag"))

    def send_report(self, report):
        body = json.dumps(report, ensure_ascii=False).encode("utf-8")
        headers = self._headers()
        headers["Content-Type"] = "application/json"
        try:
            resp = self.session.post(
                self._url("reports"),
                data=body,
                headers=headers,
                timeout=(self.timeout, self.timeout),
            )
        except Exception as exc:
            raise FetchError("报告发送失败 / report not sent: %s" % (_describe(exc),))
        if resp.status_code // 100 != 2:
            raise FetchError(
                "报告被拒绝 %s / report refused: %s" % (resp.status_code, _reason(resp)),
                resp.status_code,
            )
        return True


def _describe(exc):
    """The exception's type, plus its text for certificate problems (a user can act on it)."""
    name = type(exc).__name__
    if isinstance(exc, (ssl.SSLError, ssl.CertificateError)):
        return "%s: %s" % (name, str(exc)[:160])
    return name


def _reason(resp):
    text = (resp.text or "")[:200]
    return text.replace("\n", " ")
