"""`jq2qmt demo`: server + simulated JoinQuant strategy + paper follower on loopback."""

import click


@click.command()
@click.option(
    "--cycles",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="运行多少轮（每轮一个模拟交易日）后退出，0 表示直到 Ctrl-C / cycles before exiting, 0 = until Ctrl-C",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="两轮之间的秒数 / seconds between cycles",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="端口 [默认随机空闲端口] / port [default: a free one]",
)
@click.option(
    "--keep", is_flag=True, help="退出后保留临时实例目录 / keep the temporary instance folder"
)
@click.option("--seed", type=int, default=None, help="价格随机数种子 / random seed for the prices")
def demo(cycles, interval, port, keep, seed):
    """演示：本机启动服务器、模拟聚宽策略和纸面跟单账户 / run the whole system on loopback.

    临时 SQLite 实例上的服务器、每隔几秒调仓并上传的模拟聚宽策略、通过 HTTP 跟单的
    纸面账户；打印网址和登录密码，浏览器里可以看到一切在动。Ctrl-C 停止并清理。
    """
    from jq2qmt.demo import run_demo

    try:
        summary = run_demo(
            cycles=cycles, interval=interval, port=port, keep=keep, seed=seed, echo=click.echo
        )
    except OSError as exc:
        raise click.ClickException(
            "演示无法启动 / the demo could not start: %s" % (exc.strerror or exc)
        )
    except RuntimeError as exc:
        raise click.ClickException(str(exc))
    click.echo(
        "共 %d 轮，纸面账户跟上 %d 轮 / %d cycles, paper account in line after %d"
        % (summary["cycles"], summary["converged"], summary["cycles"], summary["converged"])
    )
    if keep:
        click.echo("实例保留在 / instance kept in %s" % summary["folder"])
