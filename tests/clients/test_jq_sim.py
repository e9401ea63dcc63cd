"""The JoinQuant stand-in behaves like JoinQuant where the uploader and strategies look."""

import datetime as dt
import importlib
import sys

import pytest

from jq2qmt.sim.joinquant import (
    JoinQuantSim,
    LimitOrderStyle,
    OrderStatus,
    SimError,
    SubPortfolioConfig,
)

PRICES = {"600000.XSHG": [10.0, 11.0, 9.0], "000001.XSHE": 12.5}


def test_positions_have_joinquant_attributes_and_t_plus_1():
    sim = JoinQuantSim(prices=PRICES, cash=100000)
    order = sim.order_target("600000.XSHG", 1000)
    assert order.status == OrderStatus.filled and order.is_buy and order.filled == 1000
    pos = sim.context.portfolio.positions["600000.XSHG"]
    assert (pos.security, pos.total_amount, pos.closeable_amount) == ("600000.XSHG", 1000, 0)
    assert pos.price == 10.0 and pos.value == 10000.0
    assert pos.avg_cost == pytest.approx(10.005)  # 10000 + 5 minimum commission
    assert sim.order_target("600000.XSHG", 0) is None  # bought today: nothing sellable (T+1)
    sim.run_day()
    assert pos.closeable_amount == 1000 and pos.price == 11.0
    assert sim.order_target("600000.XSHG", 450).filled == 500  # partial sells keep whole lots
    assert sim.order_target("600000.XSHG", 0).filled == 500
    assert "600000.XSHG" not in sim.context.portfolio.positions


def test_cash_lots_and_totals():
    sim = JoinQuantSim(prices=PRICES, cash=10000)
    assert sim.order("000001.XSHE", 99) is None
    order = sim.order_value("000001.XSHE", 50000)  # more than the cash: what it can afford
    assert order.filled == 700
    portfolio = sim.context.portfolio
    assert portfolio.available_cash == pytest.approx(10000 - 8750 - 5)
    assert portfolio.total_value == pytest.approx(portfolio.available_cash + 8750)
    assert portfolio.positions_value == pytest.approx(8750)


def test_reading_an_unheld_code_leaves_an_empty_position():
    sim = JoinQuantSim(prices=PRICES)
    assert sim.context.portfolio.positions["000001.XSHE"].total_amount == 0
    assert list(sim.context.portfolio.positions) == ["000001.XSHE"]


def test_limit_orders_stay_open_until_reached_or_the_close():
    sim = JoinQuantSim(prices=PRICES)
    order = sim.order("600000.XSHG", 200, LimitOrderStyle(9.5))
    assert order.status == OrderStatus.open and list(sim.get_open_orders()) == [order.order_id]
    assert sim.context.portfolio.locked_cash > 0
    sim.set_price("600000.XSHG", 9.4)
    assert order.status == OrderStatus.filled and order.price == 9.4
    other = sim.order("600000.XSHG", 100, LimitOrderStyle(9.0))
    sim.run_day()
    assert other.status == OrderStatus.canceled and sim.get_open_orders() == {}
    assert sim.context.portfolio.locked_cash == 0


def test_subportfolios_are_separate_and_portfolio_is_their_sum():
    sim = JoinQuantSim(prices=PRICES, cash=1000000)
    sim.set_subportfolios([SubPortfolioConfig(700000), SubPortfolioConfig(300000)])
    sim.order_target("600000.XSHG", 1000, pindex=0)
    sim.order_target("600000.XSHG", 300, pindex=1)
    subs = sim.context.subportfolios
    assert subs[0].positions["600000.XSHG"].total_amount == 1000
    assert subs[1].positions["600000.XSHG"].total_amount == 300
    assert sim.context.portfolio.positions["600000.XSHG"].total_amount == 1300
    assert sim.context.portfolio.total_value == pytest.approx(
        subs[0].total_value + subs[1].total_value
    )
    with pytest.raises(SimError):
        sim.set_subportfolios([SubPortfolioConfig(1)])


def test_schedule_runs_in_time_order_with_the_strategy_clock(tmp_path):
    strategy = tmp_path / "s.py"
    strategy.write_text(
        "def initialize(context):\n"
        "    g.seen = []\n"
        "    run_daily(late, time='14:50')\n"
        "    run_daily(early, time='open')\n"
        "    run_weekly(weekly, weekday=1, time='10:00')\n"
        "    run_daily(night, time='after_close')\n"
        "def early(context): g.seen.append(('early', context.current_dt))\n"
        "def late(context): g.seen.append(('late', context.current_dt))\n"
        "def weekly(context): g.seen.append(('weekly', context.current_dt))\n"
        "def night(context): g.seen.append(('night', context.current_dt))\n",
        encoding="utf-8",
    )
    sim = JoinQuantSim(start_date="2026-01-03")  # a Saturday: starts on Monday
    sim.load_strategy(strategy)
    sim.run_days(2)
    monday, tuesday = dt.date(2026, 1, 5), dt.date(2026, 1, 6)
    at = dt.datetime.combine
    assert sim.g.seen == [
        ("early", at(monday, dt.time(9, 30))),
        ("weekly", at(monday, dt.time(10))),
        ("late", at(monday, dt.time(14, 50))),
        ("night", at(monday, dt.time(15, 30))),
        ("early", at(tuesday, dt.time(9, 30))),
        ("late", at(tuesday, dt.time(14, 50))),
        ("night", at(tuesday, dt.time(15, 30))),
    ]


