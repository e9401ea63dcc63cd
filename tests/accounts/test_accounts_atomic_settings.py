"""PATCH /api/v1/accounts/{id} with settings and follow changes together (what the
跟单 page's 编辑设置 sends): all of it is checked, then written in one transaction.
A refused request leaves the account exactly as it was, on all three backends."""

import pytest


@pytest.fixture
def admin(instance):
    return instance.admin_headers()


def _state(app_client, admin, acc):
    body = app_client.get("/api/v1/accounts/%s" % acc.ACCOUNT, headers=admin).json()
    return {key: body[key] for key in ("name", "mode", "settings", "follow", "revision")}


@pytest.mark.parametrize(
    "body,status,field",
    [
        # the ratio is refused before anything is written (the page once saved the rest)
        (
            {"name": "改名", "min_order_value": 777, "follow": {"多策略V1.0": {"ratio": 100000}}},
            422,
            "follow.多策略V1.0.ratio",
        ),
        # a capital for a ratio-mode account is refused inside the transaction: rolled back
        (
            {
                "min_order_value": 777,
                "ignore": ["000001"],
                "follow": {"多策略V1.0": None, "另一个": {"capital": 5000}},
            },
            422,
            "follow.另一个.ratio",
        ),
        (
            {"min_order_value": 777, "max_turnover": 50, "follow": {"多策略V1.0": {"ratio": 2}}},
            422,
            "max_turnover",
        ),
        ({"min_order_value": 777, "follow": {"bad/name": {"ratio": 1}}}, 422, "follow.bad/name"),
        (
            {"min_order_value": 777, "follow": {"多策略V1.0": {"ratio": 1, "capital": 1}}},
            422,
            "follow.多策略V1.0",
        ),
        ({"min_order_value": 777, "follow": ["多策略V1.0"]}, 422, "follow"),
        # a mode change while a follow remains
        ({"mode": "weight", "min_order_value": 777, "follow": {"另一个": None}}, 409, "mode"),
    ],
)
def test_refused_patch_changes_nothing(
    db_url, instance, app_client, acc, admin, body, status, field
):
    acc.followed_account(instance, app_client)
    before = _state(app_client, admin, acc)
    response = app_client.patch("/api/v1/accounts/%s" % acc.ACCOUNT, json=body, headers=admin)
    acc.error_of(response, status, field)
    assert _state(app_client, admin, acc) == before


def test_settings_and_follows_saved_together(db_url, instance, app_client, acc, admin):
    acc.followed_account(instance, app_client)
    acc.upload(app_client, instance, name="另一个", positions={"600000.SH": 1000})
    response = app_client.patch(
        "/api/v1/accounts/%s" % acc.ACCOUNT,
        headers=admin,
        json={
            "name": "主账户",
            "settings": {"min_order_value": 777, "ignore": ["6000??.SH"]},
            "follow": {"多策略V1.0": {"ratio": 2}, "另一个": {"ratio": 0.5}},
        },
    )
    assert response.status_code == 200, response.text
    state = _state(app_client, admin, acc)
    assert state["name"] == "主账户" and state["settings"]["min_order_value"] == 777
    assert state["follow"]["strategies"] == {"多策略V1.0": {"ratio": 2}, "另一个": {"ratio": 0.5}}
    # unfollow everything and change the mode in one request
    response = app_client.patch(
        "/api/v1/accounts/%s" % acc.ACCOUNT,
        headers=admin,
        json={"mode": "weight", "follow": {"多策略V1.0": None, "另一个": None}},
    )
    assert response.status_code == 200, response.text
    state = _state(app_client, admin, acc)
    assert state["mode"] == "weight" and state["follow"]["strategies"] == {}
    # follow changes alone are a valid PATCH
    response = app_client.patch(
        "/api/v1/accounts/%s" % acc.ACCOUNT,
        headers=admin,
        json={"follow": {"另一个": {"capital": 300000}}},
    )
    assert response.status_code == 200, response.text
    assert _state(app_client, admin, acc)["follow"]["strategies"] == {"另一个": {"capital": 300000}}
