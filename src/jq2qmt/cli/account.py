"""`jq2qmt account ...`: follower accounts, what they follow, their settings and tokens.

Every value is checked before anything is written (the same checks as the admin
API); an error is one line and exit status 1.
"""

import json

import click

from jq2qmt.cli.db import instance_options, open_or_fail
from jq2qmt.rules.settings import HHMM

ON_OFF = click.Choice(["on", "off"])
_NONE = ("none", "null", "off", "不限", "")


@click.group()
def account():
    """跟单账户：添加、跟随策略、设置、令牌、批准 / follower accounts."""


def _run(instance_dir, database_url, fn):
    """Open the instance, run ``fn(database)``; store errors become one-line CLI errors."""
    from jq2qmt.store.accounts import AccountError

    _settings, database = open_or_fail(instance_dir, database_url)
    try:
        return fn(database)
    except AccountError as exc:
        where = " [%s]" % exc.field if exc.field else ""
        raise click.ClickException("%s%s" % (exc.message, where))
    finally:
        database.dispose()


def _number(text, option, nullable=False):
    if nullable and text.strip().lower() in _NONE:
        return None
    try:
        value = float(text)
    except ValueError:
        raise click.BadParameter("不是数字 / not a number: %r" % text, param_hint=option)
    return int(value) if value.is_integer() else value


def _percent(text, option):
    """'30' or '30%' -> 0.3; 'none' -> None."""
    if text.strip().lower() in _NONE:
        return None
    value = _number(text.strip().rstrip("%"), option)
    return value / 100.0


def _sessions(text):
    """'09:30-11:30,13:00-14:57' -> [["09:30", "11:30"], ["13:00", "14:57"]]; the
    windows themselves are judged by the settings' rule when they are stored."""
    result = []
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        start, sep, end = part.partition("-")
        if not sep or not all(HHMM.match(t.strip()) for t in (start, end)):
            raise click.BadParameter(
                "时段格式应为 09:30-11:30 / expected e.g. 09:30-11:30", param_hint="--sessions"
            )
        result.append([start.strip(), end.strip()])
    return result


@account.command()
@click.argument("account_id")
@click.option("--name", default=None, help="显示名称（默认为账户 ID） / display name")
@click.option(
    "--mode",
    type=click.Choice(["ratio", "weight"]),
    default="ratio",
    show_default=True,
    help="ratio：按数量比例；weight：按资金和权重 / ratio: volume x ratio; weight: capital x weight",
)
@instance_options
def add(account_id, name, mode, instance_dir, database_url):
    """添加跟单账户（资金账号） / add a follower account."""
    from jq2qmt.store import accounts

    result = _run(
        instance_dir, database_url, lambda db: accounts.add_account(db, account_id, name, mode)
    )
    click.echo(
        "已添加账户 / added account %s (%s, mode %s)"
        % (result["account_id"], result["name"], result["mode"])
    )
    click.echo(
        "下一步 / next: jq2qmt account follow %s 策略名 --%s ...; jq2qmt account token %s"
        % (account_id, "ratio" if mode == "ratio" else "capital", account_id)
    )
    click.echo(
        "新账户处于预检：跟单端只查看并报告持仓、资金、委托和行情，不下单。看过 jq2qmt account show %s 后，"
        "用 jq2qmt account confirm %s 开始跟单 / the account starts in preflight (the follower reports, "
        "places nothing) until confirmed" % (account_id, account_id)
    )


@account.command()
@click.argument("account_id")
@click.option("--yes", is_flag=True, help="不再确认 / do not ask")
@instance_options
def remove(account_id, yes, instance_dir, database_url):
    """删除账户（连同报告），吊销其跟单令牌 / remove an account and revoke its tokens."""
    from jq2qmt.store import accounts

    if not yes:
        click.confirm(
            "删除账户 %s 及其全部报告？/ remove account %s and its reports?"
            % (account_id, account_id),
            abort=True,
        )
    _run(instance_dir, database_url, lambda db: accounts.remove_account(db, account_id))
    click.echo("已删除账户 %s / removed" % account_id)


