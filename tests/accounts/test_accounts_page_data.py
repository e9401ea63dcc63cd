"""Data the web pages need so they never mislead: the newest round that carried an
account snapshot (paused and out-of-session rounds read none), names of held codes
outside the target, and removed strategies listed for the history picker. Storage on
all three backends."""

REPORTS = "/api/v1/accounts/%s/reports"


def _round(plan_version, status, round_id, account=None):
    body = {
        "kind": "round",
        "round_id": round_id,
        "plan_version": plan_version,
        "status": status,
        "placed": [],
        "cancelled": [],
        "rejected": [],
        "skipped": [],
        "errors": [],
    }
    if account is not None:
        body["account"] = account
    return body


def test_last_account_is_the_newest_round_with_a_snapshot(db_url, instance, app_client, acc, admin):
    token = acc.followed_account(instance, app_client)
    # another strategy names 600519.SH; the account holds it without a name
    acc.upload(app_client, instance, name="白马策略", positions={"600519.XSHG": 100})
    version = app_client.get(
        "/api/v1/accounts/%s/plan" % acc.ACCOUNT, headers=acc.bearer(token)
    ).json()["plan_version"]
    detail = app_client.get("/api/v1/accounts/%s" % acc.ACCOUNT, headers=admin).json()
    assert detail["last_account"] is None and detail["held_names"] == {}
    snapshot = {
        "cash": 5.0,
        "total_asset": 9.0,
        "positions": [
            {"code": "600000.SH", "volume": 500, "can_use_volume": 500},
            {"code": "600519.SH", "volume": 200, "can_use_volume": 200},
        ],
    }
    for body in (
        _round(version, "ok", "r1", snapshot),
        _round(version, "paused", "r2"),
        _round(version, "outside_session", "r3"),
    ):
        response = app_client.post(REPORTS % acc.ACCOUNT, json=body, headers=acc.bearer(token))
        assert response.status_code == 200, response.text
    detail = app_client.get("/api/v1/accounts/%s" % acc.ACCOUNT, headers=admin).json()
    assert (
        detail["last_report"]["status"] == "outside_session"
        and "account" not in detail["last_report"]
    )
    last = detail["last_account"]
    assert last["round_id"] == "r1" and last["status"] == "ok" and last["account"] == snapshot
    assert last["created_at"].endswith("+08:00")
    # 600000.SH is in the target (named there); 600519.SH is named from the other strategy
    assert detail["held_names"] == {"600519.SH": "600519.XSHG"}


def test_strategies_list_removed_ones_on_request(db_url, instance, app_client, acc, admin):
    acc.upload(app_client, instance, positions={"600000.XSHG": 100})
    acc.upload(app_client, instance, name="旧策略", positions={"600000.XSHG": 100})
    assert app_client.delete("/api/v1/strategies/旧策略", headers=admin).status_code == 200
    plain = app_client.get("/api/v1/strategies", headers=admin).json()
    assert [s["strategy_name"] for s in plain["strategies"]] == [
        acc.STRATEGY
    ] and "removed" not in plain
    listed = app_client.get("/api/v1/strategies?include_removed=true", headers=admin).json()
    assert [s["strategy_name"] for s in listed["strategies"]] == [acc.STRATEGY]
    assert [(r["strategy_name"], r["version"]) for r in listed["removed"]] == [("旧策略", 2)]
    assert listed["removed"][0]["removed_at"].endswith("+08:00")
    # uploaded again, it is active and no longer listed as removed
    acc.upload(app_client, instance, name="旧策略", positions={"600000.XSHG": 200})
    listed = app_client.get("/api/v1/strategies?include_removed=true", headers=admin).json()
    assert listed["removed"] == [] and len(listed["strategies"]) == 2
    assert (
        app_client.get("/api/v1/strategies?include_removed=maybe", headers=admin).status_code == 422
    )
