"""`jq2qmt password set`: change the admin password from the shell."""

import sys

import click

from jq2qmt.cli.db import instance_options, open_or_fail
from jq2qmt.store import credentials


@click.group()
def password():
    """管理员密码 / the admin password."""


@password.command(name="set")
@click.option(
    "--generate",
    is_flag=True,
    help="生成随机密码并显示一次 / generate a random password and print it once",
)
@click.option(
    "--password-stdin", is_flag=True, help="从标准输入读取新密码 / read the new password from stdin"
)
@instance_options
def set_(generate, password_stdin, instance_dir, database_url):
    """设置管理员密码 / set the admin password."""
    from jq2qmt.instance import generate_password

    if generate and password_stdin:
        raise click.ClickException(
            "--generate 与 --password-stdin 只能选一个 / use only one of --generate, --password-stdin"
        )
    if generate:
        new = generate_password()
    elif password_stdin:
        new = sys.stdin.readline().rstrip("\r\n")
    else:
        new = click.prompt(
            "新密码 / new password", hide_input=True, confirmation_prompt="再输入一次 / repeat"
        )
    problem = credentials.password_problem(new)
    if problem:
        raise click.ClickException(problem)
    _settings, database = open_or_fail(instance_dir, database_url)
    try:
        credentials.set_admin_password(database, new)
    finally:
        database.dispose()
    click.echo("管理员密码已修改 / admin password changed")
    if generate:
        click.echo("新密码（只显示一次） / new password (shown once): %s" % new)
