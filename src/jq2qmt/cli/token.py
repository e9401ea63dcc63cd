"""`jq2qmt token create|list|revoke`: bearer tokens for readers and followers."""

import click

from jq2qmt.cli.db import instance_options, open_or_fail
from jq2qmt.store import credentials
from jq2qmt.store.snapshot import format_time


@click.group()
def token():
    """读取/跟单令牌 / API tokens for readers and followers."""


@token.command()
@click.argument("name")
@click.option(
    "--scope",
    type=click.Choice(credentials.SCOPES),
    default="read",
    show_default=True,
    help="权限 / scope",
)
@click.option(
    "--account",
    "account_id",
    default=None,
    help="绑定的账户 ID（follow 令牌） / account id for a follow token",
)
@instance_options
def create(name, scope, account_id, instance_dir, database_url):
    """创建令牌（只显示一次） / create a token (shown once)."""
    if not name or len(name) > 64:
        raise click.ClickException("名称需 1-64 个字符 / name must have 1-64 characters")
    _settings, database = open_or_fail(instance_dir, database_url)
    try:
        value = credentials.create_token(database, name, scope, account_id)
    except credentials.CredentialError as exc:
        raise click.ClickException(str(exc))
    finally:
        database.dispose()
    click.echo(
        "令牌 / token %s (scope %s) — 只显示这一次，请妥善保存 / shown only once, keep it safe:"
        % (name, scope)
    )
    click.echo(value)


@token.command(name="list")
@instance_options
def list_(instance_dir, database_url):
    """列出令牌（不含令牌本身） / list tokens (never the token text)."""
    _settings, database = open_or_fail(instance_dir, database_url)
    try:
        with database.read() as session:
            rows = credentials.list_tokens(session)
            lines = [
                "%-24s %-7s %-16s %-25s %s"
                % (
                    r.name,
                    r.scope,
                    r.account_id or "-",
                    format_time(r.created_at),
                    "revoked " + format_time(r.revoked_at) if r.revoked_at else "active",
                )
                for r in rows
            ]
    finally:
        database.dispose()
    click.echo("%-24s %-7s %-16s %-25s %s" % ("NAME", "SCOPE", "ACCOUNT", "CREATED", "STATE"))
    for line in lines:
        click.echo(line)


@token.command()
@click.argument("name")
@instance_options
def revoke(name, instance_dir, database_url):
    """吊销令牌 / revoke a token."""
    _settings, database = open_or_fail(instance_dir, database_url)
    try:
        count = credentials.revoke_token(database, name)
    except credentials.CredentialError as exc:
        raise click.ClickException(str(exc))
    finally:
        database.dispose()
    click.echo("已吊销 / revoked: %s (%d)" % (name, count))
