"""Quality and order-log API on every backend, against hand-computed figures.

Round reports are posted the way a follower posts them (its own token); the figures
they must give are worked out in the comments.
"""

import csv
import io

DAY1, DAY2 = "2026-11-25", "2026-11-26"  # a Wednesday and a Thursday, both trading days
A, B = "600000.SH", "000001.SZ"
TARGET = {A: 1000, B: 500}


def _report(round_id, at, account, prices, **extra):
    body = {
        "kind": "round",
        "round_id": round_id,
        "status": "ok",
        "plan_version": "v1",
        "at": at,
        "account": account,
        "target": dict(TARGET),
        "prices": prices,
        "placed": [],
        "cancelled": [],
        "rejected": [],
        "skipped": [],
        "errors": [],
        "follower": {"kind": "paper", "version": "test"},
    }
    body.update(extra)
    return body


def _post(client, acc, token, body):
    response = client.post(
        "/api/v1/accounts/%s/reports" % acc.ACCOUNT, json=body, headers=acc.bearer(token)
    )
    assert response.status_code == 200, response.text


def _scenario(client, instance, acc):
    acc.store_account(instance, follow={acc.STRATEGY: 1.0})
    acc.upload(
        client, instance, positions={"600000.XSHG": 1000, "000001.XSHE": 500}, total_value=100000.0
    )
    token = acc.follower_token(instance)
    # round 1: empty account, deviation 1000 x 10 + 500 x 12 = 16000 of 100000 = 16 %
    _post(
        client,
        acc,
        token,
        _report(
            "jq1125100000-ab01",
            DAY1 + "T10:00:00",
            {"cash": 100000.0, "total_asset": 100000.0, "market_value": 0.0, "positions": []},
            {
                A: {"price": 10.0, "time": "20261125 10:00:00"},
                B: {"price": 12.0, "time": "20261125 09:59:58"},
            },
            placed=[
                {
                    "code": A,
                    "side": "buy",
                    "volume": 1000,
                    "price": 10.02,
                    "order_id": "1",
                    "remark": "jq1125100000-ab01.0",
                    "ref_price": 10.0,
                },
                {
                    "code": B,
                    "side": "buy",
                    "volume": 500,
                    "price": 12.03,
                    "order_id": "2",
                    "remark": "jq1125100000-ab01.1",
                    "ref_price": 12.0,
                },
            ],
            rejected=[
                {
                    "code": "600036.SH",
                    "side": "buy",
                    "volume": 100,
                    "price": 35.0,
                    "reason": "资金不足",
                }
            ],
            skipped=[{"code": "000002.SZ", "reason": "no_quote", "detail": "无行情"}],
        ),
    )
    # round 2: A filled at 10.01 (+10 bps, 10 CNY), B 300 of 500 at 12.02 (+16.67 bps, 6 CNY);
    # deviation |500 - 300| x 12 = 2400 of 99990 = 2.4002 %
    fills = [
        {
            "trade_id": "t1",
            "order_id": "1",
            "remark": "jq1125100000-ab01.0",
            "code": A,
            "side": "buy",
            "volume": 1000,
            "price": 10.01,
            "time": DAY1 + "T10:00:20",
        },
        {
            "trade_id": "t2",
            "order_id": "2",
            "remark": "jq1125100000-ab01.1",
            "code": B,
            "side": "buy",
            "volume": 300,
            "price": 12.02,
            "time": DAY1 + "T10:00:30",
        },
    ]
    account2 = {
        "cash": 86384.0,
        "total_asset": 99990.0,
        "market_value": 13656.0,
        "positions": [
            {"code": A, "volume": 1000, "can_use_volume": 0, "avg_cost": 10.01},
            {"code": B, "volume": 300, "can_use_volume": 0, "avg_cost": 12.02},
        ],
    }
    _post(
        client,
        acc,
        token,
        _report(
            "jq1125100100-ab02",
            DAY1 + "T10:01:00",
            account2,
            {
                A: {"price": 10.05, "time": "20261125 10:00:58"},
                B: {"price": 12.0, "time": "20261125 10:00:57"},
            },
            fills=fills,
            orders=[
                {
                    "order_id": "1",
                    "remark": "jq1125100000-ab01.0",
                    "code": A,
                    "side": "buy",
                    "volume": 1000,
                    "price": 10.02,
                    "traded_volume": 1000,
                    "status": 56,
                    "status_msg": "已成",
                },
                {
                    "order_id": "2",
                    "remark": "jq1125100000-ab01.1",
                    "code": B,
                    "side": "buy",
                    "volume": 500,
                    "price": 12.03,
                    "traded_volume": 300,
                    "status": 55,
                    "status_msg": "部成",
                },
            ],
        ),
    )
    # the same fills again (a restarted follower): stored once
    _post(
        client,
        acc,
        token,
        _report(
            "jq1125100200-ab03",
            DAY1 + "T10:02:00",
            account2,
            {A: {"price": 10.05}, B: {"price": 12.0}},
            fills=fills,
        ),
    )
    # day 2: the strategy is worth 102000 (1.02), the account 101000 (101000 / 99990 = 1.010101)
    acc.upload(
        client, instance, positions={"600000.XSHG": 1000, "000001.XSHE": 500}, total_value=102000.0
    )
    _post(
        client,
        acc,
        token,
        _report(
            "jq1126100000-ab04",
            DAY2 + "T10:00:00",
            {
                "cash": 84000.0,
                "total_asset": 101000.0,
                "market_value": 17000.0,
                "positions": [
                    {"code": A, "volume": 1000, "avg_cost": 10.01},
                    {"code": B, "volume": 500, "avg_cost": 12.0},
                ],
            },
            {
                A: {"price": 10.6, "time": "20261126 10:00:00"},
                B: {"price": 12.8, "time": "20261126 09:59:59"},
            },
        ),
    )
    return token


