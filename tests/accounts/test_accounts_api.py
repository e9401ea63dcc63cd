"""The accounts API through HTTP: plan contract, auth matrix, ETag/304, follow scaling,
admin CRUD with validation, reports, approval flow. Storage on all three backends."""

import pytest

from jq2qmt.follower import safety

PLAN = "/api/v1/accounts/%s/plan"
REPORTS = "/api/v1/accounts/%s/reports"


def _setup(instance, app_client, acc):
    return acc.followed_account(instance, app_client)


@pytest.fixture
def db_setup(db_url, instance, app_client, acc):
    """An account following the strategy x0.5, on every backend; its follower token."""
    return _setup(instance, app_client, acc)


@pytest.fixture
def setup(instance, app_client, acc):
    """The same on SQLite only (auth and validation do not depend on the backend)."""
    return _setup(instance, app_client, acc)


def plan_of(client, token, account="8886660057", headers=None, query=""):
    all_headers = {"Authorization": "Bearer " + token}
    all_headers.update(headers or {})
    return client.get(PLAN % account + query, headers=all_headers)


# ---- the plan ----------------------------------------------------------------------------


def test_plan_has_the_contract_shape_and_passes_the_followers_check(db_setup, app_client, acc):
    response = plan_of(app_client, db_setup)
    assert response.status_code == 200
    plan = response.json()
    assert response.headers["ETag"] == '"%s"' % plan["plan_version"]
    assert set(plan) == {
        "account_id",
        "name",
        "plan_version",
        "paused",
        "dry_run",
        "preflight",
        "approved_version",
        "targets",
        "follow",
        "settings",
        "calendar",
    }
    assert plan["preflight"] is False  # the fixture's account is confirmed
    assert plan["account_id"] == acc.ACCOUNT and plan["name"] == "主账户"
    assert plan["paused"] is False and plan["dry_run"] is False and plan["approved_version"] is None
    [target] = plan["targets"]
    assert target["strategy"] == acc.STRATEGY and target["version"] == 1
    assert target["update_time"].endswith("+08:00") and target["portfolio_value"] == 1e6
    assert [(p["code"], p["volume"]) for p in target["positions"]] == [
        ("000001.SZ", 300),
        ("600000.SH", 1000),
    ]
    assert plan["follow"] == {"mode": "ratio", "strategies": {acc.STRATEGY: {"ratio": 0.5}}}
    assert plan["settings"]["sessions"] == [["09:30", "11:30"], ["13:00", "14:57"]]
    settings = safety.validate_plan(plan)  # the follower's own validation accepts it
    assert settings["order_timeout"] == 30 and settings["max_reprices"] == 3


