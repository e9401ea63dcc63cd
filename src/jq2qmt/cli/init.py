"""`jq2qmt init`: guided setup of an instance (every prompt is also a flag)."""

from pathlib import Path

import click

from jq2qmt.config import (
    DEFAULT_CLIENT_ID,
    DEFAULT_HOST,
    DEFAULT_PORT,
    ConfigError,
    default_instance_dir,
)

_DEFAULT_DB_PORTS = {"mysql": 3306, "postgresql": 5432}
_DRIVERS = {"mysql": "mysql+pymysql", "postgresql": "postgresql+psycopg"}


def guess_public_host():
    """This machine's LAN address (no packet is sent), or 127.0.0.1."""
    import socket

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("10.255.255.255", 1))
            return sock.getsockname()[0]
    except OSError:
        return "127.0.0.1"


def build_database_url(db_type, host, port, user, password, name):
    """A SQLAlchemy URL from parts (the password is escaped properly)."""
    from sqlalchemy.engine import URL

    return URL.create(
        _DRIVERS[db_type],
        username=user or None,
        password=password or None,
        host=host,
        port=port,
        database=name,
    ).render_as_string(hide_password=False)


def _ask(value, interactive, text, default=None, **kwargs):
    if value is not None or not interactive:
        return value if value is not None else default
    return click.prompt(text, default=default, **kwargs)


def _database_url(opts, interactive):
    if opts["database_url"]:
        return opts["database_url"]
    db_type = _ask(
        opts["db_type"],
        interactive,
        "数据库类型 / database type",
        default="sqlite",
        type=click.Choice(["sqlite", "mysql", "postgresql"]),
    )
    if db_type == "sqlite":
        return None  # jq2qmt.sqlite3 inside the instance folder
    host = _ask(opts["db_host"], interactive, "数据库主机 / database host", default="127.0.0.1")
    port = _ask(
        opts["db_port"],
        interactive,
        "数据库端口 / database port",
        default=_DEFAULT_DB_PORTS[db_type],
        type=int,
    )
    user = _ask(
        opts["db_user"],
        interactive,
        "数据库用户名 / database user",
        default="root" if db_type == "mysql" else "postgres",
    )
    password = _ask(
        opts["db_password"],
        interactive,
        "数据库密码 / database password",
        default="",
        hide_input=True,
        show_default=False,
    )
    name = _ask(opts["db_name"], interactive, "数据库名 / database name", default="quant")
    return build_database_url(db_type, host, port, user, password, name)


def _public_url(opts, interactive, port):
    if opts["public_url"]:
        return opts["public_url"]
    host = _ask(
        opts["public_host"],
        interactive,
        "服务器外部地址（聚宽和 QMT 访问用） / public server address",
        default=guess_public_host(),
    )
    public_port = _ask(
        opts["public_port"], interactive, "外部访问端口 / public port", default=port, type=int
    )
    return "http://%s" % host if public_port == 80 else "http://%s:%d" % (host, public_port)


def _admin_password(value, interactive):
    from jq2qmt.store.credentials import password_problem

    if value is None and interactive:
        value = (
            click.prompt(
                "管理员密码（留空则自动生成） / admin password (empty = generate)",
                default="",
                hide_input=True,
                show_default=False,
            )
            or None
        )
    if value is not None:
        problem = password_problem(value)
        if problem:
            raise click.ClickException(problem)
    return value