def test_quality_matches_hand_computation(db_url, instance, app_client, acc, admin):
    _scenario(app_client, instance, acc)
    response = app_client.get(
        "/api/v1/accounts/%s/quality?from=%s&to=%s" % (acc.ACCOUNT, DAY1, DAY2), headers=admin
    )
    assert response.status_code == 200, response.text
    q = response.json()
    assert (q["from"], q["to"]) == (DAY1, DAY2)
    day1, day2 = q["days"]
    assert day1["day"] == DAY1 and day1["rounds"] == 3
    assert day1["deviation_value"] == 2400.0 and day1["deviation_pct"] == 2.4002
    assert day1["max_deviation_pct"] == 16.0
    assert (day1["total_asset"], day1["cash"], day1["market_value"]) == (99990.0, 86384.0, 13656.0)
    assert (
        day1["orders"] == 3 and day1["fills"] == 2 and day1["rejects"] == 1 and day1["skipped"] == 1
    )
    assert day1["fill_rate"] == 0.8125  # 1300 filled of 1600 sent (the rejected 100 included)
    assert day1["slippage_cost"] == 16.0
    # (10 x 10000 + 16.67 x 3600) / 13600 = 11.7656
    assert day1["slippage_bps"] == 11.77
    assert day1["open_at_close"] == 1  # B's order, still 部成 when day 1 ended
    assert (day1["account_norm"], day1["strategy_norm"]) == (1.0, 1.0)
    assert day2["deviation_value"] == 0.0 and day2["deviation_pct"] == 0.0
    assert day2["account_norm"] == 1.010101 and day2["strategy_norm"] == 1.02
    assert [r["deviation_pct"] for r in q["rounds"]] == [16.0, 2.4002, 2.4002, 0.0]
    assert [r["strategy_norm"] for r in q["rounds"]] == [1.0, 1.0, 1.0, 1.02]
    ex = q["execution"]
    assert (ex["orders"], ex["ordered_volume"], ex["filled_volume"], ex["fills"]) == (
        3,
        1600,
        1300,
        2,
    )
    assert ex["reject_reasons"] == [{"reason": "资金不足", "count": 1}]
    assert ex["skip_reasons"] == [{"reason": "no_quote", "count": 1}]
    assert ex["upload_to_first_order_s"]["count"] == 2 and ex["upload_to_first_order_s"]["p50"] >= 0
    assert ex["upload_to_last_fill_s"]["count"] == 2
    assert [o["code"] for o in ex["open_at_close"]] == [B]
    assert [(f["trade_id"], f["slippage_bps"], f["slippage_cost"]) for f in q["fills"]] == [
        ("t1", 10.0, 10.0),
        ("t2", 16.67, 6.0),
    ]
    (strategy,) = q["by_strategy"]
    assert (
        strategy["strategy"] == acc.STRATEGY
        and strategy["fills"] == 2
        and strategy["slippage_cost"] == 16.0
    )
    holdings = q["holdings"]
    assert holdings["round_id"] == "jq1126100000-ab04"
    assert holdings["positions"] == [
        {
            "code": B,
            "volume": 500,
            "price": 12.8,
            "price_time": "20261126 09:59:59",
            "market_value": 6400.0,
            "cost": 6000.0,
            "unrealised_pnl": 400.0,
            "target": 500,
        },
        {
            "code": A,
            "volume": 1000,
            "price": 10.6,
            "price_time": "20261126 10:00:00",
            "market_value": 10600.0,
            "cost": 10010.0,
            "unrealised_pnl": 590.0,
            "target": 1000,
        },
    ]

    # CSV: one line per day, the same figures
    text = app_client.get(
        "/api/v1/accounts/%s/quality?from=%s&to=%s&format=csv" % (acc.ACCOUNT, DAY1, DAY2),
        headers=admin,
    )
    assert text.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text.text.lstrip("\ufeff"))))
    assert [(r["day"], r["deviation_pct"], r["slippage_bps"]) for r in rows] == [
        (DAY1, "2.4002", "11.77"),
        (DAY2, "0.0", ""),
    ]
    accept = app_client.get(
        "/api/v1/accounts/%s/quality?from=%s&to=%s" % (acc.ACCOUNT, DAY1, DAY2),
        headers=dict(admin, Accept="text/csv"),
    )
    assert accept.text == text.text


