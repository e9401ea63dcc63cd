"""`jq2qmt notify set|remove|event|list|test`: notification channels and events."""

import click

from jq2qmt.cli.db import instance_options, open_or_fail


def _secret(value, label):
    """'-' means: ask without echo (keeps the secret out of the shell history)."""
    if value == "-":
        return click.prompt(label, hide_input=True)
    return value


@click.group()
def notify():
    """通知渠道与事件（钉钉、企业微信、飞书、Server酱、邮件） / notification channels and events."""


@notify.command("set")
@instance_options
@click.argument("name")
@click.option(
    "--kind",
    required=True,
    type=click.Choice(["dingtalk", "wecom", "feishu", "serverchan", "email"]),
    help="渠道类型 / channel kind",
)
@click.option(
    "--url",
    default=None,
    help="机器人 Webhook 地址（Server酱：https://sctapi.ftqq.com/<SendKey>.send） / webhook URL",
)
@click.option(
    "--secret",
    default=None,
    help="加签密钥（钉钉、飞书；'-' 表示提示输入） / signing secret ('-' to prompt)",
)
@click.option("--smtp-host", default=None, help="SMTP 服务器 / SMTP host")
@click.option(
    "--smtp-port", type=int, default=None, help="SMTP 端口 [465 ssl, 587 starttls, 25 none]"
)
@click.option(
    "--smtp-security",
    type=click.Choice(["starttls", "ssl", "none"]),
    default="starttls",
    show_default=True,
)
@click.option("--smtp-user", default=None, help="SMTP 用户名 / SMTP user")
@click.option(
    "--smtp-password",
    default=None,
    help="SMTP 密码（'-' 表示提示输入） / SMTP password ('-' to prompt)",
)
@click.option("--sender", default=None, help="发件人 / From address [default: --smtp-user]")
@click.option("--to", "recipients", multiple=True, help="收件人（可多次） / recipient (repeatable)")
@click.option("--disabled", is_flag=True, help="保存但暂不启用 / save but keep disabled")
def set_channel(
    instance_dir,
    database_url,
    name,
    kind,
    url,
    secret,
    smtp_host,
    smtp_port,
    smtp_security,
    smtp_user,
    smtp_password,
    sender,
    recipients,
    disabled,
):
    """添加或修改通知渠道 NAME / add or replace the channel NAME."""
    from jq2qmt.notify.channels import ConfigProblem
    from jq2qmt.notify.settings import set_channel as store_channel

    if kind == "email":
        config = {
            "host": smtp_host,
            "port": smtp_port,
            "security": smtp_security,
            "username": smtp_user,
            "password": _secret(smtp_password, "SMTP 密码 / password"),
            "sender": sender,
            "to": list(recipients),
        }
    else:
        config = {"url": url, "secret": _secret(secret, "加签密钥 / secret")}
    config = {k: v for k, v in config.items() if v not in (None, "", [])}
    if not name or len(name) > 64:
        raise click.ClickException("渠道名称需 1-64 个字符 / channel name must be 1-64 characters")
    _settings, database = open_or_fail(instance_dir, database_url)
    try:
        store_channel(database, name, kind, config, enabled=not disabled)
    except ConfigProblem as exc:
        raise click.ClickException(str(exc))
    finally:
        database.dispose()
    click.echo(
        "已保存渠道 %s (%s)；用 jq2qmt notify test --channel %s 试发 / saved; try it with notify test"
        % (name, kind, name)
    )


@notify.command("remove")
@instance_options
@click.argument("name")
def remove_channel(instance_dir, database_url, name):
    """删除通知渠道 / remove a channel."""
    from jq2qmt.notify.settings import remove_channel as drop

    _settings, database = open_or_fail(instance_dir, database_url)
    try:
        removed = drop(database, name)
    finally:
        database.dispose()
    if not removed:
        raise click.ClickException("没有渠道 / no channel named %s" % name)
    click.echo("已删除 / removed %s" % name)