@click.command()
@click.option(
    "--instance",
    "instance_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="实例目录 / instance folder [default: ./jq2qmt-instance]",
)
@click.option(
    "--database-url",
    default=None,
    help="完整数据库地址 / full database URL (sqlite:///, mysql+pymysql://, postgresql+psycopg://)",
)
@click.option(
    "--db-type",
    type=click.Choice(["sqlite", "mysql", "postgresql"]),
    default=None,
    help="数据库类型 / database type",
)
@click.option("--db-host", default=None, help="数据库主机 / database host")
@click.option("--db-port", type=int, default=None, help="数据库端口 / database port")
@click.option("--db-user", default=None, help="数据库用户名 / database user")
@click.option("--db-password", default=None, help="数据库密码 / database password")
@click.option("--db-name", default=None, help="数据库名 / database name")
@click.option("--host", default=None, help="监听地址 / listen address [default: 0.0.0.0]")
@click.option("--port", type=int, default=None, help="监听端口 / listen port [default: 5366]")
@click.option(
    "--public-url",
    default=None,
    help="聚宽/QMT 访问服务器的地址 / URL JoinQuant and QMT use, e.g. https://example.com",
)
@click.option(
    "--public-host", default=None, help="外部地址（与 --public-port 组成 URL） / public host"
)
@click.option("--public-port", type=int, default=None, help="外部端口 / public port")
@click.option(
    "--client-id", default=None, help="聚宽客户端名 / JoinQuant client id [default: joinquant]"
)
@click.option(
    "--key-type",
    type=click.Choice(["rsa", "ed25519", "token"]),
    default=None,
    help="上传认证：rsa（默认）、ed25519、token（明文令牌，较不安全） / upload auth: rsa, ed25519, token (less safe)",
)
@click.option(
    "--admin-password",
    default=None,
    help="管理员密码（默认生成） / admin password (generated by default)",
)
@click.option(
    "--non-interactive",
    is_flag=True,
    help="不提问，未给出的取默认值 / no prompts, defaults for the rest",
)
@click.option(
    "--force",
    is_flag=True,
    help="覆盖已有实例的配置和密钥 / overwrite an existing instance's settings and keys",
)
def init(instance_dir, non_interactive, force, **opts):
    """引导式初始化实例 / guided setup of a server instance."""
    from jq2qmt.instance import init_instance

    interactive = not non_interactive
    folder = instance_dir or default_instance_dir()
    if (folder / "jq2qmt.ini").exists() and not force:
        raise click.ClickException(
            "实例已存在（用 --force 覆盖） / instance exists (use --force to overwrite): %s"
            % folder
        )
    database_url = _database_url(opts, interactive)
    host = _ask(opts["host"], interactive, "监听地址 / listen address", default=DEFAULT_HOST)
    port = _ask(opts["port"], interactive, "监听端口 / listen port", default=DEFAULT_PORT, type=int)
    public_url = _public_url(opts, interactive, port)
    client_id = _ask(
        opts["client_id"],
        interactive,
        "聚宽客户端名 / JoinQuant client id",
        default=DEFAULT_CLIENT_ID,
    )
    key_type = _ask(
        opts["key_type"],
        interactive,
        "上传认证方式 / upload auth",
        default="rsa",
        type=click.Choice(["rsa", "ed25519", "token"]),
    )
    password = _admin_password(opts["admin_password"], interactive)
    try:
        result = init_instance(
            folder,
            database_url=database_url,
            host=host,
            port=port,
            public_url=public_url,
            admin_password=password,
            jq_client_id=client_id,
            client_kind=key_type,
            overwrite=force,
        )
    except ConfigError as exc:
        raise click.ClickException(str(exc))
    print_summary(result)


def print_summary(result):
    """What init wrote, and the secrets shown this one time."""
    from sqlalchemy.engine import make_url

    settings = result.settings
    click.echo("实例已创建 / instance created: %s" % settings.instance_dir)
    for path in result.written:
        click.echo("  写入 / wrote %s" % path)
    click.echo(
        "  数据库 / database: %s (已迁移 / migrated)"
        % make_url(settings.database_url).render_as_string(hide_password=True)
    )
    click.echo(
        "  监听 / listen: %s:%d   外部地址 / public URL: %s"
        % (settings.host, settings.port, settings.public_url)
    )
    click.echo(
        "  聚宽客户端 / JoinQuant client: %s (%s)" % (settings.jq_client_id, result.client_kind)
    )
    if result.upload_token:
        click.echo("  上传令牌（只显示一次） / upload token (shown once): %s" % result.upload_token)
    if result.password_generated:
        click.echo("")
        click.echo(
            "  管理员密码（只显示这一次，请立即保存） / admin password (shown only now, save it):"
        )
        click.echo("      %s" % result.admin_password)
        click.echo("")
    click.echo("下一步 / next: jq2qmt serve --instance %s" % settings.instance_dir)