def test_order_log_filters_and_csv(db_url, instance, app_client, acc, admin):
    _scenario(app_client, instance, acc)
    reader = acc.bearer(instance.reader_token())  # account data is the admin's only
    assert app_client.get("/api/v1/orders", headers=reader).status_code == 401
    orders = app_client.get("/api/v1/orders?account=%s" % acc.ACCOUNT, headers=admin).json()[
        "orders"
    ]
    assert [(o["code"], o["status"]) for o in orders] == [
        ("000002.SZ", "skipped"),
        ("600036.SH", "rejected"),
        (B, "open"),
        (A, "filled"),
    ]
    filled = orders[3]
    assert (
        filled["traded_volume"] == 1000
        and filled["status_text"] == "已成"
        and filled["ref_price"] == 10.0
    )
    assert (
        filled["value"] == 10020.0
        and filled["strategies"] == [acc.STRATEGY]
        and filled["day"] == DAY1
    )
    assert [f["trade_id"] for f in filled["fills"]] == ["t1"]
    assert orders[1]["reason"] == "资金不足"
    got = app_client.get(
        "/api/v1/orders?status=filled&code=%s&day=%s" % (A, DAY1), headers=admin
    ).json()
    assert [o["order_id"] for o in got["orders"]] == ["1"] and got["count"] == 1
    assert app_client.get("/api/v1/orders?day=%s" % DAY2, headers=admin).json()["orders"] == []
    assert len(app_client.get("/api/v1/orders?limit=2", headers=admin).json()["orders"]) == 2
    text = app_client.get("/api/v1/orders?account=%s&format=csv" % acc.ACCOUNT, headers=admin).text
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [(r["code"], r["status"], r["traded_volume"]) for r in rows][-1] == (A, "filled", "1000")


