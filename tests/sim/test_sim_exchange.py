"""The paper exchange: real rejection reasons, fills, fees, T+1, callbacks."""

import threading

import pytest

from jq2qmt.rules import fees
from jq2qmt.rules.instrument import instrument
from jq2qmt.sim.exchange import (
    STATUS_CANCELED,
    STATUS_JUNK,
    STATUS_PART_CANCEL,
    STATUS_PART_SUCC,
    STATUS_REPORTED,
    STATUS_SUCCEEDED,
    PaperExchange,
)


@pytest.fixture
def ex():
    ex = PaperExchange(cash=100000.0)
    ex.set_quote("600000.SH", 10.0, prev_close=9.9, bid1=9.99, ask1=10.01, name="浦发银行")
    ex.set_quote("688981.SH", 50.0, prev_close=50.0, bid1=49.99, ask1=50.01)
    ex.set_quote("510300.SH", 4.0, prev_close=4.0, bid1=3.999, ask1=4.001)
    ex.set_quote("113050.SH", 120.0, prev_close=120.0, bid1=119.999, ask1=120.001)
    ex.set_quote("000001.SZ", 11.0, prev_close=11.0, bid1=10.99, ask1=11.01, suspended=True)
    ex.set_position("600000.SH", 350, can_use_volume=350, avg_cost=9.5)
    return ex


def test_quote_format_and_derived_limits(ex):
    assert ex.quote("600000.XSHG") == {
        "last": 10.0,
        "prev_close": 9.9,
        "high_limit": 10.89,
        "low_limit": 8.91,
        "bid1": 9.99,
        "ask1": 10.01,
        "suspended": False,
        "name": "浦发银行",
    }
    assert ex.quote("300750.SZ") is None
    assert set(ex.quotes(["600000.SH", "300750.SZ"])) == {"600000.SH"}
    ex.set_quote("600543.SH", 2.0, prev_close=2.0, name="*ST示例")
    assert (ex.quote("600543.SH")["high_limit"], ex.quote("600543.SH")["low_limit"]) == (2.1, 1.9)


@pytest.mark.parametrize(
    "code, side, volume, price, reason",
    [
        ("600000.SH", "buy", 150, 10.01, "lot"),
        ("688981.SH", "buy", 199, 50.01, "lot"),
        ("113050.SH", "buy", 15, 120.001, "lot"),
        ("600000.SH", "sell", 120, 9.99, "lot"),  # leaves an odd 30 behind
        ("600000.SH", "buy", 100, 10.015, "tick"),
        ("510300.SH", "buy", 100, 4.0015, "tick"),
        ("600000.SH", "buy", 100, 10.9, "price_limit"),
        ("600000.SH", "sell", 100, 8.9, "price_limit"),
        ("600000.SH", "buy", 100, 10.22, "price_cage"),  # > 10.01 x 1.02
        ("600000.SH", "sell", 100, 9.78, "price_cage"),  # < 9.99 x 0.98
        ("600000.SH", "buy", 10000, 10.01, "insufficient_cash"),
        ("600000.SH", "sell", 400, 9.99, "insufficient_sellable"),
        ("688981.SH", "sell", 200, 49.99, "insufficient_sellable"),
        ("000001.SZ", "buy", 100, 11.01, "suspended"),
        ("300750.SZ", "buy", 100, 200.0, "no_quote"),
        ("204001.SH", "buy", 10, 1.5, "invalid"),
        ("600000", "buy", 100, 10.01, "invalid"),
        ("600000.SH", "hold", 100, 10.01, "invalid"),
        ("600000.SH", "buy", 0, 10.01, "invalid"),
        ("600000.SH", "buy", 100.5, 10.01, "invalid"),
        ("600000.SH", "buy", 100, -1, "invalid"),
    ],
)
def test_rejections_carry_the_real_reason(ex, code, side, volume, price, reason):
    order = ex.place_order(code, side, volume, price)
    assert (order["status"], order["status_msg"]) == (STATUS_JUNK, reason)
    assert ex.orders()[-1]["status_msg"] == reason
    assert ex.cash == 100000.0