def test_if_none_match_gets_304_and_every_change_gets_a_new_etag(
    db_setup, app_client, instance, acc, admin
):
    first = plan_of(app_client, db_setup)
    etag = first.headers["ETag"]
    again = plan_of(app_client, db_setup, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == etag
    seen = {etag}
    changes = [
        lambda: acc.upload(app_client, instance, positions={"600000.XSHG": 2000}, total_value=1e6),
        lambda: acc.follow(app_client, admin, ratio=0.25),
        lambda: app_client.patch(
            "/api/v1/accounts/%s" % acc.ACCOUNT, json={"ignore": ["1318*"]}, headers=admin
        ),
        lambda: app_client.post("/api/v1/accounts/%s/pause" % acc.ACCOUNT, headers=admin),
    ]
    for change in changes:
        change()
        response = plan_of(app_client, db_setup, headers={"If-None-Match": etag})
        assert response.status_code == 200
        etag = response.headers["ETag"]
        assert etag not in seen
        seen.add(etag)
    assert response.json()["paused"] is True and response.json()["settings"]["ignore"] == ["1318*"]


def test_identical_reupload_keeps_the_etag(setup, app_client, instance, acc):
    etag = plan_of(app_client, setup).headers["ETag"]
    acc.upload(
        app_client, instance, positions={"600000.XSHG": 1000, "000001.XSHE": 300}, total_value=1e6
    )
    assert plan_of(app_client, setup, headers={"If-None-Match": etag}).status_code == 304


def test_unfollowed_strategies_stay_out_and_followed_adjustments_are_in(
    setup, app_client, instance, acc, admin
):
    acc.upload(app_client, instance, name="其他策略", positions={"600036.XSHG": 100})
    acc.upload(app_client, instance, name="ADJUSTMENT_手工", positions={"600000.XSHG": -100})
    assert [t["strategy"] for t in plan_of(app_client, setup).json()["targets"]] == [acc.STRATEGY]
    acc.follow(app_client, admin, strategy="ADJUSTMENT_手工", ratio=1)
    plan = plan_of(app_client, setup).json()
    assert sorted(t["strategy"] for t in plan["targets"]) == sorted(
        [acc.STRATEGY, "ADJUSTMENT_手工"]
    )
    detail = app_client.get("/api/v1/accounts/%s" % acc.ACCOUNT, headers=admin).json()
    merged = dict((r["code"], r["volume"]) for r in detail["merged_target"])
    assert merged == {"600000.SH": 400, "000001.SZ": 150}  # 0.5 x 1000 - 100, 0.5 x 300


def test_weight_mode_plan_carries_capital_and_portfolio_value(
    db_url, instance, app_client, acc, admin
):
    acc.add_account(app_client, admin, mode="weight")
    acc.upload(app_client, instance, positions={"600000.XSHG": 10000}, total_value=200000.0)
    response = app_client.put(
        "/api/v1/accounts/%s/follow/%s" % (acc.ACCOUNT, acc.STRATEGY),
        json={"ratio": 1},
        headers=admin,
    )
    acc.error_of(response, 422, "ratio")
    acc.follow(app_client, admin, capital=100000)
    plan = plan_of(app_client, acc.follower_token(instance)).json()
    assert plan["follow"] == {"mode": "weight", "strategies": {acc.STRATEGY: {"capital": 100000}}}
    detail = app_client.get("/api/v1/accounts/%s" % acc.ACCOUNT, headers=admin).json()
    assert detail["merged_target"] == [{"code": "600000.SH", "name": "600000.XSHG", "volume": 5000}]


def test_followed_strategy_without_snapshot_is_listed_as_missing(instance, app_client, acc, admin):
    acc.add_account(app_client, admin)
    assert acc.follow(app_client, admin, strategy="未上传", ratio=1)["strategy_exists"] is False
    plan = plan_of(app_client, acc.follower_token(instance)).json()
    assert plan["targets"] == [] and plan["follow"]["strategies"] == {"未上传": {"ratio": 1}}
    detail = app_client.get("/api/v1/accounts/%s" % acc.ACCOUNT, headers=admin).json()
    assert detail["strategies"][0]["missing"] is True


# ---- auth ------------------------------------------------------------------------------------


def test_auth_matrix_for_plan_and_reports(setup, app_client, instance, acc, admin):
    acc.add_account(app_client, admin, account_id=acc.OTHER)
    other = acc.follower_token(instance, acc.OTHER)
    reader = instance.reader_token()
    report = {"kind": "heartbeat", "follower": {"kind": "paper", "version": "0.1.0"}}
    cases = [  # (headers, plan status, report status, error code)
        ({}, 401, 401, "auth_required"),
        (acc.bearer(reader), 403, 403, "wrong_scope"),
        (acc.bearer(other), 403, 403, "wrong_account"),
        (acc.bearer("jq2qmt_not-a-real-token"), 401, 401, "bad_token"),
        (admin, 200, 401, None),  # web session
        (instance.admin_headers(), 200, 401, None),  # password header
        (acc.bearer(setup), 200, 200, None),
    ]
    for headers, plan_status, report_status, code in cases:
        plan = app_client.get(PLAN % acc.ACCOUNT, headers=headers)
        posted = app_client.post(REPORTS % acc.ACCOUNT, json=report, headers=headers)
        assert (plan.status_code, posted.status_code) == (plan_status, report_status), (
            headers,
            code,
        )
        if code:
            assert acc.error_of(plan, plan_status)["code"] == code
            assert acc.error_of(posted, report_status)["code"] == code
    # the other account's token works for its own account only
    assert app_client.get(PLAN % acc.OTHER, headers=acc.bearer(other)).status_code == 200
    # the token is never accepted in the query string
    response = app_client.get(PLAN % acc.ACCOUNT + "?token=" + setup)
    assert acc.error_of(response, 401)["code"] == "secret_in_query"


def test_admin_endpoints_refuse_tokens(setup, app_client, instance, acc, admin):
    for method, path in [
        ("get", "/api/v1/accounts"),
        ("get", "/api/v1/accounts/%s" % acc.ACCOUNT),
        ("post", "/api/v1/accounts/%s/pause" % acc.ACCOUNT),
        ("get", REPORTS % acc.ACCOUNT),
    ]:
        response = getattr(app_client, method)(path, headers=acc.bearer(setup))
        assert acc.error_of(response, 401)["code"] == "admin_required"
    assert app_client.get(PLAN % acc.ACCOUNT, headers=admin).json()["paused"] is False


def test_rotating_the_token_revokes_the_old_one(setup, app_client, instance, acc):
    new = acc.follower_token(instance)
    assert acc.error_of(plan_of(app_client, setup), 401)["code"] == "bad_token"
    assert plan_of(app_client, new).status_code == 200


def test_unknown_account_is_404(instance, app_client, acc, admin):
    assert acc.error_of(app_client.get("/api/v1/accounts/nope", headers=admin), 404)
    token = instance.token("follow", account_id="nope")
    assert (
        acc.error_of(app_client.get(PLAN % "nope", headers=acc.bearer(token)), 404)["field"]
        == "account_id"
    )


# ---- admin writes and validation ---------------------------------------------------------------

PATCH_CASES = [
    ({"max_turnover": 0}, "max_turnover"),
    ({"max_turnover": "30%"}, "max_turnover"),
    ({"min_order_value": -1}, "min_order_value"),
    ({"max_order_value": 0}, "max_order_value"),
    ({"slice_value": float("inf")}, None),  # sent as the JSON extension Infinity
    ({"slippage": 0.5}, "slippage"),
    ({"max_reprices": 1.5}, "max_reprices"),
    ({"order_timeout": 0}, "order_timeout"),
    ({"use_sell_proceeds": "yes"}, "use_sell_proceeds"),
    ({"dry_run": 1}, "dry_run"),
    ({"paused": None}, "paused"),
    ({"ignore": "511880.SH"}, "ignore"),
    ({"ignore": ["511880.SH", "bad"]}, "ignore[1]"),
    ({"ignore": ["13$8*"]}, "ignore[0]"),
    ({"sessions": [["09:30", "11:30"], ["11:00", "14:57"]]}, "sessions"),
    ({"sessions": [["9:30", "11:30"]]}, "sessions[0]"),
    ({"sessions": [["13:00", "15:30"]]}, "sessions[0]"),
    ({"sessions": []}, "sessions"),
    ({"name": ""}, "name"),
    ({"mode": "value"}, "mode"),
    ({"colour": "red"}, "colour"),
    ({"settings": {"max_turnover": -1}}, "max_turnover"),
    ({}, ""),
]


def test_patch_validation_names_the_field_and_changes_nothing(
    setup, app_client, instance, acc, admin
):
    path = "/api/v1/accounts/%s" % acc.ACCOUNT
    before = acc.revision(instance)
    admin = admin
    for body, field in PATCH_CASES:
        if field is None:
            response = app_client.patch(
                path,
                content=b'{"slice_value": Infinity}',
                headers=dict(admin, **{"Content-Type": "application/json"}),
            )
            acc.error_of(response, 422, "slice_value")
        else:
            acc.error_of(app_client.patch(path, json=body, headers=admin), 422, field)
    assert acc.revision(instance) == before


def test_patch_normalizes_and_keeps_other_settings(setup, app_client, instance, acc, admin):
    path = "/api/v1/accounts/%s" % acc.ACCOUNT
    response = app_client.patch(
        path,
        json={
            "ignore": ["511880.XSHG", "1318*", "511880.SH", "204001"],
            "max_turnover": 0.3,
            "dry_run": True,
            "name": " 新名字 ",
        },
        headers=admin,
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["settings"]["ignore"] == ["511880.SH", "1318*", "204001"]
    assert (
        result["settings"]["max_turnover"] == 0.3
        and result["dry_run"] is True
        and result["name"] == "新名字"
    )
    result = app_client.patch(
        path, json={"settings": {"max_order_value": 50000}}, headers=admin
    ).json()
    assert (
        result["settings"]["max_turnover"] == 0.3 and result["settings"]["max_order_value"] == 50000
    )


def test_follow_validation_and_unfollow(setup, app_client, instance, acc, admin):
    base = "/api/v1/accounts/%s/follow/" % acc.ACCOUNT
    admin = admin
    for body, field in [
        ({"ratio": 0}, "ratio"),
        ({"ratio": -1}, "ratio"),
        ({"ratio": "half"}, "ratio"),
        ({}, "ratio"),
        ({"ratio": 1, "capital": 5}, "ratio"),
        ({"capital": 10}, "capital"),
        ({"ratio": 1, "extra": 1}, "extra"),
    ]:
        acc.error_of(app_client.put(base + "S2", json=body, headers=admin), 422, field)
    with_space = app_client.put(base + "%20bad", json={"ratio": 1}, headers=admin)
    acc.error_of(with_space, 422, "strategy")
    acc.error_of(
        app_client.put("/api/v1/accounts/nope/follow/S2", json={"ratio": 1}, headers=admin), 404
    )
    assert app_client.get(PLAN % acc.ACCOUNT, headers=admin).json()["follow"]["strategies"] == {
        acc.STRATEGY: {"ratio": 0.5}
    }
    acc.error_of(app_client.delete(base + "S2", headers=admin), 404, "strategy")
    assert app_client.delete(base + acc.STRATEGY, headers=admin).status_code == 200
    plan = app_client.get(PLAN % acc.ACCOUNT, headers=admin).json()
    assert plan["targets"] == [] and plan["follow"]["strategies"] == {}


def test_mode_change_needs_no_followed_strategies(setup, app_client, instance, acc, admin):
    path = "/api/v1/accounts/%s" % acc.ACCOUNT
    assert (
        acc.error_of(app_client.patch(path, json={"mode": "weight"}, headers=admin), 409, "mode")[
            "code"
        ]
        == "mode_in_use"
    )
    app_client.delete(path + "/follow/" + acc.STRATEGY, headers=admin)
    assert app_client.patch(path, json={"mode": "weight"}, headers=admin).json()["mode"] == "weight"


def test_add_account_validation(instance, app_client, acc, admin):
    admin = admin
    for body, status, field in [
        ({"account_id": "a b"}, 422, "account_id"),
        ({"account_id": "x" * 41}, 422, "account_id"),
        ({"account_id": "1", "mode": "value"}, 422, "mode"),
        ({"account_id": "1", "settings": {"slippage": 1}}, 422, "slippage"),
        ({"account_id": "1", "other": 1}, 422, "other"),
    ]:
        acc.error_of(app_client.post("/api/v1/accounts", json=body, headers=admin), status, field)
    assert app_client.get("/api/v1/accounts", headers=admin).json() == {"accounts": []}
    acc.add_account(app_client, admin)
    acc.error_of(
        app_client.post("/api/v1/accounts", json={"account_id": acc.ACCOUNT}, headers=admin),
        409,
        "account_id",
    )


# ---- reports, list, approval --------------------------------------------------------------------


def _round(plan_version, status="ok", round_id="r20261125-100000-0001", **extra):
    body = {
        "kind": "round",
        "round_id": round_id,
        "plan_version": plan_version,
        "status": status,
        "account": {"cash": 1.0, "total_asset": 2.0, "positions": []},
        "placed": [],
        "cancelled": [],
        "rejected": [],
        "skipped": [],
        "held_reason": None,
        "errors": [],
        "follower": {"kind": "paper", "version": "0.1.0"},
    }
    body.update(extra)
    return body


def test_reports_are_stored_listed_and_update_last_seen(db_setup, app_client, instance, acc, admin):
    admin = admin
    listed = app_client.get("/api/v1/accounts", headers=admin).json()["accounts"][0]
    assert listed["last_seen"] is None and listed["last_round"] is None
    version = plan_of(app_client, db_setup).json()["plan_version"]
    first = app_client.post(
        REPORTS % acc.ACCOUNT,
        json=_round(
            version,
            placed=[
                {
                    "code": "600000.SH",
                    "side": "buy",
                    "volume": 500,
                    "price": 10.02,
                    "order_id": "1",
                    "remark": "jq1",
                }
            ],
        ),
        headers=acc.bearer(db_setup),
    )
    assert first.status_code == 200 and first.json()["ok"] is True
    # the same report re-sent (its answer was lost) is stored once
    again = app_client.post(
        REPORTS % acc.ACCOUNT,
        json=_round(
            version,
            placed=[
                {
                    "code": "600000.SH",
                    "side": "buy",
                    "volume": 500,
                    "price": 10.02,
                    "order_id": "1",
                    "remark": "jq1",
                }
            ],
        ),
        headers=acc.bearer(db_setup),
    )
    assert again.json()["id"] == first.json()["id"]
    for _ in range(3):
        app_client.post(
            REPORTS % acc.ACCOUNT,
            json={"kind": "heartbeat", "follower": {"kind": "paper"}},
            headers=acc.bearer(db_setup),
        )
    app_client.post(
        REPORTS % acc.ACCOUNT, json=_round(version, "idle", "r2"), headers=acc.bearer(db_setup)
    )
    reports = app_client.get(REPORTS % acc.ACCOUNT + "?limit=10", headers=admin).json()["reports"]
    assert [(r["round_id"], r["status"]) for r in reports] == [
        ("r2", "idle"),
        ("r20261125-100000-0001", "ok"),
    ]
    assert reports[1]["placed"][0]["volume"] == 500 and reports[1]["created_at"].endswith("+08:00")
    every = app_client.get(REPORTS % acc.ACCOUNT + "?kind=all&limit=10", headers=admin).json()[
        "reports"
    ]
    assert [r["kind"] for r in every].count("heartbeat") == 1  # only the newest heartbeat is kept
    assert (
        len(app_client.get(REPORTS % acc.ACCOUNT + "?limit=1", headers=admin).json()["reports"])
        == 1
    )
    listed = app_client.get("/api/v1/accounts", headers=admin).json()["accounts"][0]
    assert listed["last_seen"] is not None and listed["last_round"]["status"] == "idle"
    assert listed["follower"] == {"kind": "paper", "version": "0.1.0"}
    detail = app_client.get("/api/v1/accounts/%s" % acc.ACCOUNT, headers=admin).json()
    assert detail["last_report"]["round_id"] == "r2"


BAD_REPORTS = [
    ({"kind": "status"}, "kind"),
    ({"kind": "round", "round_id": "r1", "status": "great"}, "status"),
    ({"kind": "round", "status": "ok"}, "round_id"),
    ({"kind": "round", "round_id": "r1", "status": "ok", "placed": {}}, "placed"),
    ({"kind": "round", "round_id": "r1", "status": "ok", "plan_version": 5}, "plan_version"),
    ({"kind": "heartbeat", "follower": "paper"}, "follower"),
]


def test_bad_reports_are_refused(setup, app_client, instance, acc, admin):
    for body, field in BAD_REPORTS:
        acc.error_of(
            app_client.post(REPORTS % acc.ACCOUNT, json=body, headers=acc.bearer(setup)), 422, field
        )
    assert (
        app_client.get(REPORTS % acc.ACCOUNT + "?kind=all", headers=admin).json()["reports"] == []
    )


def test_approval_flow(db_setup, app_client, instance, acc, admin):
    admin = admin
    base = "/api/v1/accounts/%s" % acc.ACCOUNT
    held_version = plan_of(app_client, db_setup).json()["plan_version"]
    acc.error_of(
        app_client.post(base + "/approve", json={"plan_version": "0" * 32}, headers=admin),
        409,
        "plan_version",
    )
    acc.error_of(app_client.post(base + "/approve", json={}, headers=admin), 422, "plan_version")
    acc.error_of(
        app_client.post(
            base + "/approve", json={"plan_version": held_version}, headers=acc.bearer(db_setup)
        ),
        401,
    )
    app_client.post(
        REPORTS % acc.ACCOUNT,
        json=_round(held_version, "held", held_reason="换手率过高 / turnover"),
        headers=acc.bearer(db_setup),
    )
    listed = app_client.get("/api/v1/accounts", headers=admin).json()["accounts"][0]
    assert (
        listed["held"]["plan_version"] == held_version and "换手率" in listed["held"]["held_reason"]
    )
    approved = app_client.post(
        base + "/approve", json={"plan_version": held_version}, headers=admin
    )
    assert approved.status_code == 200 and approved.json()["approved_version"] == held_version
    plan = plan_of(app_client, db_setup).json()
    assert plan["approved_version"] == held_version and plan["plan_version"] != held_version
    assert app_client.get("/api/v1/accounts", headers=admin).json()["accounts"][0]["held"] is None
    # a new hold on the new version can be rejected without naming it; the hold clears
    app_client.post(
        REPORTS % acc.ACCOUNT,
        json=_round(plan["plan_version"], "held", "r3", held_reason="x / y"),
        headers=acc.bearer(db_setup),
    )
    assert (
        app_client.get("/api/v1/accounts", headers=admin).json()["accounts"][0]["held"] is not None
    )
    rejected = app_client.post(base + "/reject", headers=admin)
    assert rejected.status_code == 200 and rejected.json()["decision"] == "rejected"
    assert app_client.get("/api/v1/accounts", headers=admin).json()["accounts"][0]["held"] is None
    acc.error_of(app_client.post(base + "/reject", headers=admin), 409, "plan_version")


def test_removing_an_account_deletes_its_rows_and_revokes_its_token(
    db_setup, app_client, instance, acc, admin
):
    admin = admin
    version = plan_of(app_client, db_setup).json()["plan_version"]
    app_client.post(
        REPORTS % acc.ACCOUNT,
        json=_round(version, "held", held_reason="x / y"),
        headers=acc.bearer(db_setup),
    )
    app_client.post(
        "/api/v1/accounts/%s/approve" % acc.ACCOUNT, json={"plan_version": version}, headers=admin
    )
    acc.store_account(instance, account_id=acc.OTHER, follow={acc.STRATEGY: 1})
    assert app_client.delete("/api/v1/accounts/%s" % acc.ACCOUNT, headers=admin).status_code == 200
    assert acc.error_of(plan_of(app_client, db_setup), 401)["code"] == "bad_token"
    assert [
        a["account_id"]
        for a in app_client.get("/api/v1/accounts", headers=admin).json()["accounts"]
    ] == [acc.OTHER]
    acc.error_of(
        app_client.delete("/api/v1/accounts/%s" % acc.ACCOUNT, headers=admin), 404, "account_id"
    )
    # the id can be used again, from a clean slate
    acc.store_account(instance)
    fresh = app_client.get("/api/v1/accounts/%s" % acc.ACCOUNT, headers=admin).json()
    assert (
        fresh["follow"]["strategies"] == {}
        and fresh["last_report"] is None
        and fresh["approved_version"] is None
    )
