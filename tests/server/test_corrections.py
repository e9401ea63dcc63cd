"""Manual corrections through POST /api/v1/positions/update/internal: the version
check (`base_version`), portfolio/as_of carried over, negative-target warnings, and
the weight-mode account whose target cannot be computed."""

import json

import pytest

UPDATE = "/api/v1/positions/update"
INTERNAL = "/api/v1/positions/update/internal"


def _signed(app_client, instance, body):
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = instance.signed_headers("POST", UPDATE, raw)
    headers["Content-Type"] = "application/json"
    resp = app_client.post(UPDATE, content=raw, headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _internal(app_client, instance, body):
    return app_client.post(INTERNAL, json=body, headers=instance.admin_headers())


def _snapshot(app_client, instance, name):
    resp = app_client.get("/api/v1/positions/strategy/" + name, headers=instance.admin_headers())
    assert resp.status_code == 200, resp.text
    return resp.json()


def _jq(name, volume, as_of="2026-11-30T14:50:00"):
    return {
        "strategy_name": name,
        "as_of": as_of,
        "portfolio": {"total_value": 1000000.0, "cash": 10000.0},
        "positions": [{"code": "600000.XSHG", "volume": volume, "cost": 10.0, "name": "浦发银行"}],
    }


def test_stale_correction_is_refused_with_409_and_writes_nothing(db_url, instance, app_client):
    opened = _signed(app_client, instance, _jq("vc", 1000))["version"]
    _signed(app_client, instance, _jq("vc", 1100, "2026-11-30T14:51:00"))
    latest = _signed(app_client, instance, _jq("vc", 1200, "2026-11-30T14:52:00"))["version"]
    assert latest == opened + 2
    resp = _internal(
        app_client,
        instance,
        {
            "strategy_name": "vc",
            "base_version": opened,
            "positions": [{"code": "600000.SH", "volume": 100, "cost": 10}],
        },
    )
    assert resp.status_code == 409, resp.text
    error = resp.json()["error"]
    assert error["code"] == "version_conflict" and error["field"] == "base_version"
    assert error["base_version"] == opened and error["current_version"] == latest
    assert error["current_source"] == "client:joinquant"
    assert "v%d" % latest in error["message"] and "重新加载" in error["message"]
    stored = _snapshot(app_client, instance, "vc")
    assert stored["version"] == latest and stored["positions"][0]["volume"] == 1200


def test_current_base_version_saves_and_new_strategy_needs_zero(db_url, instance, app_client):
    version = _signed(app_client, instance, _jq("vc2", 1000))["version"]
    ok = _internal(
        app_client,
        instance,
        {
            "strategy_name": "vc2",
            "base_version": version,
            "positions": [{"code": "600000.SH", "volume": 900, "cost": 10}],
        },
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["version"] == version + 1
    # a second tab still holding `version` is refused
    again = _internal(
        app_client,
        instance,
        {
            "strategy_name": "vc2",
            "base_version": version,
            "positions": [{"code": "600000.SH", "volume": 800, "cost": 10}],
        },
    )
    assert again.status_code == 409
    # a new adjustment starts from 0; a second creator from 0 too is refused
    body = {
        "strategy_name": "ADJUSTMENT_X",
        "base_version": 0,
        "positions": [{"code": "600000.SH", "volume": -100, "cost": 10}],
    }
    assert _internal(app_client, instance, body).status_code == 200
    assert _internal(app_client, instance, body).status_code == 409
    # a strategy removed under the editor
    assert (
        app_client.delete(
            "/api/v1/strategies/ADJUSTMENT_X", headers=instance.admin_headers()
        ).status_code
        == 200
    )
    gone = _internal(app_client, instance, dict(body, base_version=1))
    assert gone.status_code == 409 and gone.json()["error"]["current_version"] == 0


@pytest.mark.parametrize("bad", [-1, "3", 1.5, True])
def test_bad_base_version_is_422_naming_the_field(instance, app_client, bad):
    resp = _internal(
        app_client, instance, {"strategy_name": "x", "base_version": bad, "positions": []}
    )
    assert resp.status_code == 422
    assert resp.json()["error"]["field"] == "base_version"


def test_without_base_version_last_writer_wins(instance, app_client):
    _signed(app_client, instance, _jq("lww", 1000))
    _signed(app_client, instance, _jq("lww", 1100, "2026-11-30T14:51:00"))
    resp = _internal(
        app_client,
        instance,
        {"strategy_name": "lww", "positions": [{"code": "600000.SH", "volume": 100, "cost": 10}]},
    )
    assert resp.status_code == 200
    assert _snapshot(app_client, instance, "lww")["positions"][0]["volume"] == 100


def test_correction_keeps_portfolio_and_as_of_and_weight_account_still_has_a_target(
    db_url, instance, app_client
):
    admin = instance.admin_headers()
    version = _signed(app_client, instance, _jq("wt", 1000))["version"]
    assert (
        app_client.post(
            "/api/v1/accounts",
            headers=admin,
            json={"account_id": "W1", "name": "权重", "mode": "weight"},
        ).status_code
        == 201
    )
    assert (
        app_client.put(
            "/api/v1/accounts/W1/follow/wt", headers=admin, json={"capital": 500000}
        ).status_code
        == 200
    )
    before = _snapshot(app_client, instance, "wt")
    resp = _internal(
        app_client,
        instance,
        {
            "strategy_name": "wt",
            "base_version": version,
            "positions": [{"code": "600000.SH", "volume": 1100, "cost": 10}],
        },
    )
    assert resp.status_code == 200, resp.text
    after = _snapshot(app_client, instance, "wt")
    assert after["version"] == version + 1
    assert after["portfolio"] == before["portfolio"] == {"total_value": 1000000.0, "cash": 10000.0}
    assert after["as_of"] == before["as_of"]
    detail = app_client.get("/api/v1/accounts/W1", headers=admin).json()
    assert detail["merged_target_error"] is None
    assert detail["merged_target"][0]["volume"] == 550  # 500,000 x 1,100 / 1,000,000
    # an explicit null clears the portfolio: the weight account's target cannot be computed
    cleared = _internal(
        app_client,
        instance,
        {
            "strategy_name": "wt",
            "portfolio": None,
            "positions": [{"code": "600000.SH", "volume": 1100, "cost": 10}],
        },
    )
    assert cleared.status_code == 200
    assert _snapshot(app_client, instance, "wt")["portfolio"] is None
    detail = app_client.get("/api/v1/accounts/W1", headers=admin).json()
    assert detail["merged_target"] is None and "portfolio_value" in detail["merged_target_error"]


def test_negative_merged_target_is_warned_in_the_save_response(instance, app_client):
    _signed(app_client, instance, _jq("base", 1000))
    resp = _internal(
        app_client,
        instance,
        {
            "strategy_name": "ADJUSTMENT_NEG",
            "base_version": 0,
            "positions": [
                {"code": "600000.SH", "volume": -1500, "cost": 10},
                {"code": "000001.SZ", "volume": -100, "cost": 11},
            ],
        },
    )
    assert resp.status_code == 200, resp.text
    warnings = resp.json()["warnings"]
    assert [(w["code"], w["stock"], w["volume"]) for w in warnings] == [
        ("negative_target", "000001.SZ", -100),
        ("negative_target", "600000.SH", -500),
    ]
    assert "按 0 处理" in warnings[0]["message"]
    fine = _internal(
        app_client,
        instance,
        {
            "strategy_name": "ADJUSTMENT_NEG",
            "base_version": 1,
            "positions": [{"code": "600000.SH", "volume": -500, "cost": 10}],
        },
    )
    assert fine.status_code == 200 and fine.json()["warnings"] == []
