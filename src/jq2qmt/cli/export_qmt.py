"""`jq2qmt export qmt`: write the strategy file to paste into QMT's strategy editor."""

from pathlib import Path

import click


@click.command("qmt")
@click.option("--instance", "instance_dir", type=click.Path(path_type=Path), default=None,
              help="实例目录（默认 $JQ2QMT_INSTANCE 或 ./jq2qmt-instance）/ instance folder.")
@click.option("--account", "account_id", required=True,
              help="QMT 资金账号（服务器上 jq2qmt account add 的 ID）/ account id.")
@click.option("--token", default=None,
              help="该账号的跟单令牌（jq2qmt account token ID 给出）/ the account's follower token.")
@click.option("--server", "server_url", default=None,
              help="QMT 访问服务器用的地址，覆盖实例的 public_url / server URL as QMT reaches it.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path("jq2qmt-qmt"), show_default=True, help="输出目录 / output folder.")
@click.option("--period", default="1nSecond", show_default=True,
              help="定时器周期，如 1nSecond、500nMilliSecond / timer period.")
@click.option("--timeout", default=0.8, show_default=True, type=float,
              help="每次网络请求的超时（秒）/ timeout of each HTTP call (s).")
def qmt(instance_dir, account_id, token, server_url, out_dir, period, timeout):
    """生成 QMT 内置 Python 跟单脚本（GBK 编码，粘贴到 QMT 策略编辑器）。

    Write one standalone file for QMT's built-in strategy Python that follows the
    account ACCOUNT on the jq2qmt server.
    """
    from jq2qmt.clients import export_qmt

    if server_url is None:
        server_url = _instance_url(instance_dir)
    if not token:
        raise click.UsageError(
            "需要 --token：先运行 jq2qmt account token %s 获取跟单令牌 / --token is required"
            % account_id)
    try:
        path = export_qmt.export_qmt(out_dir, server_url, token, account_id, period=period,
                                     timeout=timeout)
    except export_qmt.ExportError as exc:
        raise click.ClickException(str(exc))
    except OSError as exc:
        raise click.ClickException("无法写入 / cannot write %s: %s" % (out_dir, exc.strerror or exc))
    click.echo("已生成 / written: %s" % path)
    click.echo("服务器 / server: %s   账号 / account: %s" % (server_url.rstrip("/"), account_id))
    click.echo("下一步：在 QMT「模型研究 -> 策略编辑器」新建 Python 策略，粘贴文件全部内容，"
               "运行设置选择股票账号 %s、实盘模式，然后运行（详见 README）。" % account_id)


def _instance_url(instance_dir):
    from jq2qmt import config

    instance_dir = instance_dir or config.default_instance_dir()
    if not Path(instance_dir).is_dir():
        raise click.ClickException(
            "实例目录不存在 / instance folder not found: %s（或用 --server 指定服务器地址）"
            % instance_dir)
    try:
        return config.load_settings(instance_dir).public_url
    except config.ConfigError as exc:
        raise click.ClickException(str(exc))
