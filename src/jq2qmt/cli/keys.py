"""`jq2qmt keys add-client|generate|list|revoke`: JoinQuant upload clients."""

import re
from pathlib import Path

import click

from jq2qmt.cli.db import instance_options, open_or_fail
from jq2qmt.config import write_secret_bytes
from jq2qmt.store import credentials
from jq2qmt.store.snapshot import format_time

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _check_name(name):
    if not _NAME.match(name):
        raise click.ClickException(
            "客户端名只能含 1-64 个 [A-Za-z0-9_.-] / client name must be 1-64 of [A-Za-z0-9_.-]"
        )


@click.group()
def keys():
    """聚宽上传客户端的密钥 / upload client keys (JoinQuant)."""


@keys.command(name="add-client")
@click.argument("name")
@click.option(
    "--public-key",
    "public_key",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM 公钥文件（RSA ≥2048 或 Ed25519） / PEM public key file (RSA >= 2048 or Ed25519)",
)
@instance_options
def add_client(name, public_key, instance_dir, database_url):
    """用已有公钥注册客户端 / register a client with an existing public key."""
    _check_name(name)
    _settings, database = open_or_fail(instance_dir, database_url)
    try:
        kind = credentials.add_key_client(database, name, public_key.read_bytes())
    except credentials.CredentialError as exc:
        raise click.ClickException(str(exc))
    finally:
        database.dispose()
    click.echo("已注册客户端 / registered client %s (%s)" % (name, kind))


@keys.command()
@click.argument("name")
@click.option(
    "--type",
    "kind",
    type=click.Choice(["rsa", "ed25519", "token"]),
    default="rsa",
    show_default=True,
    help="密钥类型；token 为无需 cryptography 的明文上传令牌（较不安全） / key type; token = plain upload "
    "token for clients without cryptography (less safe)",
)
@instance_options
def generate(name, kind, instance_dir, database_url):
    """生成密钥对并注册客户端 / generate a key pair and register the client."""
    from jq2qmt.instance import generate_key_pair

    _check_name(name)
    settings, database = open_or_fail(instance_dir, database_url)
    try:
        if kind == "token":
            token = credentials.add_token_client(database, name)
            click.echo(
                "已注册令牌客户端 / registered token client %s。上传令牌（只显示一次，放在 %s 请求头） / upload "
                "token (shown once, send it in the X-JQ2QMT-Upload-Token header):"
                % (name, "X-JQ2QMT-Upload-Token")
            )
            click.echo(token)
            return
        private_pem, public_pem = generate_key_pair(kind)
        private_path = settings.instance_dir / "keys" / ("%s_private.pem" % name)
        public_path = settings.instance_dir / "keys" / ("%s_public.pem" % name)
        if private_path.exists():
            raise click.ClickException(
                "私钥文件已存在 / private key file exists: %s" % private_path
            )
        credentials.add_key_client(database, name, public_pem)
    except credentials.CredentialError as exc:
        raise click.ClickException(str(exc))
    finally:
        database.dispose()
    write_secret_bytes(private_path, private_pem)
    public_path.write_bytes(public_pem)
    click.echo("已注册客户端 / registered client %s (%s)" % (name, kind))
    click.echo("私钥 / private key (0600): %s" % private_path)
    click.echo("公钥 / public key: %s" % public_path)


@keys.command(name="list")
@instance_options
def list_(instance_dir, database_url):
    """列出客户端 / list clients."""
    _settings, database = open_or_fail(instance_dir, database_url)
    try:
        with database.read() as session:
            rows = [
                (
                    c.name,
                    c.kind,
                    format_time(c.created_at),
                    "revoked " + format_time(c.revoked_at) if c.revoked_at else "active",
                )
                for c in credentials.list_clients(session)
            ]
    finally:
        database.dispose()
    click.echo("%-24s %-8s %-25s %s" % ("NAME", "TYPE", "CREATED", "STATE"))
    for row in rows:
        click.echo("%-24s %-8s %-25s %s" % row)


@keys.command()
@click.argument("name")
@instance_options
def revoke(name, instance_dir, database_url):
    """吊销客户端（之后的上传都被拒绝） / revoke a client (its uploads are refused)."""
    _settings, database = open_or_fail(instance_dir, database_url)
    try:
        credentials.revoke_client(database, name)
    except credentials.CredentialError as exc:
        raise click.ClickException(str(exc))
    finally:
        database.dispose()
    click.echo("已吊销 / revoked: %s" % name)
