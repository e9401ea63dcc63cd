"""`jq2qmt demo`: the whole system moving on one machine, on loopback.

One process runs three parts:

- a jq2qmt server on a temporary SQLite instance (uvicorn in a thread);
- a simulated JoinQuant strategy (`jq2qmt.sim.joinquant`) that loads the files
  `jq2qmt export jq` produces and rotates between three portfolios, one simulated
  trading day per cycle, uploading after each rebalance (signed, over HTTP);
- a paper follower (`jq2qmt.follower` with the paper broker) that fetches the
  account's plan from the server, trades the paper account to it and reports.

The demo account starts unconfirmed, like every new account: the follower's first
round is a read-only preflight (it reports what the paper broker shows and places
nothing). The demo prints what the preflight saw, then confirms the account as a user
would (`jq2qmt account confirm`), and the follower trades from its next round.

Both sides see the same prices, which take a small random step each cycle. The
follower runs on a replayed exchange clock (the last trading day of the server's
calendar, 10:00 Beijing time) so the demo trades at any hour. Ctrl-C (KeyboardInterrupt,
Windows too) stops everything and removes the temporary instance unless `keep` was asked for.
"""

import datetime as dt
import random
import shutil
import socket
import tempfile
import threading
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Optional

from jq2qmt import __version__, trading_calendar
from jq2qmt.follower import scheduler

STRATEGY_NAME = "演示策略-轮动"
ACCOUNT_ID = "demo-paper"
STRATEGY_CASH = 1000000.0
PAPER_CASH = 1200000.0
START_PRICES = {
    "600519.XSHG": 1500.0,
    "600036.XSHG": 35.0,
    "000858.XSHE": 130.0,
    "000333.XSHE": 70.0,
    "601318.XSHG": 45.0,
    "000001.XSHE": 11.0,
    "300750.XSHE": 190.0,
}
MAX_FOLLOWER_ROUNDS = 10
SPREAD = (0.0005, 0.002)  # half-spread around the last price, as a fraction of it

STRATEGY_SOURCE = """# -*- coding: utf-8 -*-
# jq2qmt 演示策略：在三个组合之间轮动，每次调仓后上传持仓。
from jqdata import *

from jq_qmt_api import JQQMTAPI

STRATEGY_NAME = %(name)r
PORTFOLIOS = [
    {"600519.XSHG": 0.30, "600036.XSHG": 0.25, "000858.XSHE": 0.20, "000333.XSHE": 0.20},
    {"601318.XSHG": 0.30, "000001.XSHE": 0.30, "600036.XSHG": 0.20, "300750.XSHE": 0.15},
    {"000333.XSHE": 0.35, "600519.XSHG": 0.20, "300750.XSHE": 0.25, "000001.XSHE": 0.15},
]
_api = []


def initialize(context):
    g.cycle = 0
    run_daily(rebalance, time="10:00")


def process_initialize(context):
    del _api[:]
    _api.append(JQQMTAPI())


def rebalance(context):
    weights = PORTFOLIOS[g.cycle %% len(PORTFOLIOS)]
    g.cycle += 1
    total = context.portfolio.total_value
    for code, position in list(context.portfolio.positions.items()):
        if position.total_amount > 0 and code not in weights:
            order_target(code, 0)
    held = dict((code, context.portfolio.positions[code].value) for code in weights)
    for code, weight in sorted(weights.items(), key=lambda t: total * t[1] - held[t[0]]):
        order_target_value(code, total * weight * 0.95)
    version = _api[0].sync_portfolio(context, STRATEGY_NAME)
    log.info("上传完成，版本 %%s" %% version)
"""


class DemoServer:
    """uvicorn serving the demo instance on 127.0.0.1 in a background thread."""

    def __init__(self, settings, port):
        self.settings = settings
        self.port = port
        self._server = None
        self._thread = None

    def start(self):
        import uvicorn

        from jq2qmt.server.app import create_app

        config = uvicorn.Config(
            create_app(self.settings),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, name="jq2qmt-demo-server", daemon=True
        )
        self._thread.start()
        while not self._server.started:
            self._thread.join(0.05)
            if not self._thread.is_alive():
                raise RuntimeError(
                    "服务器未能启动 / the server did not start on port %d" % self.port
                )

    def stop(self):
        if self._thread is not None and self._server is not None:
            self._server.should_exit = True
            self._thread.join(15)
            self._thread = None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def last_trading_day_before(day):
    """The last A-share trading day before `day`, by the server's calendar (the plan
    carries the same one, and the follower does not trade on a holiday)."""
    day -= dt.timedelta(days=1)
    while not scheduler.is_trading_day(day, trading_calendar.holidays(day)):
        day -= dt.timedelta(days=1)
    return day


def qmt_code(code):
    return code.replace(".XSHG", ".SH").replace(".XSHE", ".SZ")


