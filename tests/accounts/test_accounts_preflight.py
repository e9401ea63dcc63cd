"""The read-only preflight of new accounts, server side: a new account's plan says
"preflight" until the admin confirms it; the follower's preflight report is checked,
kept (newest only) and shown in the account summary. Storage on all three backends."""

import copy
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from jq2qmt.cli import main
from jq2qmt.store import accounts, migrate
from jq2qmt.store.db import Database

PLAN = "/api/v1/accounts/%s/plan"
REPORTS = "/api/v1/accounts/%s/reports"
CONFIRM = "/api/v1/accounts/%s/confirm"

FOLLOWER = {"kind": "builtin", "version": "0.1.0"}
PREFLIGHT = {
    "at": "2026-11-25T09:31:02",
    "python": "3.6.8",
    "platform": "Windows-10-10.0.19045-SP0",
    "broker": "builtin",
    "positions": [
        {
            "code": "600000.SH",
            "volume": 1000,
            "can_use_volume": 800,
            "avg_cost": 10.52,
            "name": "浦发银行",
        },
        {"code": "000001.SZ", "volume": 300, "can_use_volume": 300, "avg_cost": None, "name": None},
    ],
    "asset": {
        "cash": 50000.0,
        "frozen_cash": 1200.0,
        "market_value": 10500.0,
        "total_asset": 61700.0,
    },
    "open_orders": [
        {
            "order_id": 1001,
            "code": "000001.SZ",
            "side": "buy",
            "volume": 100,
            "traded_volume": 0,
            "price": 12.3,
            "status": 50,
            "remark": "manual",
        }
    ],
    "quotes": [
        {"code": "600000.SH", "last": 10.6, "bid1": 10.59, "ask1": 10.61, "age_seconds": 1.5},
        {"code": "000001.SZ", "last": 12.3, "bid1": None, "ask1": None, "age_seconds": None},
    ],
    "fields": {
        "POSITION": ["m_strInstrumentID", "m_nVolume", "m_nCanUseVolume"],
        "ORDER": ["m_strOrderSysID"],
        "ACCOUNT": ["m_dAvailable", "m_dBalance"],
    },
    "checks": {
        "http": "thread",
        "threads": True,
        "requests": False,
        "journal": "C:/qmt/jq2qmt-journal.json",
    },
    "round_ms": 12.3,
    "errors": [],
    "extra_from_a_newer_follower": {"kept": True},
}


def report(preflight=None, **extra):
    body = {
        "kind": "preflight",
        "follower": FOLLOWER,
        "preflight": copy.deepcopy(PREFLIGHT if preflight is None else preflight),
    }
    body.update(extra)
    return body


@pytest.fixture
def fresh(instance, app_client, acc):
    """A new (unconfirmed) account following the strategy x0.5 after one upload; its token."""
    acc.store_account(instance, follow={acc.STRATEGY: 0.5}, confirmed=False)
    acc.upload(app_client, instance, positions={"600000.XSHG": 1000}, total_value=1e6)
    return acc.follower_token(instance)


@pytest.fixture
def db_fresh(db_url, instance, app_client, acc):
    acc.store_account(instance, follow={acc.STRATEGY: 0.5}, confirmed=False)
    acc.upload(app_client, instance, positions={"600000.XSHG": 1000}, total_value=1e6)
    return acc.follower_token(instance)


def _plan(client, token, etag=None):
    headers = {"Authorization": "Bearer " + token}
    if etag:
        headers["If-None-Match"] = etag
    return client.get(PLAN % "8886660057", headers=headers)


def test_a_new_account_plans_preflight_until_confirmed(db_fresh, app_client, instance, acc, admin):
    first = _plan(app_client, db_fresh)
    assert first.status_code == 200 and first.json()["preflight"] is True
    listed = app_client.get("/api/v1/accounts", headers=admin).json()["accounts"][0]
    assert (
        listed["confirmed"] is False
        and listed["confirmed_at"] is None
        and listed["preflight"] is None
    )
    etag = first.headers["ETag"]
    assert _plan(app_client, db_fresh, etag).status_code == 304

    confirmed = app_client.post(CONFIRM % acc.ACCOUNT, headers=admin)
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert (
        body["account_id"] == acc.ACCOUNT
        and body["confirmed"] is True
        and body["confirmed_at"].endswith("+08:00")
    )
    after = _plan(
        app_client, db_fresh, etag
    )  # the old ETag no longer matches: followers see it at once
    assert after.status_code == 200 and after.json()["preflight"] is False
    assert after.headers["ETag"] != etag
    revision = acc.revision(instance)[0]

    again = app_client.post(
        CONFIRM % acc.ACCOUNT, headers=admin
    )  # idempotent: same state, same plan
    assert again.status_code == 200 and again.json()["confirmed"] is True
    assert again.json()["confirmed_at"] == body["confirmed_at"]
    assert acc.revision(instance)[0] == revision
    assert _plan(app_client, db_fresh, after.headers["ETag"]).status_code == 304


