"""`jq2qmt sessions list|revoke`: the web pages' login sessions."""

import click

from jq2qmt.cli.db import instance_options, open_or_fail
from jq2qmt.store.snapshot import format_time


@click.group()
def sessions():
    """网页登录会话 / web login sessions (list, revoke)."""


@sessions.command(name="list")
@instance_options
def list_(instance_dir, database_url):
    """列出有效的登录会话 / list the active login sessions."""
    from jq2qmt.server.sessions import list_active

    _settings, database = open_or_fail(instance_dir, database_url)
    try:
        with database.read() as tx:
            rows = list_active(tx)
    finally:
        database.dispose()
    click.echo(
        "%-32s  %-25s  %-25s  %-15s  %s" % ("ID", "CREATED", "EXPIRES", "ADDRESS", "BROWSER")
    )
    for r in rows:
        click.echo(
            "%-32s  %-25s  %-25s  %-15s  %s"
            % (
                r["id"],
                format_time(r["created_at"]),
                format_time(r["expires_at"]),
                r["remote_addr"] or "-",
                (r["user_agent"] or "-")[:60],
            )
        )
    if not rows:
        click.echo("（没有有效会话 / no active session）")


@sessions.command()
@click.argument("session_id", required=False)
@click.option(
    "--all", "all_", is_flag=True, help="吊销全部会话（所有人退出登录） / revoke every session"
)
@instance_options
def revoke(session_id, all_, instance_dir, database_url):
    """吊销一个会话（ID 或至少 8 位前缀）或 --all / revoke one session (id or a prefix of 8+ characters) or --all."""
    from jq2qmt.server.sessions import AmbiguousSession
    from jq2qmt.server.sessions import revoke as revoke_rows

    if bool(session_id) == bool(all_):
        raise click.UsageError(
            "给出会话 ID 或 --all（二选一） / give a session id or --all, not both"
        )
    _settings, database = open_or_fail(instance_dir, database_url)
    try:
        count = revoke_rows(database, None if all_ else session_id)
    except AmbiguousSession:
        raise click.ClickException(
            "前缀 %s 对应多个会话，请给出更长的 ID / prefix %s matches several sessions, give more "
            "of the id" % (session_id, session_id)
        )
    finally:
        database.dispose()
    if not all_ and count == 0:
        raise click.ClickException("没有这个有效会话 / no active session %s" % session_id)
    click.echo("已吊销 %d 个会话 / revoked %d session(s)" % (count, count))