class Demo:
    """The three parts and one `cycle()` that moves them one trading day."""

    def __init__(self, folder, port=None, seed=None, echo=print):
        self.folder = Path(folder)
        self.port = port or free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.echo = echo
        self.random = random.Random(seed)
        self.spreads = random.Random(
            None if seed is None else "spread-%s" % seed
        )  # keeps the price path
        self.prices = dict(START_PRICES)
        # The strategy's as_of must not be in the future: trade on the last trading day.
        beijing_today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
        self.day = last_trading_day_before(beijing_today)
        self.cycles = 0
        self.converged = 0
        self.server = None
        self.db = None
        self._installed: Optional[AbstractContextManager[Any]] = None  # the simulated platform

    # ---- setup ----------------------------------------------------------------------
    def start(self):
        from jq2qmt.instance import init_instance
        from jq2qmt.store.db import Database

        result = init_instance(
            self.folder / "instance", host="127.0.0.1", port=self.port, public_url=self.url
        )
        self.settings = result.settings
        self.admin_password = result.admin_password
        self.db = Database(self.settings.database_url)
        self._account()
        self.server = DemoServer(self.settings, self.port)
        self.server.start()
        self._strategy()
        self._follower()

    def _account(self):
        from jq2qmt.store import accounts, credentials

        accounts.add_account(self.db, ACCOUNT_ID, name="演示纸面账户", mode="ratio")
        accounts.set_follow(self.db, ACCOUNT_ID, STRATEGY_NAME, ratio=1.0)
        self.follower_token = accounts.create_follower_token(self.db, ACCOUNT_ID)
        self.reader_token = credentials.create_token(self.db, "demo-reader", "read")

    def _strategy(self):
        from jq2qmt.clients.export_jq import export_jq
        from jq2qmt.sim.joinquant import JoinQuantSim

        research = self.folder / "joinquant-research"
        export_jq(self.settings, research, api_url=self.url)
        strategy_file = research / "demo_strategy.py"
        strategy_file.write_text(STRATEGY_SOURCE % {"name": STRATEGY_NAME}, encoding="utf-8")
        self.sim = JoinQuantSim(
            prices=dict(self.prices),
            research_dir=research,
            cash=STRATEGY_CASH,
            start_date=self.day.isoformat(),
        )
        installed = self.sim.installed()
        installed.__enter__()
        self._installed = installed
        self.sim.load_strategy(strategy_file)

    def _follower(self):
        from jq2qmt.brokers.paper import PaperBroker
        from jq2qmt.follower.client import PlanClient
        from jq2qmt.follower.loop import Follower
        from jq2qmt.sim.exchange import PaperExchange

        self.exchange = PaperExchange(cash=PAPER_CASH)
        self._set_quotes(None)
        origin = time.monotonic()
        opening = dt.datetime.combine(self.day, dt.time(10, 0))
        # A replayed exchange clock inside the morning session, whatever the real hour.
        clock = lambda: opening + dt.timedelta(seconds=(time.monotonic() - origin) % 3600)  # noqa: E731
        client = PlanClient(self.url, self.follower_token, ACCOUNT_ID, timeout=10)
        self.follower = Follower(PaperBroker(self.exchange), client, clock, version=__version__)

    def preflight(self):
        """The follower's preflight round on the unconfirmed account, a summary of what
        it reported, then the confirmation. Returns the preflight object the server
        received (None if it received none)."""
        from jq2qmt.store import accounts

        report = self.follower.run_round(wait=0)
        if self.db is None:
            raise RuntimeError("演示尚未开始 / the demo has not started")
        with self.db.read() as session:
            account = accounts.get_account(session, ACCOUNT_ID)
            received = accounts.latest_preflight(session, account)
        seen = (received or {}).get("preflight")
        if seen is None:
            self.echo(
                "预检：服务器没有收到预检报告（本轮状态 %s） / no preflight report received"
                % report["status"]
            )
        else:
            asset = seen.get("asset") or {}
            self.echo(
                "预检：看到 %d 个持仓，现金 %s，总资产 %s，未完成委托 %d 笔，行情 %d 个，错误 %d 条，一轮 %s 毫秒"
                " / preflight (status %s): nothing placed"
                % (
                    len(seen.get("positions") or []),
                    _money(asset.get("cash")),
                    _money(asset.get("total_asset")),
                    len(seen.get("open_orders") or []),
                    len(seen.get("quotes") or []),
                    len(seen.get("errors") or []),
                    seen.get("round_ms"),
                    report["status"],
                )
            )
        accounts.confirm_account(self.db, ACCOUNT_ID)
        self.echo(
            "已确认账户 %s（同 jq2qmt account confirm %s，或跟单页的「确认账户，开始跟单」），"
            "跟单端下一轮起下单 / account confirmed" % (ACCOUNT_ID, ACCOUNT_ID)
        )
        return seen

    def _set_quotes(self, previous):
        # a spread around the last price: the paper exchange fills buys at the ask and
        # sells at the bid, so fills differ from the last price the plan used and the
        # quality page has slippage to show
        for code, price in self.prices.items():
            spread = self.spreads.uniform(SPREAD[0], SPREAD[1])
            self.exchange.set_quote(
                qmt_code(code),
                last=price,
                prev_close=previous[code] if previous else price,
                bid1=round(price * (1 - spread), 2),
                ask1=round(price * (1 + spread), 2),
                name=self.sim.names.get(code) if hasattr(self, "sim") else None,
            )

    # ---- one cycle ------------------------------------------------------------------
    def cycle(self):
        """One simulated trading day: prices move, the strategy rebalances and uploads,
        the follower trades the paper account to the plan. Returns True if converged."""
        if self.cycles:
            previous = dict(self.prices)
            for code, price in self.prices.items():
                self.prices[code] = round(price * (1 + self.random.uniform(-0.02, 0.02)), 2)
            self.sim.prices.update(self.prices)
            self.exchange.next_day()
            self._set_quotes(previous)
        self.sim.current_dt = dt.datetime.combine(self.day, dt.time(9, 0))
        self.sim.run_day()
        for _ in range(MAX_FOLLOWER_ROUNDS):
            report = self.follower.run_round(wait=0)
            if self.follower.settled and report["status"] in ("idle", "ok"):
                break
        self.cycles += 1
        target, held = self.target(), self.paper_positions()
        ok = target == held
        self.converged += 1 if ok else 0
        account = self.exchange.asset()
        self.echo(
            "第 %d 轮 / cycle %d: 策略持仓 %d 只，纸面账户 %s，总资产 %.2f"
            % (
                self.cycles,
                self.cycles,
                len(target),
                "已跟上 / in line" if ok else "未跟上 / differs: %r" % held,
                account["total_asset"],
            )
        )
        return ok

    def target(self):
        snapshot = self._get("/api/v1/positions/strategy/" + STRATEGY_NAME)
        return dict((p["code"], p["volume"]) for p in snapshot["positions"] if p["volume"])

    def paper_positions(self):
        return dict((p["code"], p["volume"]) for p in self.exchange.positions() if p["volume"] > 0)

    def history_versions(self):
        return [
            v["version"]
            for v in self._get("/api/v1/strategies/%s/history" % STRATEGY_NAME)["versions"]
        ]

    def _get(self, path):
        import requests

        response = requests.get(
            self.url + path, headers={"Authorization": "Bearer " + self.reader_token}, timeout=10
        )
        response.raise_for_status()
        return response.json()

    # ---- teardown -------------------------------------------------------------------
    def stop(self):
        if self._installed is not None:
            self._installed.__exit__(None, None, None)
            self._installed = None
        follower = getattr(self, "follower", None)
        if follower is not None:
            follower.client.session.close()  # the follower's keep-alive connection
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.db is not None:
            self.db.dispose()
            self.db = None