def test_accounts_added_by_api_and_store_start_unconfirmed(
    db_url, instance, app_client, acc, admin
):
    added = acc.add_account(app_client, admin)
    assert added["confirmed"] is False
    db = instance.db()
    assert accounts.add_account(db, "A2")["confirmed"] is False
    assert accounts.add_account(db, "A3", confirmed=True)["confirmed"] is True
    with db.read() as session:
        states = dict((a["account_id"], a["confirmed"]) for a in accounts.list_accounts(session))
    assert states == {acc.ACCOUNT: False, "A2": False, "A3": True}
    # the API add has no way around the preflight
    acc.error_of(
        app_client.post(
            "/api/v1/accounts", json={"account_id": "A4", "confirmed": True}, headers=admin
        ),
        422,
        "confirmed",
    )


def test_preflight_report_is_kept_newest_only_and_shown(db_fresh, app_client, instance, acc, admin):
    token = {"Authorization": "Bearer " + db_fresh}
    version = _plan(app_client, db_fresh).json()["plan_version"]
    first = app_client.post(REPORTS % acc.ACCOUNT, json=report(plan_version=version), headers=token)
    assert first.status_code == 200, first.text
    newer = dict(PREFLIGHT, round_ms=8.5, errors=["行情超时 600000.SH"])
    second = app_client.post(
        REPORTS % acc.ACCOUNT, json=report(newer, plan_version=version), headers=token
    )
    assert second.status_code == 200
    # the follower's rounds meanwhile: status "preflight", nothing placed
    round_report = {
        "kind": "round",
        "round_id": "r1",
        "plan_version": version,
        "status": "preflight",
        "placed": [],
        "cancelled": [],
        "rejected": [],
        "skipped": [],
        "errors": [],
        "follower": FOLLOWER,
    }
    assert (
        app_client.post(REPORTS % acc.ACCOUNT, json=round_report, headers=token).status_code == 200
    )

    kept = app_client.get(REPORTS % acc.ACCOUNT + "?kind=preflight", headers=admin).json()[
        "reports"
    ]
    assert len(kept) == 1 and kept[0]["preflight"]["round_ms"] == 8.5
    detail = app_client.get("/api/v1/accounts/%s" % acc.ACCOUNT, headers=admin).json()
    shown = detail["preflight"]
    assert shown["preflight"] == newer  # unknown keys kept as sent
    assert shown["preflight"]["extra_from_a_newer_follower"] == {"kept": True}
    assert (
        shown["follower"] == FOLLOWER
        and shown["plan_version"] == version
        and shown["kind"] == "preflight"
    )
    assert shown["received_at"].endswith("+08:00")
    assert detail["last_round"]["status"] == "preflight" and detail["follower"] == FOLLOWER
    assert detail["last_seen"] is not None
    listed = app_client.get("/api/v1/accounts", headers=admin).json()["accounts"][0]
    assert listed["preflight"] == shown and listed["confirmed"] is False
    with (
        instance.db().read() as session
    ):  # one preflight row in the table, whatever was sent before
        count = session.execute(
            text("SELECT COUNT(*) FROM account_reports WHERE kind = 'preflight'")
        ).scalar()
    assert count == 1


def _with(path, value):
    """PREFLIGHT with the value at `path` (keys and list indexes) replaced."""
    body = copy.deepcopy(PREFLIGHT)
    node = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return body