def test_order_log_pages_with_offset_and_total_and_etags(db_url, instance, app_client, acc, admin):
    _scenario(app_client, instance, acc)
    every = app_client.get("/api/v1/orders", headers=admin).json()
    assert every["total"] == every["count"] == 4 and every["offset"] == 0
    ids = [o["id"] for o in every["orders"]]
    pages = [
        app_client.get("/api/v1/orders?limit=3&offset=%d" % offset, headers=admin).json()
        for offset in (0, 3, 6)
    ]
    assert [[o["id"] for o in p["orders"]] for p in pages] == [ids[:3], ids[3:], []]
    assert [(p["total"], p["count"], p["offset"]) for p in pages] == [
        (4, 3, 0),
        (4, 1, 3),
        (4, 0, 6),
    ]
    filtered = app_client.get("/api/v1/orders?status=filled&offset=0&limit=1", headers=admin).json()
    assert filtered["total"] == 1 and [o["code"] for o in filtered["orders"]] == [A]
    # the pages poll with If-None-Match: unchanged answers are a 304 without a body
    first = app_client.get("/api/v1/orders?limit=3", headers=admin)
    etag = first.headers["etag"]
    again = app_client.get("/api/v1/orders?limit=3", headers=dict(admin, **{"If-None-Match": etag}))
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other = app_client.get("/api/v1/orders?limit=2", headers=dict(admin, **{"If-None-Match": etag}))
    assert other.status_code == 200 and other.headers["etag"] != etag
    base = "/api/v1/accounts/%s/quality?from=%s&to=%s" % (acc.ACCOUNT, DAY1, DAY2)
    etag = app_client.get(base, headers=admin).headers["etag"]
    assert app_client.get(base, headers=dict(admin, **{"If-None-Match": etag})).status_code == 304
    acc.error_of(app_client.get("/api/v1/orders?offset=-1", headers=admin), 422, "offset")
    acc.error_of(app_client.get("/api/v1/orders?offset=x", headers=admin), 422, "offset")


def test_bad_parameters_name_the_field(instance, app_client, acc, admin):
    acc.store_account(instance)
    base = "/api/v1/accounts/%s/quality" % acc.ACCOUNT
    acc.error_of(app_client.get(base + "?from=2026-13-01", headers=admin), 422, "from")
    acc.error_of(app_client.get(base + "?to=yesterday", headers=admin), 422, "to")
    acc.error_of(
        app_client.get(base + "?from=2026-11-26&to=2026-11-25", headers=admin), 422, "from"
    )
    acc.error_of(
        app_client.get(base + "?from=2024-01-01&to=2026-11-25", headers=admin), 422, "from"
    )
    acc.error_of(app_client.get(base + "?format=xml", headers=admin), 422, "format")
    acc.error_of(app_client.get(base + "?form=2026-11-25", headers=admin), 422, "form")
    acc.error_of(app_client.get("/api/v1/accounts/nobody/quality", headers=admin), 404)
    acc.error_of(app_client.get("/api/v1/orders?status=done", headers=admin), 422, "status")
    acc.error_of(app_client.get("/api/v1/orders?day=11-25", headers=admin), 422, "day")
    acc.error_of(app_client.get("/api/v1/orders?limit=0", headers=admin), 422, "limit")
    acc.error_of(app_client.get("/api/v1/orders?limit=x", headers=admin), 422, "limit")
    acc.error_of(app_client.get("/api/v1/orders?account=nobody", headers=admin), 404)
    assert app_client.get(base).status_code == 401
    assert app_client.get("/api/v1/orders").status_code == 401
    follower = acc.follower_token(instance)
    assert app_client.get("/api/v1/orders", headers=acc.bearer(follower)).status_code == 401


