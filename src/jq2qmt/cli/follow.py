"""`jq2qmt follow`: keep a miniQMT (or paper) account in line with its plan."""

import logging
from pathlib import Path

import click

TOKEN_ENV = "JQ2QMT_FOLLOWER_TOKEN"


@click.command("follow")
@click.option(
    "--instance",
    "instance_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="实例目录：取服务器地址，纸面账户文件和日志也放在这里 / instance folder.",
)
@click.option(
    "--server", "server_url", default=None, help="服务器地址（不用 --instance 时必填）/ server URL."
)
@click.option(
    "--token",
    default=None,
    envvar=TOKEN_ENV,
    help="账号的跟单令牌（或环境变量 %s）/ follower token." % TOKEN_ENV,
)
@click.option("--account", "account_id", required=True, help="资金账号 / account id.")
@click.option(
    "--broker",
    type=click.Choice(["miniqmt", "paper"]),
    default="miniqmt",
    show_default=True,
    help="miniqmt：真实账户；paper：纸面账户 / broker.",
)
@click.option(
    "--qmt-path",
    type=click.Path(path_type=Path),
    default=None,
    help="miniQMT 的 userdata_mini 目录 / path to userdata_mini.",
)
@click.option(
    "--session-id",
    type=int,
    default=None,
    help="xtquant 会话编号（多个程序同时连接时各不相同）/ xtquant session id.",
)
@click.option(
    "--paper-file",
    type=click.Path(path_type=Path),
    default=None,
    help="纸面账户 JSON 文件（默认 实例目录/paper_account.json）/ paper account file.",
)
@click.option("--once", is_flag=True, help="只运行一轮后退出 / run one round and exit.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="演练：只报告将要下的单，不下单 / report what would be sent, send nothing.",
)
@click.option(
    "--timeout",
    default=3.0,
    show_default=True,
    type=float,
    help="每次网络请求的超时（秒）/ HTTP timeout (s).",
)
@click.option(
    "--at",
    "start_at",
    type=click.DateTime(["%Y-%m-%d %H:%M:%S"]),
    default=None,
    hidden=True,
    help="纸面账户回放：从这个北京时间开始计时 / paper replay start time.",
)
def follow(
    instance_dir,
    server_url,
    token,
    account_id,
    broker,
    qmt_path,
    session_id,
    paper_file,
    once,
    dry_run,
    timeout,
    start_at,
):
    """跟单守护进程：长轮询目标仓位，下单，报告；Ctrl-C 安全退出。

    Follow the account's plan on the jq2qmt server with miniQMT (xtquant) or a paper
    account: long-polls the plan, trades in session, reports each round.
    """
    from jq2qmt import __version__
    from jq2qmt.follower import daemon, scheduler
    from jq2qmt.follower.client import PlanClient
    from jq2qmt.follower.loop import Follower

    server_url = server_url or _instance_url(instance_dir)
    if not token:
        raise click.UsageError("需要 --token（或环境变量 %s）/ --token is required" % TOKEN_ENV)
    log = _logger(instance_dir, account_id)
    adapter, after_round, close = _broker(
        broker, instance_dir, account_id, qmt_path, session_id, paper_file, log, _echo(log)
    )
    client = PlanClient(server_url, token, account_id, timeout=timeout)
    clock = scheduler.beijing_now
    if start_at is not None:
        if broker != "paper":
            raise click.UsageError("--at 只用于纸面账户 / --at is for the paper broker only")
        clock = _replay_clock(start_at)
    follower = Follower(adapter, client, clock, log=log.info, dry_run=dry_run, version=__version__)
    click.echo(
        "跟单 / following: account %s via %s, server %s%s"
        % (account_id, broker, server_url, "（演练 / dry run）" if dry_run else "")
    )
    try:
        report = daemon.run(follower, once=once, echo=_echo(log), after_round=after_round)
    finally:
        close()
    if once and report is not None and report["status"] == "error":
        raise SystemExit(1)


def _replay_clock(start_at):
    import datetime
    import time

    origin = time.monotonic()
    return lambda: start_at + datetime.timedelta(seconds=time.monotonic() - origin)


def _echo(log):
    def echo(line):
        click.echo(line)
        log.info(line)

    return echo


def _instance_url(instance_dir):
    from jq2qmt import config

    if instance_dir is None:
        raise click.UsageError("需要 --instance 或 --server / give --instance or --server")
    if not Path(instance_dir).is_dir():
        raise click.ClickException("实例目录不存在 / instance folder not found: %s" % instance_dir)
    try:
        return config.load_settings(instance_dir).public_url
    except config.ConfigError as exc:
        raise click.ClickException(str(exc))


def _logger(instance_dir, account_id):
    log = logging.getLogger("jq2qmt.follow")
    log.setLevel(logging.INFO)
    log.propagate = False
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    if instance_dir is not None and Path(instance_dir).is_dir():
        folder = Path(instance_dir) / "logs"
        folder.mkdir(exist_ok=True)
        safe = "".join(c if c.isalnum() else "_" for c in account_id)
        handler = logging.FileHandler(str(folder / ("follow-%s.log" % safe)), encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
    else:
        log.addHandler(logging.NullHandler())
    return log


def _broker(kind, instance_dir, account_id, qmt_path, session_id, paper_file, log, echo):
    """(adapter, after_round, close) for the chosen broker."""
    if kind == "paper":
        from jq2qmt.brokers.paper import STATE_FILE, PaperAccountFile, PaperBroker

        if paper_file is None:
            if instance_dir is None:
                raise click.UsageError(
                    "纸面账户需要 --paper-file 或 --instance / "
                    "paper broker needs --paper-file or --instance"
                )
            paper_file = Path(instance_dir) / STATE_FILE
        store = PaperAccountFile(paper_file)
        exchange = store.load()
        return (
            PaperBroker(exchange),
            (lambda report: store.save(exchange)),
            (lambda: store.save(exchange)),
        )
    from jq2qmt.brokers import miniqmt
    from jq2qmt.brokers.base import BrokerError
    from jq2qmt.follower import daemon

    if qmt_path is None:
        raise click.UsageError(
            "miniQMT 需要 --qmt-path（如 D:\\国金QMT\\userdata_mini）/ --qmt-path is required"
        )
    adapter = miniqmt.MiniQmtBroker(qmt_path, account_id, session_id=session_id, log=log.info)
    try:
        daemon.connect_miniqmt(adapter, echo)
    except ImportError as exc:
        hint = (
            miniqmt.python_hint()
            or "请先安装：pip install xtquant / install it: pip install xtquant"
        )
        raise click.ClickException("无法加载 xtquant（%s）。%s" % (exc, hint))
    except BrokerError as exc:
        raise click.ClickException(
            "%s\n请确认：miniQMT 已启动并登录（登录界面勾选「极简模式」/「独立交易」）；--qmt-path "
            "指向它的 userdata_mini 目录；--account 是 miniQMT 登录的资金账号；没有其他程序使用同一个 "
            "--session-id。/ Check that miniQMT runs and is logged in, --qmt-path and --account."
            % (exc,)
        )
    return adapter, None, adapter.close