BAD = [
    ("preflight", "not an object", "preflight"),
    ("preflight", [], "preflight"),
    (("python",), 3.6, "preflight.python"),
    (("broker",), "ctp", "preflight.broker"),
    (("positions",), {"600000.SH": 1}, "preflight.positions"),
    (("positions",), [{"code": "600000.SH"}] * 201, "preflight.positions"),
    (("positions", 1), "000001.SZ", "preflight.positions[1]"),
    (("positions", 1, "volume"), "300", "preflight.positions[1].volume"),
    (("positions", 0, "volume"), True, "preflight.positions[0].volume"),
    (("positions", 0, "code"), None, "preflight.positions[0].code"),
    (("asset",), [1, 2], "preflight.asset"),
    (("asset", "cash"), "many", "preflight.asset.cash"),
    (("open_orders", 0, "price"), "12.3", "preflight.open_orders[0].price"),
    (("open_orders", 0, "order_id"), {"id": 1}, "preflight.open_orders[0].order_id"),
    (("quotes",), [{"code": "600000.SH"}] * 6, "preflight.quotes"),
    (("quotes", 0, "age_seconds"), "1s", "preflight.quotes[0].age_seconds"),
    (("fields",), ["POSITION"], "preflight.fields"),
    (("fields", "ORDER"), "m_strOrderSysID", "preflight.fields.ORDER"),
    (("fields", "ORDER"), [1, 2], "preflight.fields.ORDER"),
    (("fields", "ACCOUNT"), ["m_%d" % i for i in range(501)], "preflight.fields.ACCOUNT"),
    (("checks",), "thread", "preflight.checks"),
    (("checks", "http"), "async", "preflight.checks.http"),
    (("checks", "threads"), "yes", "preflight.checks.threads"),
    (("checks", "journal"), 5, "preflight.checks.journal"),
    (("round_ms",), "12ms", "preflight.round_ms"),
    (("errors",), "boom", "preflight.errors"),
    (("errors",), ["ok", 5], "preflight.errors[1]"),
    (("errors",), ["ok", "x" * 10001], "preflight.errors[1]"),
]


@pytest.mark.parametrize(
    "path, value, field", BAD, ids=[b[2] + "=" + json.dumps(b[1])[:20] for b in BAD]
)
def test_bad_preflight_shapes_are_refused_naming_the_field(
    fresh, app_client, acc, admin, path, value, field
):
    body = report(value) if path == "preflight" else report(_with(path, value))
    response = app_client.post(REPORTS % acc.ACCOUNT, json=body, headers=acc.bearer(fresh))
    acc.error_of(response, 422, field)
    assert (
        app_client.get(REPORTS % acc.ACCOUNT + "?kind=preflight", headers=admin).json()["reports"]
        == []
    )


def test_missing_preflight_and_non_finite_numbers_are_refused(fresh, app_client, acc):
    body = {"kind": "preflight", "follower": FOLLOWER}
    acc.error_of(
        app_client.post(REPORTS % acc.ACCOUNT, json=body, headers=acc.bearer(fresh)),
        422,
        "preflight",
    )
    raw = json.dumps(report()).replace('"round_ms": 12.3', '"round_ms": NaN')
    assert "NaN" in raw
    response = app_client.post(
        REPORTS % acc.ACCOUNT,
        content=raw.encode("utf-8"),
        headers=dict(acc.bearer(fresh), **{"Content-Type": "application/json"}),
    )
    acc.error_of(response, 422, "preflight.round_ms")
    response = app_client.post(
        REPORTS % acc.ACCOUNT, json=dict(report(), kind="look"), headers=acc.bearer(fresh)
    )
    acc.error_of(response, 422, "kind")


def test_an_oversized_preflight_report_is_413_naming_the_field(fresh, app_client, acc, admin):
    big = dict(PREFLIGHT, errors=["x" * 1900] * 150)  # each item valid; ~285 KB together
    response = app_client.post(REPORTS % acc.ACCOUNT, json=report(big), headers=acc.bearer(fresh))
    error = acc.error_of(response, 413, "preflight")
    assert error["code"] == "too_large"
    fits = dict(PREFLIGHT, errors=["x" * 1900] * 120)  # ~229 KB: accepted
    assert (
        app_client.post(
            REPORTS % acc.ACCOUNT, json=report(fits), headers=acc.bearer(fresh)
        ).status_code
        == 200
    )


