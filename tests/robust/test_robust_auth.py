"""Auth matrix: every API operation x every kind of credential; exactly the right ones pass.

Credentials: none, wrong (unknown bearer token, malformed Authorization, wrong admin
password, forged session cookie, signature by another key), expired (revoked token,
expired session, signed timestamp outside the window), replayed (a signed request
sent twice), right credentials of another kind/scope/account (reader token, follow
token, another account's follow token, admin) and the right ones. "Passes" means
the answer is not 401/403; every refusal carries a JSON reason.

Also: web writes with a session but without its CSRF token are refused, login brute
force is slowed (429, even for the right password, until the window passes), secrets
files are created 0600, and no secret appears in any log line (the instance log file
and every other captured logger).
"""

import dataclasses
import json
import logging
import os
import re
import stat
import time

import pytest
from fastapi.testclient import TestClient

from jq2qmt import signing
from jq2qmt.instance import generate_key_pair
from jq2qmt.logging_setup import setup_logging
from jq2qmt.server.app import create_app
from jq2qmt.server.sessions import SessionSigner, load_or_create_key
from jq2qmt.store import credentials
from jq2qmt.store.models import AdminCredential

ACCOUNT, OTHER = "8886660057", "8886660099"
STRATEGY = "多策略V1.0"
UPLOAD = "/api/v1/positions/update"
ADMIN = {"admin_password", "admin_session"}
READER = ADMIN | {"reader_token"}
# (method, path pattern) -> credentials that must pass; everything else must be refused
EXPECTED = [
    ("POST", r"^/api/v1/positions/update$", {"signed"}),
    ("POST", r"^/api/v1/accounts/[^/]+/reports$", {"follow_token"}),
    ("GET", r"^/api/v1/accounts/[^/]+/plan$", ADMIN | {"follow_token"}),
    ("GET", r"^/api/v1/positions/|^/api/v1/strategies|^/metrics$", READER),
    ("*", r"^/api/v1/", ADMIN),
]
PUBLIC = {("GET", "/healthz"), ("GET", "/api/v1/auth/info")}
BODIES = {
    "/api/v1/positions/update": {
        "strategy_name": STRATEGY,
        "positions": [{"code": "600000.XSHG", "volume": 1000, "cost": 10.5}],
    },
    "/api/v1/positions/update/internal": {
        "strategy_name": STRATEGY,
        "positions": [{"code": "600000.XSHG", "volume": 1000, "cost": 10.5}],
    },
    "/api/v1/accounts": {"account_id": "8886660100", "name": "新账户"},
    "/api/v1/accounts/%s" % ACCOUNT: {"name": "主账户"},
    "/api/v1/accounts/%s/follow/%s" % (ACCOUNT, STRATEGY): {"ratio": 1.0},
    "/api/v1/accounts/%s/reports" % ACCOUNT: {
        "kind": "heartbeat",
        "follower": {"kind": "paper", "version": "0.1.0"},
    },
    "/api/v1/accounts/%s/approve" % ACCOUNT: {"plan_version": "0" * 16},
    "/api/v1/accounts/%s/reject" % ACCOUNT: {},
}
PARAMS = {
    "account_id": ACCOUNT,
    "strategy_name": STRATEGY,
    "strategy": STRATEGY,
    "version": "1",
    "session_id": "0" * 32,
}


def expected_for(method, path):
    for want_method, pattern, allowed in EXPECTED:
        if want_method in ("*", method) and re.search(pattern, path):
            return allowed
    raise AssertionError("no expectation for %s %s" % (method, path))