def test_held_plan_preview_and_stale_approval(db_url, instance, app_client, acc, admin):
    acc.store_account(instance, follow={acc.STRATEGY: 1.0})
    acc.upload(app_client, instance, positions={"600000.XSHG": 1000}, total_value=100000.0)
    token = acc.follower_token(instance)
    version = app_client.get("/api/v1/accounts/%s" % acc.ACCOUNT, headers=admin).json()[
        "plan_version"
    ]
    _post(
        app_client,
        acc,
        token,
        {
            "kind": "round",
            "round_id": "jq1125100000-ab01",
            "status": "held",
            "plan_version": version,
            "held_reason": "换手超过上限",
            "strategy_versions": {acc.STRATEGY: 1},
            "would_place": [
                {
                    "code": A,
                    "side": "buy",
                    "volume": 1000,
                    "price": 10.02,
                    "ref_price": 10.0,
                    "order_id": None,
                    "remark": None,
                }
            ],
            "placed": [],
            "cancelled": [],
            "rejected": [],
            "skipped": [],
            "errors": [],
        },
    )
    summary = app_client.get("/api/v1/accounts/%s" % acc.ACCOUNT, headers=admin).json()
    assert summary["held"]["orders"] == [
        {
            "code": A,
            "side": "buy",
            "volume": 1000,
            "price": 10.02,
            "value": 10020.0,
            "ref_price": 10.0,
        }
    ]
    assert summary["approval"] is None
    response = app_client.post(
        "/api/v1/accounts/%s/approve" % acc.ACCOUNT, json={"plan_version": version}, headers=admin
    )
    assert response.status_code == 200, response.text
    approval = app_client.get("/api/v1/accounts/%s" % acc.ACCOUNT, headers=admin).json()["approval"]
    assert (
        approval["plan_version"] == version
        and approval["stale"] is False
        and approval["approved_at"]
    )
    # a new upload after the approval: the approved plan is not the plan any more
    acc.upload(app_client, instance, positions={"600000.XSHG": 2000}, total_value=100000.0)
    approval = app_client.get("/api/v1/accounts/%s" % acc.ACCOUNT, headers=admin).json()["approval"]
    assert approval["stale"] is True and approval["changed"] == [acc.STRATEGY]


def test_malformed_quality_fields_are_refused_naming_the_field(instance, app_client, acc):
    acc.store_account(instance)
    token = acc.follower_token(instance)
    good = _report(
        "jq1125100000-ab01",
        DAY1 + "T10:00:00",
        {"cash": 1.0, "total_asset": 1.0, "positions": []},
        {},
    )
    for extra, field in (
        ({"fills": {}}, "fills"),
        ({"fills": [{"trade_id": "", "code": A, "side": "buy"}]}, "fills[0].trade_id"),
        ({"fills": [{"trade_id": "t1", "code": A, "side": "buy"}, 3]}, "fills[1]"),
        ({"orders": [{"order_id": "1"}]}, "orders[0].remark"),
        ({"prices": []}, "prices"),
        ({"target": "x"}, "target"),
        ({"would_place": [{"side": "buy"}]}, "would_place[0].code"),
        ({"at": "2026-11-25 10:00"}, "at"),
    ):
        response = app_client.post(
            "/api/v1/accounts/%s/reports" % acc.ACCOUNT,
            json=dict(good, **extra),
            headers=acc.bearer(token),
        )
        acc.error_of(response, 422, field)
    _post(app_client, acc, token, good)


def test_rows_older_than_the_kept_days_are_pruned(db_url, instance):
    from jq2qmt.store import accounts, quality

    db = instance.db()
    accounts.add_account(db, "8886660057", "主账户", confirmed=True)

    def round_on(day, number):
        accounts.save_report(
            db,
            "8886660057",
            _report(
                "jq%s100000-ab%02d" % (day[5:7] + day[8:], number),
                day + "T10:00:00",
                {"cash": 1.0, "total_asset": 1.0, "positions": []},
                {A: {"price": 10.0}},
                skipped=[{"code": A, "reason": "no_quote"}],
            ),
        )

    round_on("2025-10-20", 1)  # a Monday, 401 days before 2026-11-25
    round_on("2025-10-21", 2)  # 400 days before: kept
    with db.read() as session:
        assert session.query(quality.QualityOrder).count() == 2
    round_on(DAY1, 3)
    with db.read() as session:
        days = sorted(r.day for r in session.query(quality.QualityRound))
        assert days == ["2025-10-21", DAY1]
        assert sorted(o.day for o in session.query(quality.QualityOrder)) == ["2025-10-21", DAY1]