def test_confirm_needs_the_admin_and_the_csrf_token(fresh, app_client, instance, acc, admin):
    path = CONFIRM % acc.ACCOUNT
    revision = acc.revision(instance)[0]
    assert app_client.post(path).status_code == 401
    assert app_client.post(path, headers=acc.bearer(fresh)).status_code in (401, 403)
    reader = instance.reader_token()
    assert app_client.post(path, headers=acc.bearer(reader)).status_code in (401, 403)
    cookie_only = {"Cookie": admin["Cookie"]}
    assert app_client.post(path, headers=cookie_only).status_code == 403
    assert (
        app_client.post(path, headers=dict(cookie_only, **{"X-CSRF-Token": "wrong"})).status_code
        == 403
    )
    app_client.cookies.clear()
    assert acc.revision(instance)[0] == revision
    with instance.db().read() as session:
        assert accounts.get_account(session, acc.ACCOUNT).confirmed is False
    acc.error_of(app_client.post(CONFIRM % "no-such-account", headers=admin), 404, "account_id")
    assert app_client.post(path, headers=admin).json()["confirmed"] is True
    # the password header (scripts) works too
    assert app_client.post(path, headers=instance.admin_headers()).status_code == 200


def test_migration_marks_existing_accounts_confirmed(db_url):
    """An instance that already trades upgrades to 0005 without stopping any account."""
    db = Database(db_url)
    try:
        migrate.downgrade(db.engine, "0004")
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO accounts (account_id, name, mode, paused, dry_run, settings_json, revision, "
                    "created_at, updated_at) VALUES ('OLD1', 'old', 'ratio', :f, :f, '{}', 3, :t, :t)"
                ),
                {"f": False, "t": "2026-11-01 01:00:00"},
            )
        migrate.upgrade(db.engine)
        with db.read() as session:
            old = accounts.get_account(session, "OLD1")
            assert old.confirmed is True and old.confirmed_at is None
            assert old.revision == 3  # its plan version is unchanged: nothing to refetch
        assert accounts.add_account(db, "NEW1")["confirmed"] is False
        with db.engine.begin() as conn:  # a row written without the column never trades
            conn.execute(
                text(
                    "INSERT INTO accounts (account_id, name, mode, paused, dry_run, settings_json, revision, "
                    "created_at, updated_at) VALUES ('RAW1', 'raw', 'ratio', :f, :f, '{}', 1, :t, :t)"
                ),
                {"f": False, "t": "2026-11-01 01:00:00"},
            )
        with db.read() as session:
            assert accounts.get_account(session, "RAW1").confirmed is False
    finally:
        db.dispose()


# ---- CLI ----------------------------------------------------------------------------------


def _cli(instance, *args):
    result = CliRunner().invoke(main, ["account"] + list(args) + ["--instance", str(instance.path)])
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_shows_the_preflight_and_confirms(instance, app_client, acc):
    added = _cli(instance, "add", acc.ACCOUNT, "--name", "主账户")
    assert "jq2qmt account confirm %s" % acc.ACCOUNT in added
    _cli(instance, "follow", acc.ACCOUNT, acc.STRATEGY, "--ratio", "0.5")
    listed = _cli(instance, "list")
    assert acc.ACCOUNT in listed and "待确认" in listed.splitlines()[1]
    before = _cli(instance, "show", acc.ACCOUNT)
    assert "预检中：尚未确认，跟单端不下单" in before and "尚未收到预检报告" in before

    token = acc.follower_token(instance)
    many = dict(
        PREFLIGHT,
        positions=PREFLIGHT["positions"]
        + [
            {
                "code": "6000%02d.SH" % i,
                "volume": 100 * i,
                "can_use_volume": 0,
                "avg_cost": 1.5,
                "name": "股%d" % i,
            }
            for i in range(10, 16)
        ],
        errors=["读取委托失败：超时"],
    )
    assert (
        app_client.post(
            REPORTS % acc.ACCOUNT, json=report(many), headers=acc.bearer(token)
        ).status_code
        == 200
    )
    show = _cli(instance, "show", acc.ACCOUNT)
    for expected in (
        "持仓 8 个",
        "600000.SH  浦发银行",
        "数量 1,000 可用 800 成本 10.520",
        "…另有 3 个",
        "现金 50,000，冻结 1,200，市值 10,500，总资产 61,700",
        "未完成委托 1 笔",
        "买 000001.SZ 100 已成 0 @ 12.300 状态 50 manual",
        "600000.SH 最新 10.600 买一 10.590 卖一 10.610（1.5 秒前）",
        "000001.SZ 最新 12.300 买一 — 卖一 —（无时间）",
        "POSITION 3 个（m_strInstrumentID, m_nVolume, m_nCanUseVolume）",
        "ORDER 1 个",
        "QMT 内置 · Python 3.6.8 · Windows-10-10.0.19045-SP0 · 跟单端 0.1.0",
        "HTTP 后台线程 · 线程 可用 · requests 不可用 · 日志 C:/qmt/jq2qmt-journal.json",
        "一轮耗时 12.3 毫秒",
        "错误 1 条",
        "读取委托失败：超时",
        "交易所时间 2026-11-25T09:31:02",
    ):
        assert expected in show, (expected, show)

    confirmed = _cli(instance, "confirm", acc.ACCOUNT)
    assert "已确认账户 %s" % acc.ACCOUNT in confirmed and "下一轮起" in confirmed
    with instance.db().read() as session:
        assert accounts.get_account(session, acc.ACCOUNT).confirmed is True
    assert "待确认" not in _cli(instance, "list")
    after = _cli(instance, "show", acc.ACCOUNT)
    assert "已确认，正常跟单" in after and "预检中" not in after
    assert "早已确认" in _cli(instance, "confirm", acc.ACCOUNT)
    broken = dict(
        PREFLIGHT, checks=dict(PREFLIGHT["checks"], journal_error="PermissionError: denied")
    )
    assert (
        app_client.post(
            REPORTS % acc.ACCOUNT, json=report(broken), headers=acc.bearer(token)
        ).status_code
        == 200
    )
    assert "日志 C:/qmt/jq2qmt-journal.json（写入失败：PermissionError: denied）" in _cli(
        instance, "show", acc.ACCOUNT
    )
    for command in ("confirm", "show"):
        assert "--instance" in CliRunner().invoke(main, ["account", command, "--help"]).output