@account.command()
@click.argument("account_id")
@click.argument("strategy")
@click.option(
    "--ratio", default=None, help="数量比例（ratio 模式），如 0.5 / volume ratio (ratio mode)"
)
@click.option(
    "--capital", default=None, help="跟随资金（weight 模式，元） / capital in yuan (weight mode)"
)
@instance_options
def follow(account_id, strategy, ratio, capital, instance_dir, database_url):
    """跟随策略，或修改比例/资金 / follow a strategy (or change its ratio/capital)."""
    from jq2qmt.store import accounts

    if (ratio is None) == (capital is None):
        raise click.UsageError(
            "需要 --ratio 或 --capital 之一 / give exactly one of --ratio or --capital"
        )
    ratio = None if ratio is None else _number(ratio, "--ratio")
    capital = None if capital is None else _number(capital, "--capital")
    result = _run(
        instance_dir,
        database_url,
        lambda db: accounts.set_follow(db, account_id, strategy, ratio, capital),
    )
    how = "ratio %s" % ratio if ratio is not None else "capital %s" % capital
    click.echo("账户 %s 跟随 %s（%s） / account follows strategy" % (account_id, strategy, how))
    if not result["strategy_exists"]:
        click.echo("注意：策略 %s 还没有上传过持仓 / note: strategy has no snapshot yet" % strategy)


@account.command()
@click.argument("account_id")
@click.argument("strategy")
@instance_options
def unfollow(account_id, strategy, instance_dir, database_url):
    """取消跟随策略 / stop following a strategy."""
    from jq2qmt.store import accounts

    _run(instance_dir, database_url, lambda db: accounts.unfollow(db, account_id, strategy))
    click.echo("账户 %s 不再跟随 %s / unfollowed" % (account_id, strategy))


@account.command(name="set")
@click.argument("account_id")
@click.option("--name", default=None, help="显示名称 / display name")
@click.option(
    "--mode",
    type=click.Choice(["ratio", "weight"]),
    default=None,
    help="跟单方式（需先取消所有跟随） / follow mode (unfollow everything first)",
)
@click.option(
    "--ignore",
    default=None,
    metavar="CODES",
    help="忽略的代码或模式，逗号分隔，如 511880.SH,1318*；none 清空 / codes or patterns to leave alone",
)
@click.option(
    "--min-order-value", default=None, metavar="V", help="最小下单金额（元） / minimum order value"
)
@click.option(
    "--max-order-value",
    default=None,
    metavar="V|none",
    help="单笔上限（元），超过则暂缓待批 / order value limit",
)
@click.option(
    "--max-turnover",
    default=None,
    metavar="PCT|none",
    help="单轮换手上限，百分比（30 或 30%% = 总资产的 30%%），超过则暂缓待批 / turnover limit in percent",
)
@click.option(
    "--slice-value",
    default=None,
    metavar="V|none",
    help="拆单金额（元） / slice orders above this value",
)
@click.option(
    "--use-sell-proceeds",
    type=ON_OFF,
    default=None,
    help="买入可用同轮卖出所得 / buy with this round's sales",
)
@click.option(
    "--slippage", default=None, metavar="X", help="限价滑点比例，如 0.002 / limit price slippage"
)
@click.option(
    "--order-timeout",
    default=None,
    metavar="S|none",
    help="未成交委托多少秒后撤单重报 / re-price after S seconds",
)
@click.option(
    "--max-reprices",
    default=None,
    metavar="N",
    help="每个代码每天最多重报次数 / re-prices per code a day",
)
@click.option(
    "--sessions",
    default=None,
    metavar="HH:MM-HH:MM,...",
    help="交易时段，如 09:30-11:30,13:00-14:57 / trading windows",
)
@click.option(
    "--dry-run", type=ON_OFF, default=None, help="演练：只报告不下单 / report, send nothing"
)
@instance_options
def set_(account_id, instance_dir, database_url, **options):
    """修改账户设置（只改给出的项） / change account settings (only those given)."""
    from jq2qmt.store import accounts

    changes = _changes(options)
    if not changes:
        raise click.UsageError("没有要修改的设置 / no setting given (see --help)")
    result = _run(
        instance_dir, database_url, lambda db: accounts.update_account(db, account_id, changes)
    )
    click.echo("已更新账户 %s / updated: %s" % (account_id, ", ".join(sorted(changes))))
    _echo_settings(result)


def _changes(options):
    changes = {}
    for key in ("name", "mode"):
        if options[key] is not None:
            changes[key] = options[key]
    if options["ignore"] is not None:
        text = options["ignore"].strip()
        changes["ignore"] = (
            [] if text.lower() in _NONE else [c.strip() for c in text.split(",") if c.strip()]
        )
    if options["min_order_value"] is not None:
        changes["min_order_value"] = _number(options["min_order_value"], "--min-order-value")
    for key in ("max_order_value", "slice_value", "order_timeout"):
        if options[key] is not None:
            changes[key] = _number(options[key], "--" + key.replace("_", "-"), nullable=True)
    if options["max_turnover"] is not None:
        changes["max_turnover"] = _percent(options["max_turnover"], "--max-turnover")
    if options["slippage"] is not None:
        changes["slippage"] = _number(options["slippage"], "--slippage")
    if options["max_reprices"] is not None:
        changes["max_reprices"] = _number(options["max_reprices"], "--max-reprices")
    if options["sessions"] is not None:
        changes["sessions"] = _sessions(options["sessions"])
    for key in ("use_sell_proceeds", "dry_run"):
        if options[key] is not None:
            changes[key] = options[key] == "on"
    return changes