def test_marketable_buy_fills_at_the_ask_with_fees(ex):
    order = ex.place_order("600000.SH", "buy", 1000, 10.03, remark="r1")
    assert order["status"] == STATUS_SUCCEEDED and order["traded_price"] == 10.01
    assert order["remark"] == "r1" and order["seq"] == 1
    trade = ex.trades()[0]
    assert (trade["volume"], trade["price"], trade["amount"]) == (1000, 10.01, 10010.0)
    assert trade["fees"] == 5.11  # commission minimum 5 + transfer fee 0.1001 rounded up
    assert ex.cash == pytest.approx(100000.0 - 10010.0 - trade["fees"])
    pos = [p for p in ex.positions() if p["code"] == "600000.SH"][0]
    assert pos["volume"] == 1350 and pos["can_use_volume"] == 350  # T+1


def test_non_marketable_order_rests_and_freezes_cash(ex):
    order = ex.place_order("600000.SH", "buy", 1000, 9.95)
    assert order["status"] == STATUS_REPORTED
    frozen = fees.buy_cost_fen(instrument("600000.SH"), 9.95, 1000) / 100.0
    assert ex.asset()["frozen_cash"] == frozen
    assert ex.cash == pytest.approx(100000.0 - frozen)
    assert [o["order_id"] for o in ex.orders(open_only=True)] == [order["order_id"]]
    assert ex.cancel_order(order["order_id"]) is True
    assert ex.cancel_order(order["order_id"]) is False
    assert ex.get_order(order["order_id"])["status"] == STATUS_CANCELED
    assert ex.cash == 100000.0


def test_open_sell_freezes_sellable_volume_and_odd_lot_rule(ex):
    ex.place_order("600000.SH", "sell", 100, 10.5)  # rests above the bid
    pos = ex.positions()[0]
    assert pos["can_use_volume"] == 250
    assert ex.place_order("600000.SH", "sell", 300, 9.99)["status_msg"] == "insufficient_sellable"
    assert ex.place_order("600000.SH", "sell", 250, 9.99)["status"] == STATUS_SUCCEEDED
    assert ex.positions()[0]["volume"] == 100


def test_sell_charges_stamp_duty_and_credits_proceeds(ex):
    order = ex.place_order("600000.SH", "sell", 350, 9.98)
    assert order["status"] == STATUS_SUCCEEDED and order["traded_price"] == 9.99
    amount = 350 * 9.99
    charged = (
        fees.fees_fen_for_amount(instrument("600000.SH"), "sell", fees.amount_li(9.99, 350)) / 100.0
    )
    assert ex.trades()[0]["fees"] == charged
    assert charged > 5.0 + amount * 0.0005  # commission minimum plus stamp duty
    assert ex.cash == pytest.approx(100000.0 + amount - charged)
    assert ex.positions() == []


def test_partial_fills_are_lot_safe_and_fees_are_charged_per_order():
    ex = PaperExchange(cash=1000000.0, fill_ratio=0.5)
    ex.set_quote("600000.SH", 10.0, prev_close=10.0, bid1=9.99, ask1=10.01)
    order = ex.place_order("600000.SH", "buy", 1000, 10.01)
    assert (order["status"], order["traded_volume"]) == (STATUS_PART_SUCC, 500)
    ex.match()
    ex.match()
    ex.match()
    order = ex.get_order(order["order_id"])
    assert order["traded_volume"] == 900  # 500, 200, 100, 100 -> lots only
    ex.match()
    assert ex.get_order(order["order_id"])["status"] == STATUS_SUCCEEDED
    assert all(t["volume"] % 100 == 0 for t in ex.trades())
    total_fees = sum(round(t["fees"] * 100) for t in ex.trades())
    assert total_fees == fees.fees_fen_for_amount(
        instrument("600000.SH"), "buy", fees.amount_li(10.01, 1000)
    )
    assert ex.asset()["frozen_cash"] == 0.0