def test_cli_confirm_without_a_preflight_says_so(instance, acc):
    _cli(instance, "add", acc.ACCOUNT)
    output = _cli(instance, "confirm", acc.ACCOUNT)
    assert "还没有收到这个账户的预检报告" in output and "已确认账户" in output


# ---- the exported QMT file against a live server --------------------------------------


def _until(step, done, limit=30.0):
    """Run `step()` until `done()` (the script's HTTP runs on a real thread, the QMT
    clock is simulated); False when `limit` seconds pass first."""
    import time

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        step()
        if done():
            return True
        time.sleep(0.05)
    return False


def test_exported_qmt_file_only_looks_until_the_account_is_confirmed(live_server, tmp_path, acc):
    """The built-in QMT script (its real preflight report, QMT fields included) passes
    the server's checks; nothing reaches the counter before the confirmation."""
    import requests

    from jq2qmt.clients import export_qmt
    from jq2qmt.sim.exchange import PaperExchange
    from jq2qmt.sim.qmt_builtin import QmtBuiltinSim, SimClock
    from testkit import MORNING, QUOTES

    instance, url = live_server.instance, live_server.url

    def admin(method, path, body=None):
        response = requests.request(
            method, url + path, json=body, headers=instance.admin_headers(), timeout=10
        )
        assert response.status_code // 100 == 2, response.text
        return response.json()

    acc.upload_http(
        url, instance, positions={"600000.XSHG": 2000, "000001.XSHE": 1000}, total_value=1e6
    )
    admin(
        "POST", "/api/v1/accounts", {"account_id": acc.ACCOUNT, "name": "主账户", "mode": "ratio"}
    )
    admin("PUT", "/api/v1/accounts/%s/follow/%s" % (acc.ACCOUNT, acc.STRATEGY), {"ratio": 0.5})
    token = instance.token("follow", acc.ACCOUNT)
    exchange = PaperExchange(cash=300000.0)
    for code, quote in QUOTES.items():
        exchange.set_quote(code, **quote)
    exchange.set_position("600000.SH", 300, avg_cost=9.5)
    path = export_qmt.export_qmt(
        tmp_path, url, token, acc.ACCOUNT, timeout=2.0, journal_dir=str(tmp_path / "j")
    )
    sim = QmtBuiltinSim(exchange, acc.ACCOUNT, SimClock(MORNING))
    sim.load(path)

    def detail():
        return admin("GET", "/api/v1/accounts/%s" % acc.ACCOUNT)

    assert _until(lambda: sim.run_for(1), lambda: detail()["preflight"] is not None)
    sim.run_for(5)  # more preflight rounds: still nothing sent
    assert sim.passorder_calls == [] and exchange.orders() == []
    shown = detail()
    seen = shown["preflight"]["preflight"]
    assert shown["confirmed"] is False and shown["last_round"]["status"] == "preflight"
    assert (
        seen["broker"] == "builtin"
        and seen["python"]
        and seen["checks"]["http"] in ("thread", "inline", "sync")
    )
    assert [(p["code"], p["volume"]) for p in seen["positions"]] == [("600000.SH", 300)]
    assert seen["asset"]["cash"] == 300000.0
    assert set(q["code"] for q in seen["quotes"]) == {"600000.SH", "000001.SZ"}
    assert seen["fields"].get("POSITION") and seen["errors"] == []
    kept = admin("GET", "/api/v1/accounts/%s/reports?kind=preflight" % acc.ACCOUNT)["reports"]
    assert len(kept) == 1  # one per plan version (and 5 minutes), newest kept

    admin("POST", "/api/v1/accounts/%s/confirm" % acc.ACCOUNT)
    traded = lambda: dict((p["code"], p["volume"]) for p in exchange.positions() if p["volume"])  # noqa: E731
    assert _until(
        lambda: sim.run_for(1), lambda: traded() == {"600000.SH": 1000, "000001.SZ": 500}
    ), traded()
    assert len(sim.passorder_calls) == 2