class Credentials:
    """Every credential kind of the matrix as a function (method, path, body) -> headers."""

    def __init__(self, instance, client, password_hash):
        self.instance = instance
        db = instance.db()
        self.secrets = [instance.admin_password]
        reader = self._secret(credentials.create_token(db, "matrix-read", "read"))
        follow = self._secret(credentials.create_token(db, "matrix-follow", "follow", ACCOUNT))
        other = self._secret(credentials.create_token(db, "matrix-other", "follow", OTHER))
        revoked = self._secret(credentials.create_token(db, "matrix-revoked", "read"))
        credentials.revoke_token(db, "matrix-revoked")
        signer = SessionSigner(load_or_create_key(instance.settings.secret_key_path))
        self.session = session = _login(client, instance.admin_password)
        self._secret(session["cookie"])
        self._secret(session["csrf"])
        expired_cookie, _ = signer.issue(password_hash, now=time.time() - 2 * signer.max_age)
        forged_cookie, forged = SessionSigner(os.urandom(32)).issue(password_hash)
        other_key = signing.load_private_key(generate_key_pair("ed25519")[0])
        cookie = "jq2qmt_session=%s"
        self.kinds = {
            "none": lambda m, p, b: {},
            "bad_bearer": lambda m, p, b: {"Authorization": "Bearer not-a-real-token"},
            "malformed_authorization": lambda m, p, b: {"Authorization": "Basic YWRtaW46YWRtaW4="},
            "wrong_password": lambda m, p, b: {
                "X-Internal-Password": "wrong-" + instance.admin_password
            },
            "forged_session": lambda m, p, b: {
                "Cookie": cookie % forged_cookie,
                "X-CSRF-Token": forged.csrf_token,
            },
            "signed_wrong_key": lambda m, p, b: signing.signed_headers(
                other_key, instance.jq_client_id, m, p, b
            ),
            "revoked_token": lambda m, p, b: {"Authorization": "Bearer %s" % revoked},
            "expired_session": lambda m, p, b: {
                "Cookie": cookie % expired_cookie,
                "X-CSRF-Token": session["csrf"],
            },
            "signed_expired": lambda m, p, b: instance.signed_headers(
                m, p, b, timestamp=int(time.time()) - 3600
            ),
            "signed_replayed": self._replayed,
            "reader_token": lambda m, p, b: {"Authorization": "Bearer %s" % reader},
            "follow_token": lambda m, p, b: {"Authorization": "Bearer %s" % follow},
            "other_account_token": lambda m, p, b: {"Authorization": "Bearer %s" % other},
            "admin_password": lambda m, p, b: {"X-Internal-Password": instance.admin_password},
            "admin_session": lambda m, p, b: {
                "Cookie": cookie % session["cookie"],
                "X-CSRF-Token": session["csrf"],
            },
            "signed": lambda m, p, b: instance.signed_headers(m, p, b),
        }
        self.client = client

    def renew_session(self):
        """Log in again (after a request that revoked the web sessions)."""
        self.session.update(_login(self.client, self.instance.admin_password))
        self._secret(self.session["cookie"])
        self._secret(self.session["csrf"])

    def _secret(self, value):
        self.secrets.append(value)
        return value

    def _replayed(self, method, path, body):
        headers = self.instance.signed_headers(method, path, body)
        self.client.request(
            method,
            path,
            content=body,
            headers=dict(headers, **{"Content-Type": "application/json"}),
        )
        return headers