def test_cancel_after_partial_fill_is_part_cancel():
    ex = PaperExchange(cash=1000000.0, fill_ratio=0.5)
    ex.set_quote("600000.SH", 10.0, prev_close=10.0, bid1=9.99, ask1=10.01)
    order = ex.place_order("600000.SH", "buy", 1000, 10.01)
    assert ex.cancel_order(order["order_id"])
    assert ex.get_order(order["order_id"])["status"] == STATUS_PART_CANCEL
    assert ex.asset()["frozen_cash"] == 0.0


def test_auto_match_off_fills_only_on_match():
    ex = PaperExchange(cash=100000.0, auto_match=False)
    ex.set_quote("600000.SH", 10.0, prev_close=10.0, bid1=9.99, ask1=10.01)
    order = ex.place_order("600000.SH", "buy", 100, 10.01)
    assert order["status"] == STATUS_REPORTED
    ex.match()
    assert ex.get_order(order["order_id"])["status"] == STATUS_SUCCEEDED


def test_fill_uses_last_without_a_book_side():
    ex = PaperExchange(cash=100000.0)
    ex.set_quote("600000.SH", 10.0, prev_close=10.0, bid1=None, ask1=None)
    assert ex.place_order("600000.SH", "buy", 100, 10.0)["traded_price"] == 10.0


def test_next_day_expires_orders_releases_t1_and_rederives_limits(ex):
    ex.place_order("600000.SH", "buy", 100, 10.01)
    resting = ex.place_order("600000.SH", "buy", 100, 9.9)
    assert ex.positions()[0]["can_use_volume"] == 350
    ex.set_quote("600000.SH", 10.5, prev_close=9.9, bid1=10.49, ask1=10.51)
    ex.next_day()
    assert ex.get_order(resting["order_id"])["status"] == STATUS_CANCELED
    assert ex.positions()[0]["can_use_volume"] == 450
    q = ex.quote("600000.SH")
    assert (q["prev_close"], q["high_limit"], q["low_limit"]) == (10.5, 11.55, 9.45)


def test_t0_instruments_are_sellable_the_same_day():
    ex = PaperExchange(cash=100000.0)
    ex.set_quote("113050.SH", 120.0, prev_close=120.0, bid1=119.999, ask1=120.001)
    ex.set_quote("511880.SH", 100.0, prev_close=100.0, bid1=99.999, ask1=100.001)
    ex.place_order("113050.SH", "buy", 10, 120.001)
    ex.place_order("511880.SH", "buy", 100, 100.001)
    assert [p["can_use_volume"] for p in ex.positions()] == [10, 100]


def test_asset_adds_up(ex):
    ex.place_order("600000.SH", "buy", 1000, 9.95)
    asset = ex.asset()
    assert asset["market_value"] == 3500.0
    assert asset["total_asset"] == pytest.approx(asset["cash"] + asset["frozen_cash"] + 3500.0)


def test_subscribers_see_every_status_change_and_trade(ex):
    seen = []
    ex.subscribe(lambda kind, payload: seen.append((kind, payload.get("status"))))
    ex.place_order("600000.SH", "buy", 100, 10.01)
    ex.place_order("600000.SH", "buy", 150, 10.01)
    assert seen == [
        ("order", STATUS_REPORTED),
        ("trade", None),
        ("order", STATUS_SUCCEEDED),
        ("order", STATUS_JUNK),
    ]


def test_callbacks_run_outside_the_lock(ex):
    calls = []

    def callback(kind, payload):
        # another thread can use the exchange while a callback runs
        worker = threading.Thread(target=lambda: calls.append(ex.cash))
        worker.start()
        worker.join(timeout=5)
        assert not worker.is_alive()

    ex.subscribe(callback)
    ex.place_order("600000.SH", "buy", 100, 10.01)
    assert len(calls) == 3


def test_concurrent_orders_never_overspend():
    ex = PaperExchange(cash=10100.0)
    ex.set_quote("600000.SH", 10.0, prev_close=10.0, bid1=9.99, ask1=10.01)
    results = []

    def buy():
        results.append(ex.place_order("600000.SH", "buy", 100, 9.95)["status"])

    threads = [threading.Thread(target=buy) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(STATUS_REPORTED) == 10  # 10 x 1000.05 = 10000.5 <= 10100
    assert ex.cash >= 0