def _money(value):
    return "—" if value is None else f"{value:,.2f}"


def interruptible_sleep(seconds):
    """time.sleep in short steps, so Ctrl-C is seen promptly on Windows too."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.2))


def run_demo(
    cycles=0, interval=5.0, port=None, keep=False, folder=None, seed=None, echo=print, ready=None
):
    """Run the demo; `cycles` 0 means until Ctrl-C. Returns a summary dict."""
    owns_folder = folder is None
    folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="jq2qmt-demo-"))
    demo = Demo(folder, port=port, seed=seed, echo=echo)
    summary = {
        "url": demo.url,
        "folder": str(folder),
        "cycles": 0,
        "converged": 0,
        "history": [],
        "interrupted": False,
    }
    try:
        demo.start()
        echo("jq2qmt 演示已启动 / demo running")
        echo("  网页 / web UI:   %s/" % demo.url)
        echo("  登录密码 / login password: %s" % demo.admin_password)
        echo("  策略 / strategy: %s    纸面账户 / paper account: %s" % (STRATEGY_NAME, ACCOUNT_ID))
        echo("  实例目录 / instance: %s" % (folder / "instance"))
        echo("按 Ctrl-C 停止 / press Ctrl-C to stop")
        summary["preflight"] = demo.preflight()
        if ready is not None:
            ready(demo)
        while not cycles or demo.cycles < cycles:
            demo.cycle()
            if not cycles or demo.cycles < cycles:
                interruptible_sleep(interval)
        summary["history"] = demo.history_versions()
    except KeyboardInterrupt:
        summary["interrupted"] = True
        echo("已停止 / stopped (Ctrl-C)")
    finally:
        summary["cycles"], summary["converged"] = demo.cycles, demo.converged
        demo.stop()
        if owns_folder and not keep:
            shutil.rmtree(str(folder), ignore_errors=True)
    return summary
