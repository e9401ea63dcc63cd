"""`jq2qmt serve`: run the HTTP server for an instance (creating it on first run)."""

import json
import os
from pathlib import Path

import click

from jq2qmt.cli.db import instance_options, open_or_fail
from jq2qmt.config import CONFIG_FILE, ConfigError, default_instance_dir


def _first_run(folder, database_url, host, port):
    import os

    from jq2qmt.cli.init import guess_public_host, print_summary
    from jq2qmt.config import DEFAULT_HOST, DEFAULT_PORT, ENV_DATABASE_URL
    from jq2qmt.instance import init_instance

    port = port or DEFAULT_PORT
    click.echo("首次运行：创建实例 / first run: creating the instance %s" % folder)
    try:
        result = init_instance(
            folder,
            database_url=database_url or os.environ.get(ENV_DATABASE_URL),
            host=host or DEFAULT_HOST,
            port=port,
            public_url="http://%s:%d" % (guess_public_host(), port),
        )
    except ConfigError as exc:
        raise click.ClickException(str(exc))
    print_summary(result)


@click.command()
@instance_options
@click.option(
    "--host", default=None, help="监听地址 / listen address [default: from instance, 0.0.0.0]"
)
@click.option(
    "--port", type=int, default=None, help="监听端口 / listen port [default: from instance, 5366]"
)
@click.option(
    "--certfile",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="TLS 证书（直接提供 HTTPS） / TLS certificate file (serve HTTPS directly)",
)
@click.option(
    "--keyfile",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="TLS 私钥 / TLS key file",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="日志级别 / log level",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="工作进程数（多核；状态都在数据库中，各进程可并行） / worker processes (use the cores; all "
    "state is in the database). Windows: supported by uvicorn, but Ctrl-C and restarts are "
    "less graceful; prefer one process per port behind a proxy there",
)
@click.option(
    "--max-header-bytes",
    type=click.IntRange(min=1),
    default=None,
    help="请求头总字节上限，超出回 431 / total request header bytes, else 431 [default: from instance, 16384]",
)
@click.option(
    "--max-header-fields",
    type=click.IntRange(min=1),
    default=None,
    help="请求头字段数上限，超出回 431 / request header fields, else 431 [default: from instance, 100]",
)
@click.option(
    "--max-request-line",
    type=click.IntRange(min=1),
    default=None,
    help="请求行（URL）字节上限，超出回 414 / request line bytes, else 414 [default: from instance, 8192]",
)
@click.option(
    "--header-timeout",
    type=click.IntRange(min=1),
    default=None,
    help="须在几秒内发完请求头，否则断开 / seconds to send the request headers [default: from instance, 10]",
)
@click.option(
    "--body-timeout",
    type=click.IntRange(min=1),
    default=None,
    help="请求体停顿几秒即断开 / seconds a request body may stall [default: from instance, 30]",
)
@click.option(
    "--keep-alive-timeout",
    type=click.IntRange(min=1),
    default=None,
    help="空闲长连接几秒后关闭 / seconds an idle keep-alive connection stays open [default: from instance, 5]",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    default=None,
    help="每个工作进程的最大连接数，超出回 503 / open connections per worker process, else 503 "
    "[default: from instance, 500]",
)
def serve(
    instance_dir, database_url, host, port, certfile, keyfile, log_level, workers, **limit_options
):
    """启动服务器（首次运行自动创建实例） / run the server (creates the instance on first run)."""
    import uvicorn

    from jq2qmt.config import load_settings
    from jq2qmt.server.app import create_app
    from jq2qmt.server.transport import TransportLimits, uvicorn_options
    from jq2qmt.store import credentials

    folder = Path(instance_dir) if instance_dir else default_instance_dir()
    if not (folder / CONFIG_FILE).exists():
        _first_run(folder, database_url, host, port)
    try:
        settings = load_settings(
            folder,
            database_url=database_url,
            host=host,
            port=port,
            certfile=certfile,
            keyfile=keyfile,
            **limit_options,
        )
        limits = TransportLimits.from_settings(settings)
    except (ConfigError, ValueError) as exc:
        raise click.ClickException(str(exc))
    if bool(settings.certfile) != bool(settings.keyfile):
        raise click.ClickException(
            "--certfile 与 --keyfile 需同时给出 / give both --certfile and --keyfile"
        )
    _settings, database = open_or_fail(
        folder, settings.database_url
    )  # refuses a schema that is behind
    try:
        with database.read() as session:
            has_password = credentials.admin_password_info(session) is not None
    finally:
        database.dispose()
    if not has_password:
        click.echo(
            "警告：未设置管理员密码，运行 jq2qmt password set / warning: no admin password, run: jq2qmt password set",
            err=True,
        )
    scheme = "https" if settings.certfile else "http"
    click.echo(
        "jq2qmt 服务 / serving %s on %s://%s:%d  (外部地址 / public URL: %s)"
        % (settings.instance_dir, scheme, settings.host, settings.port, settings.public_url)
    )
    from jq2qmt.logging_setup import access_log_config, setup_logging

    setup_logging(settings.instance_dir, log_level)
    options = dict(
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        ssl_certfile=settings.certfile,
        ssl_keyfile=settings.keyfile,
        # X-Forwarded-For is read by the app, from [server] trusted_proxies only
        proxy_headers=False,
        # the console access log shows query strings with their values masked
        log_config=access_log_config(),
        # waiting long-polls (up to 30 s) must not hold up a shutdown
        timeout_graceful_shutdown=3,
        # header/body size and time limits, connection cap (server/transport.py)
        **uvicorn_options(limits),
    )
    if workers > 1:
        # Each worker is a fresh process: it rebuilds the app from the instance
        # (the environment carries the folder and the options given here).
        os.environ[_ENV_WORKER] = json.dumps(
            {
                "instance": str(settings.instance_dir),
                "database_url": database_url,
                "host": host,
                "port": port,
                "certfile": certfile,
                "keyfile": keyfile,
                "log_level": log_level,
            }
        )
        uvicorn.run("jq2qmt.cli.serve:worker_app", factory=True, workers=workers, **options)
    else:
        uvicorn.run(create_app(settings), **options)


_ENV_WORKER = "JQ2QMT_SERVE_WORKER"


def worker_app():
    """App factory of one `serve --workers N` worker process (see `serve`)."""
    from jq2qmt.config import load_settings
    from jq2qmt.logging_setup import setup_logging
    from jq2qmt.server.app import create_app

    options = json.loads(os.environ[_ENV_WORKER])
    settings = load_settings(
        Path(options["instance"]),
        database_url=options["database_url"],
        host=options["host"],
        port=options["port"],
        certfile=options["certfile"],
        keyfile=options["keyfile"],
    )
    setup_logging(settings.instance_dir, options["log_level"])
    return create_app(settings)
