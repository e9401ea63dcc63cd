"""HTTP client of the follower: the account plan (conditional GET, long-poll) and reports.

Contract: /work/notes/plan-api.md (`GET /api/v1/accounts/{id}/plan`, `POST
/api/v1/accounts/{id}/reports`). Every call has a short timeout so the built-in QMT
thread never freezes; any failure raises FetchError and the caller sends nothing.

Bundled into the exported QMT file: Python 3.6, `requests` imported lazily.
"""

import json

from urllib.parse import quote as _quote

DEFAULT_TIMEOUT = 0.8
MAX_WAIT = 30


class FetchError(Exception):
    """The plan or a report could not be exchanged with the server."""

    def __init__(self, message, status=None):
        Exception.__init__(self, message)
        self.status = status


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
        self._session = session

    @property
    def session(self):
        if self._session is None:
            try:
                import requests  # lazily: QMT usually ships it
                self._session = requests.Session()
            except ImportError:  # an embedded Python without requests still follows
                self._session = UrllibSession()
        return self._session

    def _url(self, tail):
        return "%s/api/v1/accounts/%s/%s" % (self.server, _quote(self.account_id, safe=""), tail)

    def _headers(self):
        return {"Authorization": "Bearer %s" % self.token, "Accept": "application/json",
                "User-Agent": "jq2qmt-follower"}

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
            resp = self.session.get(self._url("plan"), headers=headers, params=params,
                                    timeout=timeout)
        except Exception as exc:
            raise FetchError("服务器不可达 / server unreachable: %s" % (type(exc).__name__,))
        if resp.status_code == 304:
            return PlanResponse(304, None, etag)
        if resp.status_code != 200:
            raise FetchError("服务器返回 %s / server answered %s: %s"
                             % (resp.status_code, resp.status_code, _reason(resp)),
                             resp.status_code)
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
            resp = self.session.post(self._url("reports"), data=body, headers=headers,
                                     timeout=(self.timeout, self.timeout))
        except Exception as exc:
            raise FetchError("报告发送失败 / report not sent: %s" % (type(exc).__name__,))
        if resp.status_code // 100 != 2:
            raise FetchError("报告被拒绝 %s / report refused: %s"
                             % (resp.status_code, _reason(resp)), resp.status_code)
        return True


class _UrllibResponse(object):
    def __init__(self, status_code, content, headers):
        self.status_code = status_code
        self.content = content
        self.headers = headers

    @property
    def text(self):
        return self.content.decode("utf-8", "replace")


class UrllibSession(object):
    """The two calls the client needs, on the standard library (same timeouts)."""

    def _open(self, method, url, headers, data, timeout):
        import urllib.error
        import urllib.request

        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=max(timeout)) as resp:
                return _UrllibResponse(resp.status, resp.read(), resp.headers)
        except urllib.error.HTTPError as exc:
            return _UrllibResponse(exc.code, exc.read() or b"", exc.headers)

    def get(self, url, headers=None, params=None, timeout=(1, 1)):
        from urllib.parse import urlencode

        if params:
            url = url + "?" + urlencode(params)
        return self._open("GET", url, headers or {}, None, timeout)

    def post(self, url, data=None, headers=None, timeout=(1, 1)):
        return self._open("POST", url, headers or {}, data, timeout)


def _reason(resp):
    text = (resp.text or "")[:200]
    return text.replace("\n", " ")
