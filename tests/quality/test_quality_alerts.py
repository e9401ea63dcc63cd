"""The deviation alert and the daily summary (jq2qmt.notify.quality_alerts), on every backend."""

import datetime

from jq2qmt.notify import quality_alerts
from jq2qmt.notify import settings as ns
from jq2qmt.notify.dispatcher import Notifier
from jq2qmt.store import accounts

ACCOUNT = "8886660057"


class CapturingNotifier(Notifier):
    """The real dispatcher (settings, rate limit, log rows); messages are kept, not sent."""

    def __init__(self, db):
        Notifier.__init__(self, db, server_name="test")
        self.sent = []

    def _send_all(self, chans, title, text):
        self.sent.append((title, text))
        return "sent", None


def _round(db, number, deviation_pct, day="2026-11-25", **extra):
    """A round report whose deviation is `deviation_pct` of a 100000 account (price 10)."""
    gap = int(round(deviation_pct * 100))  # shares of a 10 CNY stock: gap x 10 / 100000 = pct %
    body = {
        "kind": "round",
        "round_id": "jq1125%06d-ab%02d" % (100000 + number, number),
        "status": "ok",
        "plan_version": "v1",
        "at": "%sT10:%02d:00" % (day, number),
        "account": {
            "cash": 100000.0,
            "total_asset": 100000.0,
            "market_value": 0.0,
            "positions": [],
        },
        "target": {"600000.SH": gap},
        "prices": {"600000.SH": {"price": 10.0}},
        "placed": [],
        "cancelled": [],
        "rejected": [],
        "skipped": [],
        "errors": [],
    }
    body.update(extra)
    accounts.save_report(db, ACCOUNT, body)


def _beijing(hour, minute, day=25):
    return datetime.datetime(2026, 11, day, hour, minute)


def test_deviation_alert_after_n_rounds_above_the_threshold(db_url, instance, monkeypatch):
    db = instance.db()
    accounts.add_account(db, ACCOUNT, "主账户", confirmed=True)
    ns.set_channel(db, "wx", "wecom", {"url": "http://127.0.0.1:9/hook"})
    notifier = CapturingNotifier(db)
    monkeypatch.setenv("JQ2QMT_DEVIATION_ALERT_PCT", "2.5")
    monkeypatch.setenv("JQ2QMT_DEVIATION_ALERT_ROUNDS", "3")
    _round(db, 1, 5.0)
    _round(db, 2, 4.0)
    assert quality_alerts.check_deviation(notifier, _beijing(10, 5)) == []  # two rounds only
    _round(db, 3, 3.0)
    assert quality_alerts.check_deviation(notifier, _beijing(10, 5)) == [ACCOUNT]
    title, text = notifier.sent[-1]
    assert ACCOUNT in title and "3.00%、4.00%、5.00%" in text and "超过 2.50%" in text
    assert quality_alerts.check_deviation(notifier, _beijing(10, 5, day=26)) == []  # another day
    _round(db, 4, 2.0)  # back under the threshold
    assert quality_alerts.check_deviation(notifier, _beijing(10, 6)) == []
    assert len(notifier.sent) == 1


def test_deviation_alert_counts_quiet_rounds_of_a_live_follower(db_url, instance, monkeypatch):
    """A follower reports a round only when something changed: a gap that stays put
    shows as heartbeats, each ROUND_SECONDS of them one more round."""
    from sqlalchemy import update

    db = instance.db()
    accounts.add_account(db, ACCOUNT, "主账户", confirmed=True)
    ns.set_channel(db, "wx", "wecom", {"url": "http://127.0.0.1:9/hook"})
    notifier = CapturingNotifier(db)
    monkeypatch.setenv("JQ2QMT_DEVIATION_ALERT_ROUNDS", "3")
    _round(db, 1, 6.0)
    assert quality_alerts.check_deviation(notifier, _beijing(10, 5)) == []
    with db.read() as session:
        seen = accounts.get_account(session, ACCOUNT).last_seen
    with db.write_once() as session:  # heartbeats for 119 s: one quiet round, two in all
        session.execute(
            update(accounts.Account).values(
                last_seen=seen + datetime.timedelta(seconds=2 * quality_alerts.ROUND_SECONDS - 1)
            )
        )
    assert quality_alerts.check_deviation(notifier, _beijing(10, 5)) == []
    with db.write_once() as session:  # 120 s: three rounds
        session.execute(
            update(accounts.Account).values(
                last_seen=seen + datetime.timedelta(seconds=2 * quality_alerts.ROUND_SECONDS)
            )
        )
    assert quality_alerts.check_deviation(notifier, _beijing(10, 5)) == [ACCOUNT]
    assert "6.00%" in notifier.sent[-1][1]


def test_daily_summary_once_after_the_close(db_url, instance):
    db = instance.db()
    accounts.add_account(db, ACCOUNT, "主账户", confirmed=True)
    accounts.add_account(db, "idle-account", "空闲", confirmed=True)
    ns.set_channel(db, "wx", "wecom", {"url": "http://127.0.0.1:9/hook"})
    notifier = CapturingNotifier(db)
    _round(
        db,
        1,
        12.0,
        placed=[
            {
                "code": "600000.SH",
                "side": "buy",
                "volume": 1200,
                "price": 10.02,
                "order_id": "1",
                "remark": "jq1125100001-ab01.0",
                "ref_price": 10.0,
            }
        ],
        rejected=[
            {"code": "600036.SH", "side": "buy", "volume": 100, "price": 40.0, "reason": "资金不足"}
        ],
    )
    _round(
        db,
        2,
        0.0,
        fills=[
            {
                "trade_id": "t1",
                "order_id": "1",
                "remark": "jq1125100001-ab01.0",
                "code": "600000.SH",
                "side": "buy",
                "volume": 1000,
                "price": 10.03,
            }
        ],
    )
    assert quality_alerts.check_daily_summary(notifier, _beijing(14, 0)) == []  # before the close
    assert quality_alerts.check_daily_summary(notifier, _beijing(15, 10)) == [ACCOUNT]
    title, text = notifier.sent[-1]
    assert title == "每日跟单小结：%s 2026-11-25" % ACCOUNT
    # 1000 of 1300 sent filled; 1000 x 0.03 = 30 CNY, 30 bps; the 1200 buy is still open
    assert "委托 2 笔，成交 1 笔，成交率 76.9%" in text and "滑点 30.0 bp，成本 30.00 元" in text
    assert "被拒 1 笔" in text and "收盘仍未完成 1 笔" in text and "资金不足" in text
    assert "收盘跟踪偏离 0.00%" in text and "当日最高 12.00%" in text
    assert quality_alerts.check_daily_summary(notifier, _beijing(15, 30)) == []  # once a day
    assert quality_alerts.check_daily_summary(notifier, _beijing(15, 30, day=28)) == []  # Saturday
    assert len(notifier.sent) == 1