def _switch(account_id, instance_dir, database_url, paused):
    from jq2qmt.store import accounts

    _run(
        instance_dir,
        database_url,
        lambda db: accounts.update_account(db, account_id, {"paused": paused}),
    )


@account.command()
@click.argument("account_id")
@instance_options
def pause(account_id, instance_dir, database_url):
    """暂停跟单：跟单端不再下任何单 / pause: the follower sends no order."""
    _switch(account_id, instance_dir, database_url, True)
    click.echo("已暂停账户 %s / paused" % account_id)


@account.command()
@click.argument("account_id")
@instance_options
def resume(account_id, instance_dir, database_url):
    """恢复跟单 / resume following."""
    _switch(account_id, instance_dir, database_url, False)
    click.echo("已恢复账户 %s / resumed" % account_id)


@account.command(name="list")
@instance_options
def list_(instance_dir, database_url):
    """列出跟单账户 / list follower accounts."""
    from jq2qmt.store import accounts

    def read(db):
        with db.read() as session:
            return accounts.list_accounts(session)

    rows = _run(instance_dir, database_url, read)
    click.echo(
        "%-16s %-14s %-6s %-7s %-7s %-8s %-26s %-16s %s"
        % (
            "ACCOUNT",
            "NAME",
            "MODE",
            "PAUSED",
            "DRYRUN",
            "CONFIRM",
            "LAST SEEN",
            "LAST ROUND",
            "STRATEGIES",
        )
    )
    for a in rows:
        last = (a["last_round"] or {}).get("status") or "-"
        if a["held"]:
            last = "held*"
        click.echo(
            "%-16s %-14s %-6s %-7s %-7s %-8s %-26s %-16s %s"
            % (
                a["account_id"],
                a["name"],
                a["mode"],
                "yes" if a["paused"] else "no",
                "yes" if a["dry_run"] else "no",
                "yes" if a["confirmed"] else "待确认",
                a["last_seen"] or "never",
                last,
                ", ".join(_follow_text(n, f) for n, f in a["follow"]["strategies"].items()) or "-",
            )
        )
    if any(not a["confirmed"] for a in rows):
        click.echo(
            "待确认 = 预检中，跟单端不下单；查看 jq2qmt account show ID，确认 jq2qmt account confirm ID "
            "/ unconfirmed: preflight only, no orders"
        )


def _follow_text(name, entry):
    return (
        "%s x%s" % (name, entry["ratio"])
        if "ratio" in entry
        else "%s %s元" % (name, entry["capital"])
    )


def _echo_settings(summary):
    s = summary["settings"]
    click.echo(
        "  paused=%s dry_run=%s mode=%s" % (summary["paused"], summary["dry_run"], summary["mode"])
    )
    for key in sorted(s):
        click.echo("  %-18s %s" % (key, json.dumps(s[key], ensure_ascii=False)))


