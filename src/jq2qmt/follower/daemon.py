"""`jq2qmt follow`: the follower loop as a long-running process (miniQMT or paper).

The plan is long-polled (`?wait=`) while nothing is in flight, so a new upload is
traded within a second without hammering the server; while orders are open the loop
runs once a second. Ctrl-C (KeyboardInterrupt, also on Windows) stops it cleanly
between two broker calls.
"""

import time

from . import scheduler

# Seconds a plan fetch may wait (the server caps ?wait at 30). Kept short because on
# Windows Ctrl-C only lands once a blocking socket read returns.
LONG_POLL = 10
MIN_INTERVAL = 1.0


def connect_miniqmt(broker, echo=print):
    """Load xtquant and connect the miniQMT broker, saying what startup waits for.

    Raises ImportError (xtquant or its native part cannot load) or BrokerError (miniQMT
    not reachable, account not subscribed, no answer in time) with what to do.
    """
    echo("正在加载 xtquant … / loading xtquant")
    broker.load()
    stages = {
        "connecting": "正在连接 miniQMT（%s，会话 %s）… / connecting to miniQMT"
        % (broker.qmt_path, broker.session_id),
        "subscribing": "已连接，订阅账户 %s … / connected, subscribing the account"
        % broker.account_id,
    }
    broker.connect(progress=lambda stage: echo(stages[stage]))
    echo("已订阅账户 %s，开始跟单 / account subscribed" % broker.account_id)
    return broker


def status_line(report):
    """One line per round for the console: what happened and the account."""
    account = report.get("account") or {}
    parts = [
        "%s" % report["round_id"],
        "状态/status=%s" % report["status"],
        "plan=%s" % (report.get("plan_version") or "-")[:12],
    ]
    if account:
        parts.append("现金/cash=%.2f 总资产/total=%.2f" % (account["cash"], account["total_asset"]))
    for key, label in (("placed", "下单"), ("cancelled", "撤单"), ("rejected", "拒绝")):
        if report.get(key):
            parts.append("%s/%s=%d" % (label, key, len(report[key])))
    if report.get("held_reason"):
        parts.append("暂缓/held: %s" % report["held_reason"])
    if report.get("errors"):
        parts.append("; ".join(report["errors"]))
    return " ".join(parts)


def poll_wait(follower, now):
    """How long the next plan fetch may long-poll: never past a session edge."""
    if not follower.settled or follower.settings is None:
        return 0
    edge = scheduler.seconds_to_next_change(
        now, follower.settings["sessions"], holidays=follower.settings.get("holidays")
    )
    wait = LONG_POLL if edge is None else min(LONG_POLL, int(edge))
    return max(wait, 0)


def run(
    follower,
    once=False,
    echo=print,
    after_round=None,
    sleep=time.sleep,
    monotonic=time.monotonic,
    max_rounds=None,
):
    """Run rounds until Ctrl-C (or one round with `once`); returns the last report."""
    report = None
    last_line = None
    rounds = 0
    try:
        while True:
            started = monotonic()
            report = follower.run_round(wait=0 if once else poll_wait(follower, follower.clock()))
            rounds += 1
            if after_round is not None:
                after_round(report)
            line = status_line(report)
            if line.split(" ", 1)[1] != last_line or report["placed"] or report["errors"]:
                echo(line)
                last_line = line.split(" ", 1)[1]
            if once or (max_rounds is not None and rounds >= max_rounds):
                return report
            elapsed = monotonic() - started
            if elapsed < MIN_INTERVAL:
                sleep(MIN_INTERVAL - elapsed)
    except KeyboardInterrupt:
        echo("已停止 / stopped (Ctrl-C)")
    return report
