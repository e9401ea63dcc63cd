"""Schema fuzzing: schemathesis against the server's own OpenAPI document, in process.

For every documented operation, on every database, with valid credentials and with
none, schemathesis generates schema-valid and schema-invalid requests. Each answer
must be:
- never 5xx;
- a documented status with a body and headers matching the documented schema;
- a 4xx that names its reason: ``{"error": {"code", "message"}}`` with both non-empty;
- without credentials, never a 2xx on an operation that declares security.

"Valid credentials" means a web login session (cookie + X-CSRF-Token, obtained through
/login; argon2 per request would dominate the run) for admin and reader endpoints,
the upload token for the upload endpoint (instance registered in token mode, so the
body needs no signature; signatures are attacked in test_robust_auth), and the
account's follow token for the follower endpoints; path parameters are either the
existing account/strategy or generated.
"""

import collections
import re
import sys

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

from jq2qmt.instance import init_instance
from jq2qmt.server.app import create_app
from jq2qmt.store import credentials
from jq2qmt.store.db import Database

if sys.version_info >= (3, 11):
    from builtins import BaseExceptionGroup
else:  # the backport hypothesis and schemathesis raise before 3.11 (a hypothesis dependency there)
    from exceptiongroup import BaseExceptionGroup

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 8
ACCOUNT = "8886660057"
STRATEGY = "多策略V1.0"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]
# run last: a wrong current_password counts towards the admin lockout of the fuzzing client,
# and revoking the web sessions ends the fuzzing client's own session
LAST = (
    "POST /api/v1/internal/password/set",
    "DELETE /api/v1/internal/sessions/{session_id}",
    "DELETE /api/v1/internal/sessions",
)


def names_its_reason(ctx, response, case):
    """Every 4xx carries {"error": {"code", "message"}} (304 has no body by design)."""
    if not 400 <= response.status_code < 500:
        return None
    try:
        error = response.json()["error"]
    except Exception:
        raise AssertionError("4xx without the JSON error shape: %r" % response.content[:200])
    assert isinstance(error.get("code"), str) and error["code"], "4xx without error.code"
    assert isinstance(error.get("message"), str) and error["message"], "4xx without error.message"
    return True


class Fuzzer:
    def __init__(self, app, headers_for, authenticated):
        self.schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        self.headers_for = headers_for
        self.authenticated = authenticated
        self.cases = 0
        self.failures = collections.OrderedDict()

    def operations(self):
        ops = [result.ok() for result in self.schema.get_all_operations()]
        return sorted(ops, key=lambda op: LAST.index(op.label) + 1 if op.label in LAST else 0)

    def strategy(self, operation, mode):
        free = operation.as_strategy(generation_mode=mode)
        names = [p.name for p in operation.path_parameters]
        known = {
            k: v
            for k, v in (
                ("account_id", ACCOUNT),
                ("strategy_name", STRATEGY),
                ("strategy", STRATEGY),
            )
            if k in names
        }
        if not known or not self.authenticated:
            return free
        return st.one_of(free, operation.as_strategy(generation_mode=mode, path_parameters=known))

    def run(self, operation):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=self.strategy(operation, mode))
            def one(case):
                self.check(operation, case)

            try:
                one()
            except Unsatisfiable:
                pass  # no negative data exists for an operation without parameters

    def check(self, operation, case):
        self.cases += 1
        headers = self.headers_for(operation) if self.authenticated else {}
        response = case.call(headers=headers)
        try:
            case.validate_response(response, checks=CHECKS + [names_its_reason], headers=headers)
            if not self.authenticated and operation.definition.raw.get("security"):
                assert response.status_code >= 400, (
                    "secured operation answered %d without credentials" % response.status_code
                )
        except (
            Exception,
            BaseExceptionGroup,
        ) as exc:  # one entry per operation and kind of failure
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            key = "%s: %s" % (operation.label, first)
            self.failures.setdefault(
                key, "%s\n%s\n%s" % (key, case.as_curl_command(headers=headers), exc)
            )


@pytest.fixture
def fuzz_instance(db_url, tmp_path):
    result = init_instance(
        tmp_path / "instance",
        database_url=db_url,
        client_kind="token",
        public_url="http://127.0.0.1:5366",
    )
    db = Database(db_url)
    yield result, db
    db.dispose()


def web_session(client, password):
    """Log in through the login form; the headers an admin page's script sends."""
    page = client.get("/login").text
    login_csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(
        "/login",
        data={"password": password, "csrf_token": login_csrf, "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    cookie = response.cookies["jq2qmt_session"]
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").text).group(1)
    return {"Cookie": "jq2qmt_session=%s" % cookie, "X-CSRF-Token": csrf}


def _prepare(app_client, result, db):
    admin = web_session(app_client, result.admin_password)
    upload = {
        "X-JQ2QMT-Client": result.settings.jq_client_id,
        "X-JQ2QMT-Upload-Token": result.upload_token,
    }
    body = {
        "strategy_name": STRATEGY,
        "positions": [{"code": "600000.XSHG", "volume": 1000, "cost": 10.5}],
    }
    assert app_client.post("/api/v1/positions/update", json=body, headers=upload).status_code == 200
    assert (
        app_client.post(
            "/api/v1/accounts", json={"account_id": ACCOUNT, "name": "主账户"}, headers=admin
        ).status_code
        == 201
    )
    assert (
        app_client.put(
            "/api/v1/accounts/%s/follow/%s" % (ACCOUNT, STRATEGY),
            json={"ratio": 0.5},
            headers=admin,
        ).status_code
        == 200
    )
    follow = {
        "Authorization": "Bearer %s"
        % credentials.create_token(db, "fuzz-follow", "follow", ACCOUNT)
    }

    def headers_for(operation):
        if operation.label == "POST /api/v1/positions/update":
            return dict(upload)
        if operation.label == "POST /api/v1/accounts/{account_id}/reports":
            return dict(follow)
        return dict(admin)

    return headers_for


@pytest.mark.parametrize("authenticated", [True, False], ids=["credentials", "anonymous"])
def test_robust_fuzz_every_operation(request, fuzz_instance, authenticated, figures):
    from fastapi.testclient import TestClient

    if not authenticated and request.node.callspec.params["db_url"] != "sqlite":
        pytest.skip(
            "anonymous requests stop at auth before any query: fuzzed on SQLite only (CI time)"
        )

    result, db = fuzz_instance
    app = create_app(result.settings)
    with TestClient(app) as client:
        fuzzer = Fuzzer(app, _prepare(client, result, db), authenticated)
        operations = fuzzer.operations()
        assert len(operations) >= 25  # every documented operation is fuzzed
        for operation in operations:
            fuzzer.run(operation)
    figures("schema fuzzing", cases=fuzzer.cases, failures=len(fuzzer.failures))
    assert not fuzzer.failures, "\n\n".join(fuzzer.failures.values())
