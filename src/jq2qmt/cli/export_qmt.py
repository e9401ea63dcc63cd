"""`jq2qmt export qmt`: write the strategy file to paste into QMT's strategy editor."""

from pathlib import Path

import click


@click.command("qmt")
@click.option(
    "--instance",
    "instance_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="实例目录（默认 $JQ2QMT_INSTANCE 或 ./jq2qmt-instance）/ instance folder.",
)
@click.option(
    "--account",
    "account_id",
    required=True,
    help="QMT 资金账号（服务器上 jq2qmt account add 的 ID）/ account id.",
)
@click.option(
    "--token",
    default=None,
    help="该账号的跟单令牌；不给时用 --instance 直接生成一个 / the account's follower token "
    "(made from the instance when omitted).",
)
@click.option(
    "--rotate-token",
    is_flag=True,
    help="账号已有令牌时吊销旧令牌、生成新令牌 / revoke the account's old token, make a new one.",
)
@click.option(
    "--server",
    "server_url",
    default=None,
    help="QMT 访问服务器用的地址，覆盖实例的 public_url / server URL as QMT reaches it.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("jq2qmt-qmt"),
    show_default=True,
    help="输出目录 / output folder.",
)
@click.option(
    "--period",
    default="1nSecond",
    show_default=True,
    help="定时器周期，如 1nSecond、500nMilliSecond / timer period.",
)
@click.option(
    "--timeout",
    default=0.8,
    show_default=True,
    type=float,
    help="每次网络请求的超时（秒）/ timeout of each HTTP call (s).",
)
@click.option(
    "--journal-dir",
    default="",
    help="QMT 电脑上存放在途委托日志的文件夹（默认用户目录下的 jq2qmt）/ folder of the "
    "in-flight journal on the QMT PC (default: ~/jq2qmt).",
)
@click.option(
    "--http-mode",
    type=click.Choice(["auto", "thread", "inline"]),
    default="auto",
    show_default=True,
    help="auto：后台线程做网络请求，线程不可用时退回短超时同步请求 / where HTTP runs.",
)
def qmt(
    instance_dir,
    account_id,
    token,
    rotate_token,
    server_url,
    out_dir,
    period,
    timeout,
    journal_dir,
    http_mode,
):
    """生成 QMT 内置 Python 跟单脚本（GBK 编码，粘贴到 QMT 策略编辑器）。

    Write one standalone file for QMT's built-in strategy Python that follows the
    account ACCOUNT on the jq2qmt server.
    """
    from jq2qmt.clients import export_qmt

    if server_url is None:
        server_url = _instance_url(instance_dir)
    if not token:
        token = _new_token(instance_dir, account_id, rotate_token)
    try:
        path = export_qmt.export_qmt(
            out_dir,
            server_url,
            token,
            account_id,
            period=period,
            timeout=timeout,
            journal_dir=journal_dir,
            http_mode=http_mode,
        )
    except export_qmt.ExportError as exc:
        raise click.ClickException(str(exc))
    except OSError as exc:
        raise click.ClickException(
            "无法写入 / cannot write %s: %s" % (out_dir, exc.strerror or exc)
        )
    click.echo("已生成 / written: %s" % path)
    click.echo("服务器 / server: %s   账号 / account: %s" % (server_url.rstrip("/"), account_id))
    click.echo(
        "下一步：在 QMT「模型研究 -> 策略编辑器」新建 Python 策略，粘贴文件全部内容，"
        "运行设置选择股票账号 %s、实盘模式，然后运行（详见 docs/qmt.md）。" % account_id
    )


def _new_token(instance_dir, account_id, rotate):
    """A fresh follower token for the account, made in the instance's database."""
    from jq2qmt.cli.db import open_or_fail
    from jq2qmt.store.accounts import AccountError, create_follower_token

    if instance_dir is None:
        raise click.UsageError("需要 --token，或用 --instance 生成 / give --token or --instance")
    _settings, database = open_or_fail(instance_dir, None)
    try:
        token = create_follower_token(database, account_id, rotate)
    except AccountError as exc:
        raise click.ClickException(
            "%s（可用 --token 传入已有令牌，或加 --rotate-token）" % exc.message
        )
    finally:
        database.dispose()
    click.echo(
        "已为账户 %s 生成跟单令牌并写入脚本 / a new follower token is in the file" % account_id
    )
    return token


def _instance_url(instance_dir):
    from jq2qmt import config

    instance_dir = instance_dir or config.default_instance_dir()
    if not Path(instance_dir).is_dir():
        raise click.ClickException(
            "实例目录不存在 / instance folder not found: %s（或用 --server 指定服务器地址）"
            % instance_dir
        )
    try:
        return config.load_settings(instance_dir).public_url
    except config.ConfigError as exc:
        raise click.ClickException(str(exc))