@account.command()
@click.argument("account_id")
@click.option(
    "--reports",
    "report_count",
    default=5,
    show_default=True,
    help="显示最近几轮报告 / recent rounds to show",
)
@instance_options
def show(account_id, report_count, instance_dir, database_url):
    """账户详情：设置、跟随、合并目标、最近报告 / account details."""
    from jq2qmt.server import plans
    from jq2qmt.server.caches import LruCache
    from jq2qmt.store import accounts

    def read(db):
        plan = plans.current_plan(db, LruCache(), account_id)
        with db.read() as session:
            summary = accounts.summary(session, accounts.get_account(session, account_id))
            reports = accounts.list_reports(session, account_id, max(report_count, 1))
        return plan, summary, reports

    plan, summary, reports = _run(instance_dir, database_url, read)
    click.echo(
        "账户 / account %s (%s)  plan_version %s"
        % (summary["account_id"], summary["name"], plan["plan_version"])
    )
    if summary["confirmed"]:
        click.echo(
            "已确认，正常跟单 / confirmed%s"
            % ("（%s）" % summary["confirmed_at"] if summary["confirmed_at"] else "")
        )
    else:
        click.echo(
            "预检中：尚未确认，跟单端不下单 / preflight: not confirmed, the follower places no order"
        )
        click.echo(
            "  看过下面的预检报告后确认 / confirm with: jq2qmt account confirm %s" % account_id
        )
    for line in preflight_lines(summary["preflight"]):
        click.echo(line)
    _echo_settings(summary)
    click.echo("最近心跳 / last seen: %s" % (summary["last_seen"] or "never"))
    present = dict((t["strategy"], t) for t in plan["targets"])
    click.echo("跟随 / follows:")
    for name, entry in plan["follow"]["strategies"].items():
        target = present.get(name)
        state = (
            "v%d %s" % (target["version"], target["update_time"])
            if target
            else "还没有持仓 / no snapshot"
        )
        click.echo("  %s  (%s)" % (_follow_text(name, entry), state))
    merged, problem = plans.merged_target(plan)
    click.echo("合并目标 / merged target:" + (" %s" % problem if problem else ""))
    for row in merged or []:
        click.echo("  %-10s %12d  %s" % (row["code"], row["volume"], row["name"] or ""))
    if summary["held"]:
        held = summary["held"]
        click.echo("等待批准 / held: plan %s — %s" % (held["plan_version"], held["held_reason"]))
        click.echo(
            "  批准 / approve: jq2qmt account approve %s %s" % (account_id, held["plan_version"])
        )
    click.echo("最近报告 / recent rounds:")
    for r in reports[:report_count]:
        click.echo(
            "  %s %-16s %-15s placed=%d rejected=%d %s"
            % (
                r["created_at"],
                r["round_id"],
                r["status"],
                len(r.get("placed") or []),
                len(r.get("rejected") or []),
                "; ".join(r.get("errors") or []),
            )
        )


def _num(value, digits=2):
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return "{:,.{}f}".format(value, digits)
    return f"{int(value):,}"


def _age(value):
    if value is None:
        return "无时间"
    return "%s 秒前" % _num(value, 1)


PREFLIGHT_ROWS = 5  # rows of positions / open orders shown by `show`


def preflight_lines(report):
    """The latest preflight report in readable Chinese, one string per line."""
    if not report:
        return ["预检报告 / preflight: 尚未收到预检报告（跟单端连接服务器后的第一轮会发送）"]
    p = report.get("preflight") or {}
    follower = report.get("follower") or {}
    brokers: dict[object, str] = {"builtin": "QMT 内置", "miniqmt": "miniQMT", "paper": "模拟券商"}
    lines = [
        "预检报告 / preflight: 收到于 %s，交易所时间 %s"
        % (report.get("received_at") or "—", p.get("at") or "—"),
        "  券商 %s · Python %s · %s%s"
        % (
            brokers.get(p.get("broker"), p.get("broker") or "—"),
            p.get("python") or "—",
            p.get("platform") or "—",
            " · 跟单端 %s" % follower["version"] if follower.get("version") else "",
        ),
    ]
    asset = p.get("asset")
    if asset:
        lines.append(
            "  资金：现金 %s，冻结 %s，市值 %s，总资产 %s"
            % (
                _num(asset.get("cash")),
                _num(asset.get("frozen_cash")),
                _num(asset.get("market_value")),
                _num(asset.get("total_asset")),
            )
        )
    else:
        lines.append("  资金：未读到")
    positions = p.get("positions") or []
    lines.append("  持仓 %d 个%s" % (len(positions), "：" if positions else ""))
    for row in positions[:PREFLIGHT_ROWS]:
        lines.append(
            "    %-10s %-8s 数量 %s 可用 %s 成本 %s"
            % (
                row.get("code"),
                row.get("name") or "",
                _num(row.get("volume")),
                _num(row.get("can_use_volume")),
                _num(row.get("avg_cost"), 3),
            )
        )
    if len(positions) > PREFLIGHT_ROWS:
        lines.append("    …另有 %d 个" % (len(positions) - PREFLIGHT_ROWS))
    orders = p.get("open_orders") or []
    lines.append("  未完成委托 %d 笔%s" % (len(orders), "：" if orders else ""))
    for row in orders[:PREFLIGHT_ROWS]:
        side = {"buy": "买", "sell": "卖"}.get(row.get("side"), row.get("side") or "")
        lines.append(
            "    %s %s %s 已成 %s @ %s 状态 %s %s"
            % (
                side,
                row.get("code"),
                _num(row.get("volume")),
                _num(row.get("traded_volume")),
                _num(row.get("price"), 3),
                row.get("status") if row.get("status") is not None else "—",
                row.get("remark") or "",
            )
        )
    if len(orders) > PREFLIGHT_ROWS:
        lines.append("    …另有 %d 笔" % (len(orders) - PREFLIGHT_ROWS))
    quotes = p.get("quotes") or []
    if quotes:
        lines.append("  行情 %d 个：" % len(quotes))
        lines.extend(
            "    %s 最新 %s 买一 %s 卖一 %s（%s）"
            % (
                q.get("code"),
                _num(q.get("last"), 3),
                _num(q.get("bid1"), 3),
                _num(q.get("ask1"), 3),
                _age(q.get("age_seconds")),
            )
            for q in quotes
        )
    else:
        lines.append("  行情：没有读到")
    fields = p.get("fields") or {}
    if fields:
        lines.append(
            "  读到的字段："
            + "；".join(
                "%s %d 个（%s）"
                % (
                    group,
                    len(names or []),
                    ", ".join((names or [])[:6]) + ("…" if len(names or []) > 6 else ""),
                )
                for group, names in sorted(fields.items())
            )
        )
    checks = p.get("checks") or {}
    http: dict[object, str] = {"thread": "后台线程", "inline": "同一线程", "sync": "同步"}
    yes_no = lambda v: "—" if v is None else ("可用" if v else "不可用")  # noqa: E731
    lines.append(
        "  运行环境：HTTP %s · 线程 %s · requests %s · 日志 %s%s"
        % (
            http.get(checks.get("http"), checks.get("http") or "—"),
            yes_no(checks.get("threads")),
            yes_no(checks.get("requests")),
            checks.get("journal") or "无",
            "（写入失败：%s）" % checks["journal_error"] if checks.get("journal_error") else "",
        )
    )
    lines.append("  一轮耗时 %s 毫秒" % _num(p.get("round_ms"), 1))
    errors = p.get("errors") or []
    if errors:
        lines.append("  错误 %d 条：" % len(errors))
        lines.extend("    " + text for text in errors[:10])
        if len(errors) > 10:
            lines.append("    …另有 %d 条" % (len(errors) - 10))
    else:
        lines.append("  错误：无")
    return lines