def test_restart_pickles_g_and_reruns_process_initialize(tmp_path):
    strategy = tmp_path / "s.py"
    strategy.write_text(
        "def initialize(context):\n"
        "    g.days = 0\n"
        "    run_daily(count, time='9:30')\n"
        "def process_initialize(context):\n"
        "    g.__handle = object()\n"
        "    g.starts = getattr(g, 'starts', 0) + 1\n"
        "def count(context): g.days += 1\n",
        encoding="utf-8",
    )
    sim = JoinQuantSim()
    sim.load_strategy(strategy)
    sim.run_days(3)
    assert sim.g.days == 3 and sim.g.starts == 3


def test_run_params_and_security_info():
    sim = JoinQuantSim(prices={"688001.XSHG": 30.0}, run_type="simple_backtest")
    assert sim.context.run_params.type == "simple_backtest"
    assert sim.get_security_info("600000.XSHG").display_name == "浦发银行"
    assert sim.get_security_info("688001.XSHG").display_name == "688001"
    assert sim.get_security_info("999999.XSHG") is None
    assert sim.get_current_data()["000001.XSHE"].name == "平安银行"


def test_installed_gives_kuanke_read_write_and_research_imports(tmp_path):
    (tmp_path / "helper_mod.py").write_text(
        "from kuanke.user_space_api import *\n"
        "def note(text):\n"
        "    write_file('notes/a.txt', text)\n"
        "    log.info('noted')\n"
        "    return read_file('notes/a.txt')\n",
        encoding="utf-8",
    )
    sim = JoinQuantSim(research_dir=tmp_path)
    with sim.installed():
        assert importlib.import_module("helper_mod").note("你好") == "你好".encode()
        from kuanke.user_space_api import read_file

        assert read_file("notes/a.txt") == "你好".encode()
    assert sim.log.messages("info") == ["noted"]
    assert not {"helper_mod", "kuanke", "kuanke.user_space_api", "jqdata"} & set(sys.modules)
    assert str(tmp_path) not in sys.path


def test_unsupported_schedule_time_is_an_error():
    with pytest.raises(SimError):
        JoinQuantSim().run_daily(lambda c: None, time="open+5m")


def test_open_sell_moves_shares_from_total_to_locked_as_joinquant_documents():
    # JoinQuant: total_amount "不包括挂单冻结仓位"; the shares held are total + locked.
    sim = JoinQuantSim(prices={"600000.XSHG": 10.0}, cash=100000)
    sim.order_target("600000.XSHG", 1050)  # 1000: the cash buys whole lots only
    sim.run_day()
    pos = sim.context.portfolio.positions["600000.XSHG"]
    assert (pos.total_amount, pos.locked_amount, pos.closeable_amount) == (1000, 0, 1000)
    value_before = sim.context.portfolio.total_value
    pending = sim.order("600000.XSHG", -400, LimitOrderStyle(12.0))  # above the price: stays open
    assert pending.status == OrderStatus.open
    assert (pos.total_amount, pos.locked_amount, pos.closeable_amount) == (600, 400, 600)
    assert pos.value == 6000.0  # price * total_amount, as documented
    assert sim.context.portfolio.positions_value == 10000.0  # locked shares are still owned
    assert sim.context.portfolio.total_value == pytest.approx(value_before)
    assert sim.order("600000.XSHG", -700).filled == 600  # only unlocked shares can be sold
    assert (pos.total_amount, pos.locked_amount, pos.closeable_amount) == (0, 400, 0)
    assert "600000.XSHG" in sim.context.portfolio.positions
    sim.cancel_order(pending)
    assert (pos.total_amount, pos.locked_amount, pos.closeable_amount) == (400, 0, 400)
    held = sim.order("600000.XSHG", -400, LimitOrderStyle(12.0))
    sim.set_price("600000.XSHG", 12.5)  # reaches the limit: the sell fills
    assert held.status == OrderStatus.filled
    assert "600000.XSHG" not in sim.context.portfolio.positions


def test_close_returns_locked_shares_and_subportfolio_sums_keep_them():
    sim = JoinQuantSim(prices={"600000.XSHG": 10.0}, cash=1000000)
    sim.set_subportfolios([SubPortfolioConfig(500000), SubPortfolioConfig(500000)])
    sim.order_target("600000.XSHG", 1000, pindex=0)
    sim.order_target("600000.XSHG", 300, pindex=1)
    sim.run_day()
    sim.order("600000.XSHG", -300, LimitOrderStyle(12.0), pindex=0)
    merged = sim.context.portfolio.positions["600000.XSHG"]
    assert (merged.total_amount, merged.locked_amount, merged.closeable_amount) == (1000, 300, 1000)
    a, b = (sub.positions["600000.XSHG"] for sub in sim.context.subportfolios)
    assert merged.avg_cost == pytest.approx(
        (a.avg_cost * 1000 + b.avg_cost * 300) / 1300
    )  # weighted by held shares
    sim.run_day()  # the close cancels the open sell: its shares come back
    pos = sim.context.subportfolios[0].positions["600000.XSHG"]
    assert (pos.total_amount, pos.locked_amount, pos.closeable_amount) == (1000, 0, 1000)
    assert (
        sim.order_target("600000.XSHG", 200, pindex=0).filled == 800
    )  # order_target counts held shares
