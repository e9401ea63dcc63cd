"""End to end: the demo (server, simulated JoinQuant strategy, paper follower) runs a
few cycles; the quality API then shows curves, fills and slippage that match a hand
computation from the paper exchange's own fills and the prices of each cycle."""

import requests

from jq2qmt.demo import ACCOUNT_ID, Demo, qmt_code


def test_demo_produces_quality_data_matching_a_hand_computation(tmp_path):
    demo = Demo(tmp_path, seed=11, echo=lambda text: None)
    expected = {}  # trade id -> (bps, cost) from the exchange's fill and the cycle's last price
    try:
        demo.start()
        demo.preflight()
        seen = 0
        for _ in range(3):
            demo.cycle()
            last = dict((qmt_code(c), p) for c, p in demo.prices.items())
            trades = demo.exchange.trades()
            for t in trades[seen:]:
                ref = last[t["code"]]
                diff = (t["price"] - ref) if t["side"] == "buy" else (ref - t["price"])
                expected[t["trade_id"]] = (
                    round(diff / ref * 10000, 2),
                    round(diff * t["volume"], 2),
                )
            seen = len(trades)
        headers = {"X-Internal-Password": demo.admin_password}  # account data: admin only
        q = requests.get(
            demo.url + "/api/v1/accounts/%s/quality" % ACCOUNT_ID, headers=headers, timeout=10
        ).json()
        orders = requests.get(
            demo.url + "/api/v1/orders",
            params={"account": ACCOUNT_ID, "limit": 500},
            headers=headers,
            timeout=10,
        ).json()["orders"]
    finally:
        demo.stop()

    assert len(expected) >= 8  # three rotations of a four-stock portfolio
    got = dict((f["trade_id"], (f["slippage_bps"], f["slippage_cost"])) for f in q["fills"])
    assert got == expected
    assert all(bps > 0 for bps, _ in got.values())  # bought at the ask, sold at the bid
    assert q["execution"]["slippage_cost"] == round(sum(cost for _, cost in expected.values()), 2)
    assert q["execution"]["fills"] == len(expected) and q["execution"]["fill_rate"] == 1.0
    # the curves: the first round after the confirmation is far from the target, the last in line
    rounds = q["rounds"]
    assert (
        len(rounds) >= 6 and rounds[0]["deviation_pct"] > 50 and rounds[-1]["deviation_pct"] == 0.0
    )
    assert rounds[0]["account_norm"] == 1.0 and rounds[0]["strategy_norm"] == 1.0
    assert (
        len(set(r["strategy_norm"] for r in rounds)) >= 3
        and len(set(r["account_norm"] for r in rounds)) >= 3
    )
    # the order log: every fill belongs to a filled order with its reference price
    filled = [o for o in orders if o["status"] == "filled"]
    assert sum(len(o["fills"]) for o in filled) == len(expected)
    assert all(o["ref_price"] and o["strategies"] == ["演示策略-轮动"] for o in filled)
    holdings = q["holdings"]
    assert holdings["positions"] and all(
        p["market_value"] and p["price_time"] for p in holdings["positions"]
    )