@account.command()
@click.argument("account_id")
@instance_options
def confirm(account_id, instance_dir, database_url):
    """看过预检报告后确认账户，跟单端开始下单 / confirm the account after its preflight: the follower starts trading."""
    from jq2qmt.store import accounts

    def write(db):
        with db.read() as session:
            was = accounts.get_account(session, account_id).confirmed
        return was, accounts.confirm_account(db, account_id)

    was, summary = _run(instance_dir, database_url, write)
    if was:
        click.echo("账户 %s 早已确认，无需再确认 / already confirmed" % account_id)
        return
    if not summary["preflight"]:
        click.echo("注意：还没有收到这个账户的预检报告 / note: no preflight report was received")
    click.echo(
        "已确认账户 %s：跟单端下一轮起按计划真实下单 / confirmed: the follower places real orders "
        "from its next round" % account_id
    )


@account.command()
@click.argument("account_id")
@click.option(
    "--rotate",
    is_flag=True,
    help="吊销旧令牌并生成新令牌 / revoke the old token and make a new one",
)
@instance_options
def token(account_id, rotate, instance_dir, database_url):
    """生成该账户的跟单令牌（只显示一次） / a follower token for the account (shown once)."""
    from jq2qmt.store import accounts

    value = _run(
        instance_dir,
        database_url,
        lambda db: accounts.create_follower_token(db, account_id, rotate),
    )
    click.echo(
        "账户 %s 的跟单令牌 — 只显示这一次，请妥善保存 / follower token, shown only once:"
        % account_id
    )
    click.echo(value)


@account.command()
@click.argument("account_id")
@click.argument("plan_version")
@instance_options
def approve(account_id, plan_version, instance_dir, database_url):
    """批准被暂缓的计划（跟单端执行一次） / approve a held plan (traded once)."""
    from jq2qmt.store import accounts

    _run(
        instance_dir,
        database_url,
        lambda db: accounts.decide(db, account_id, plan_version, "approved", "cli"),
    )
    click.echo("已批准 / approved: account %s plan %s" % (account_id, plan_version))


@account.command()
@click.argument("account_id")
@click.argument("plan_version")
@instance_options
def reject(account_id, plan_version, instance_dir, database_url):
    """拒绝被暂缓的计划（不执行） / reject a held plan (it stays untraded)."""
    from jq2qmt.store import accounts

    _run(
        instance_dir,
        database_url,
        lambda db: accounts.decide(db, account_id, plan_version, "rejected", "cli"),
    )
    click.echo("已拒绝 / rejected: account %s plan %s" % (account_id, plan_version))