@notify.command("event")
@instance_options
@click.argument(
    "event",
    type=click.Choice(
        [
            "orders_failed",
            "plan_held",
            "follower_silent",
            "upload_auth_refused",
            "database_unreachable",
        ]
    ),
)
@click.option(
    "--on/--off", "enabled", default=None, help="开启或关闭此事件 / switch the event on or off"
)
@click.option(
    "--interval-minutes",
    type=click.IntRange(min=0),
    default=None,
    help="同一对象两次提醒的最短间隔 / minimum minutes between two alerts about one subject",
)
@click.option(
    "--threshold-minutes",
    type=click.IntRange(min=1),
    default=None,
    help="follower_silent：交易时段多少分钟无心跳算失联 / minutes without a report that count as silent",
)
def event(instance_dir, database_url, event, enabled, interval_minutes, threshold_minutes):
    """设置事件开关与频率 / switch an event and set its rate limit."""
    from jq2qmt.notify.settings import set_event

    _settings, database = open_or_fail(instance_dir, database_url)
    try:
        set_event(
            database,
            event,
            enabled=enabled,
            interval_seconds=None if interval_minutes is None else interval_minutes * 60,
            threshold_minutes=threshold_minutes,
        )
    finally:
        database.dispose()
    click.echo("已更新事件 / updated %s" % event)


@notify.command("list")
@instance_options
def list_settings(instance_dir, database_url):
    """列出渠道（不显示密钥）、事件和最近的通知 / list channels (no secrets), events and recent alerts."""
    from jq2qmt.notify import settings as ns
    from jq2qmt.notify.dispatcher import recent_log

    _settings, database = open_or_fail(instance_dir, database_url)
    try:
        with database.read() as session:
            chans, events, recent = (
                ns.channels(session),
                ns.event_settings(session),
                recent_log(session, 10),
            )
    finally:
        database.dispose()
    click.echo("渠道 / channels:")
    for name, enabled, channel in chans:
        click.echo("  %-16s %-4s %s" % (name, "on" if enabled else "off", channel.describe()))
    if not chans:
        click.echo("  (无 / none) — jq2qmt notify set NAME --kind dingtalk --url ...")
    click.echo("事件 / events:")
    for name, s in events.items():
        extra = "  阈值 threshold %d min" % s["threshold_minutes"] if s["threshold_minutes"] else ""
        click.echo(
            "  %-22s %-4s 间隔 interval %d min%s  %s"
            % (
                name,
                "on" if s["enabled"] else "off",
                s["interval_seconds"] // 60,
                extra,
                s["label"],
            )
        )
    click.echo("最近 / recent:")
    for row in recent:
        click.echo(
            "  %s %-22s %-10s %s %s"
            % (
                row["at"].strftime("%Y-%m-%d %H:%M:%S"),
                row["event"],
                row["status"],
                row["subject"],
                row["title"],
            )
        )


@notify.command("test")
@instance_options
@click.option("--channel", default=None, help="只测试这个渠道 / test only this channel")
def test(instance_dir, database_url, channel):
    """向渠道发送一条测试消息 / send a test message to every channel (or one)."""
    from jq2qmt.notify.dispatcher import Notifier

    _settings, database = open_or_fail(instance_dir, database_url)
    try:
        results = Notifier(database).test(channel)
    finally:
        database.dispose()
    if not results:
        raise click.ClickException(
            "没有%s渠道 / no channel%s configured"
            % (
                ("名为 %s 的" % channel) if channel else "",
                (" named " + channel) if channel else "",
            )
        )
    failed = [(n, e) for n, e in results if e]
    for name, error in results:
        click.echo("%s: %s" % (name, error or "已发送 / sent"))
    if failed:
        raise click.ClickException(
            "%d 个渠道发送失败 / %d channel(s) failed" % (len(failed), len(failed))
        )