def _login(client, password):
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(
        "/login",
        data={"password": password, "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    cookie = response.cookies["jq2qmt_session"]
    client.cookies.clear()
    page = client.get("/", headers={"Cookie": "jq2qmt_session=%s" % cookie}).text
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    return {"cookie": cookie, "csrf": csrf}


def _operations(app):
    ops = []
    for path, item in app.openapi()["paths"].items():
        for method in item:
            concrete = path
            for name, value in PARAMS.items():
                concrete = concrete.replace("{%s}" % name, value)
            ops.append((method.upper(), concrete))
    # destructive ones last: they would make the rest 404 (still "passed", but less telling)
    return sorted(
        ops, key=lambda op: (op[0] == "DELETE", "/accounts/" in op[1] and op[0] == "DELETE")
    )


@pytest.fixture
def matrix_app(instance):
    # The matrix sends wrong passwords on purpose; a high lockout threshold keeps the
    # right password usable for the rest of the matrix (the lockout has its own test).
    settings = dataclasses.replace(instance.settings, admin_max_failures=100000)
    log_file = setup_logging(instance.path, level="debug", console=False)
    try:
        with TestClient(create_app(settings)) as client:
            yield client, log_file
    finally:
        logger = logging.getLogger("jq2qmt")
        for handler in [h for h in logger.handlers if getattr(h, "_jq2qmt", False)]:
            logger.removeHandler(handler)
            handler.close()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)


def _prepare(client, instance):
    admin = instance.admin_headers()
    body = json.dumps(BODIES[UPLOAD], ensure_ascii=False).encode("utf-8")
    assert (
        client.post(
            UPLOAD,
            content=body,
            headers=dict(
                instance.signed_headers("POST", UPLOAD, body),
                **{"Content-Type": "application/json"},
            ),
        ).status_code
        == 200
    )
    for account in (ACCOUNT, OTHER):
        assert (
            client.post(
                "/api/v1/accounts", json={"account_id": account, "name": "账户"}, headers=admin
            ).status_code
            == 201
        )
    assert (
        client.put(
            "/api/v1/accounts/%s/follow/%s" % (ACCOUNT, STRATEGY),
            json={"ratio": 0.5},
            headers=admin,
        ).status_code
        == 200
    )


def test_robust_auth_matrix(instance, matrix_app, caplog, figures):
    client, log_file = matrix_app
    caplog.set_level(logging.DEBUG)
    _prepare(client, instance)
    with instance.db().read() as session:
        password_hash = session.get(AdminCredential, 1).password_hash
    creds = Credentials(instance, client, password_hash)
    wrong, cases = [], 0
    for method, path in _operations(client.app):
        if (method, path) in PUBLIC or path == "/api/v1/internal/password/set":
            continue  # public; password/set authenticates by its body (below)
        allowed = expected_for(method, path)
        payload = BODIES.get(path)
        body = (
            json.dumps(payload, ensure_ascii=False).encode("utf-8") if payload is not None else b""
        )
        for kind, make in creds.kinds.items():
            headers = dict(
                make(method, path, body), **({"Content-Type": "application/json"} if body else {})
            )
            client.cookies.clear()
            response = client.request(method, path, content=body or None, headers=headers)
            cases += 1
            passed = response.status_code not in (401, 403, 429)
            if passed != (kind in allowed):
                wrong.append(
                    "%s %s with %s -> %d %s"
                    % (method, path, kind, response.status_code, response.text[:120])
                )
            elif not passed and not response.json()["error"]["code"]:
                wrong.append("%s %s with %s: refusal without a reason" % (method, path, kind))
            assert response.status_code < 500, (method, path, kind, response.text)
            if passed and method == "DELETE" and path == "/api/v1/internal/sessions":
                creds.renew_session()  # every web session was just revoked
    # password/set: the current password in the body is the credential
    for current, ok in (("", False), ("wrong-" + instance.admin_password, False)):
        response = client.post(
            "/api/v1/internal/password/set",
            json={"current_password": current, "new_password": "N3w-P@ssw0rd-long-enough"},
        )
        cases += 1
        if (response.status_code not in (401, 403)) != ok:
            wrong.append("password/set with %r -> %d" % (current, response.status_code))
    leaks = _leaks(creds.secrets, log_file, caplog)
    figures("auth matrix", cases=cases, failures=len(wrong) + len(leaks))
    assert not wrong, "\n".join(wrong[:30])
    assert not leaks, leaks[:5]


def _leaks(secrets, log_file, caplog):
    lines = log_file.read_text(encoding="utf-8").splitlines() if log_file.exists() else []
    lines += [record.getMessage() for record in caplog.records]
    lines += caplog.text.splitlines()
    assert lines, "nothing was logged: the leak check would prove nothing"
    return [
        "%s... in %r" % (secret[:4], line[:160])
        for line in lines
        for secret in secrets
        if secret and secret in line
    ]


def test_robust_web_writes_need_the_csrf_token(instance, app_client, figures):
    session = _login(app_client, instance.admin_password)
    cookie = {"Cookie": "jq2qmt_session=%s" % session["cookie"]}
    writes = [
        ("POST", "/api/v1/accounts", {"account_id": "8886660100", "name": "x"}),
        ("POST", "/api/v1/positions/update/internal", BODIES[UPLOAD]),
        ("DELETE", "/api/v1/strategies/%s" % STRATEGY, None),
        ("POST", "/logout", None),
    ]
    refused = 0
    for method, path, payload in writes:
        for csrf in (None, "wrong-token"):
            headers = dict(cookie, **({"X-CSRF-Token": csrf} if csrf else {}))
            app_client.cookies.clear()
            response = app_client.request(
                method, path, json=payload, headers=headers, follow_redirects=False
            )
            assert response.status_code == 403, (method, path, csrf, response.status_code)
            refused += 1
    app_client.cookies.clear()
    ok = app_client.post(
        "/api/v1/accounts",
        json={"account_id": "8886660100", "name": "x"},
        headers=dict(cookie, **{"X-CSRF-Token": session["csrf"]}),
    )
    assert ok.status_code == 201
    figures("auth matrix", cases=refused + 1, failures=0)


def test_robust_login_brute_force_is_slowed(instance, app_client, figures):
    limit = instance.settings.admin_max_failures
    statuses = []
    for attempt in range(limit + 3):
        page = app_client.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        response = app_client.post(
            "/login",
            data={"password": "guess-%d" % attempt, "csrf_token": token},
            follow_redirects=False,
        )
        statuses.append(response.status_code)
    assert statuses[:limit] == [401] * limit and set(statuses[limit:]) == {429}, statuses
    # locked out: even the right password waits for the window, on the form and the header
    page = app_client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    right = app_client.post(
        "/login",
        data={"password": instance.admin_password, "csrf_token": token},
        follow_redirects=False,
    )
    assert right.status_code == 429 and "jq2qmt_session" not in right.cookies
    header = app_client.get("/api/v1/accounts", headers=instance.admin_headers())
    assert header.status_code == 429 and header.headers["Retry-After"]
    figures("auth matrix", cases=len(statuses) + 2, failures=0)


def test_robust_secret_files_are_0600(instance, live_server, figures):
    if os.name != "posix":
        pytest.skip("file modes are POSIX")
    from jq2qmt.logging_setup import setup_logging as _setup

    path = _setup(instance.path, console=False)
    logging.getLogger("jq2qmt").info("event=probe")
    secret_names = {"jq2qmt.ini", "secret_key"}
    checked = []
    for file in instance.path.rglob("*"):
        if not file.is_file():
            continue
        mode = stat.S_IMODE(file.stat().st_mode)
        text = file.read_bytes()
        holds_secret = (
            file.name in secret_names
            or b"PRIVATE KEY" in text
            or file.suffix in (".sqlite3", ".db")
        )
        if holds_secret:
            checked.append(file.name)
            assert mode & 0o077 == 0, "%s is %o, expected 0600" % (file, mode)
    logger = logging.getLogger("jq2qmt")
    for handler in [h for h in logger.handlers if getattr(h, "_jq2qmt", False)]:
        logger.removeHandler(handler)
        handler.close()
    logger.propagate = True
    assert {"jq2qmt.ini", "secret_key"} <= set(checked) and any(
        n.endswith(".pem") for n in checked
    ), checked
    assert path.exists()
    figures("auth matrix", cases=len(checked), failures=0)