def test_miniqmt_follower_preflight_passes_the_servers_checks(live_server, acc):
    """`jq2qmt follow`'s loop over miniQMT (xtquant simulator): its real preflight
    report is accepted and nothing is ordered before the confirmation."""
    import requests

    xtsim = pytest.importorskip("jq2qmt.sim.xtquant")
    try:
        xtsim.load_xtquant_types()
    except xtsim.XtquantMissing:
        pytest.skip("xtquant is not installed (pip install -e '.[test]')")
    from jq2qmt.brokers.miniqmt import MiniQmtBroker
    from jq2qmt.follower.client import PlanClient
    from jq2qmt.follower.loop import Follower
    from jq2qmt.sim.exchange import PaperExchange
    from testkit import MORNING, QUOTES, Clock

    instance, url = live_server.instance, live_server.url
    acc.upload_http(url, instance, positions={"600000.XSHG": 2000}, total_value=1e6)
    acc.store_account(instance, follow={acc.STRATEGY: 0.5}, confirmed=False)
    token = acc.follower_token(instance)
    exchange = PaperExchange(cash=100000.0)
    for code, quote in QUOTES.items():
        exchange.set_quote(code, **quote)
    exchange.set_position("600036.SH", 1000, can_use_volume=600, avg_cost=35.0)
    xtsim.install(xtsim.XtQuantSim(exchange, acc.ACCOUNT))
    broker = MiniQmtBroker("C:/QMT/userdata_mini", acc.ACCOUNT, session_id=123).connect()
    try:
        clock = Clock(MORNING)
        follower = Follower(broker, PlanClient(url, token, acc.ACCOUNT, timeout=5.0), clock)
        statuses = []
        for _ in range(3):
            clock.advance(1)
            statuses.append(follower.run_round()["status"])
        assert statuses == ["preflight"] * 3 and exchange.orders() == []
        detail = requests.get(
            url + "/api/v1/accounts/%s" % acc.ACCOUNT, headers=instance.admin_headers(), timeout=10
        ).json()
        seen = detail["preflight"]["preflight"]
        assert seen["broker"] == "miniqmt" and seen["errors"] == []
        assert [(p["code"], p["volume"], p["can_use_volume"]) for p in seen["positions"]] == [
            ("600036.SH", 1000, 600)
        ]
        assert seen["asset"]["cash"] == 100000.0 and {q["code"] for q in seen["quotes"]} == {
            "600036.SH",
            "600000.SH",
        }

        accounts.confirm_account(instance.db(), acc.ACCOUNT)
        clock.advance(1)
        assert follower.run_round()["status"] == "ok"
        assert sorted((o["side"], o["code"], o["volume"]) for o in exchange.orders()) == [
            ("buy", "600000.SH", 1000),
            ("sell", "600036.SH", 600),
        ]
    finally:
        broker.close()
        xtsim.uninstall()
