"""`jq2qmt export jq|qmt`: write the client files a user copies to JoinQuant or QMT."""

from pathlib import Path

import click

from jq2qmt.cli.export_qmt import qmt


@click.group()
def export():
    """导出客户端文件（聚宽上传端、QMT 跟单脚本）。

    Export the client files for JoinQuant (`jq`) or QMT (`qmt`).
    """


@click.command("jq")
@click.option(
    "--instance",
    "instance_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="实例目录（默认 $JQ2QMT_INSTANCE 或 ./jq2qmt-instance）/ instance folder.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("jq2qmt-joinquant"),
    show_default=True,
    help="输出目录 / output folder.",
)
@click.option(
    "--url",
    "api_url",
    default=None,
    help="聚宽访问服务器用的地址，覆盖实例的 public_url / server URL as JoinQuant reaches it.",
)
@click.option(
    "--upload-token",
    default=None,
    help="令牌模式实例（init --key-type token）的上传令牌 / upload token of a token-mode instance.",
)
def jq(instance_dir, out_dir, api_url, upload_token):
    """生成聚宽端文件：jq_qmt_api.py、jq_config.py 和私钥文件。

    Write jq_qmt_api.py, jq_config.py and the private key file for the JoinQuant
    research root, then print the three steps to do on JoinQuant.
    """
    from jq2qmt import config
    from jq2qmt.clients import export_jq

    instance_dir = instance_dir or config.default_instance_dir()
    if not Path(instance_dir).is_dir():
        raise click.ClickException(
            "实例目录不存在 / instance folder not found: %s（先运行 jq2qmt serve 或 jq2qmt init）"
            % instance_dir
        )
    if api_url is not None and not api_url.startswith(("http://", "https://")):
        raise click.BadParameter(
            "必须以 http:// 或 https:// 开头 / must start with http(s)://", param_hint="--url"
        )
    try:
        settings = config.load_settings(instance_dir)
        paths = export_jq.export_jq(settings, out_dir, api_url=api_url, upload_token=upload_token)
    except (config.ConfigError, export_jq.ExportError) as exc:
        raise click.ClickException(str(exc))
    except OSError as exc:
        raise click.ClickException(
            "无法写入 / cannot write %s: %s" % (out_dir, exc.strerror or exc)
        )
    click.echo(export_jq.next_steps(paths, (api_url or settings.public_url).rstrip("/")))


export.add_command(jq)
export.add_command(qmt)
