"""`jq2qmt import-original --database-url URL`: bring strategies over from the original."""

import click

from jq2qmt.cli.db import open_or_fail


@click.command("import-original")
@click.option(
    "--database-url",
    "source_url",
    required=True,
    metavar="URL",
    help="原系统数据库，如 mysql://user:pass@host/jq2qmt 或 sqlite:///positions.db / the original's database",
)
@click.option(
    "--instance",
    "instance_dir",
    default=None,
    type=click.Path(file_okay=False),
    help="导入到的实例目录 / instance to import into [default: ./jq2qmt-instance or $JQ2QMT_INSTANCE]",
)
@click.option(
    "--target-database-url",
    default=None,
    metavar="URL",
    help="覆盖目标数据库地址 / override the target database URL",
)
@click.option(
    "--dry-run", is_flag=True, help="只检查并列出，不写入 / check and list, write nothing"
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="跳过无效的策略，导入其余 / import the valid strategies, skip the rest",
)
def import_original(source_url, instance_dir, target_database_url, dry_run, skip_invalid):
    """从原 jq2qmt 数据库导入策略持仓（每个策略成为版本 1，源库只读） / import the original's strategies.

    读取原系统的 strategy_positions 表（不修改源库），每个策略作为版本 1 导入；
    已存在的同名策略保持不变。原系统的管理员密码（无盐 SHA-256）不导入。
    """
    from jq2qmt.store.import_original import (
        SourceError,
        apply_import,
        plan_import,
        read_source,
        source_engine,
    )

    settings, database = open_or_fail(instance_dir, target_database_url)
    engine = None
    try:
        engine = source_engine(source_url)
        rows, has_password = read_source(engine)
        plan = plan_import(database, rows, has_password, max_positions=settings.max_positions)
        invalid = [c for c in plan.candidates if c.status == "invalid"]
        for c in plan.candidates:
            click.echo(
                "  %-8s %s (%d 条持仓 / positions)%s"
                % (c.status, c.strategy_name, c.positions, "  " + c.problem if c.problem else "")
            )
        if invalid and not skip_invalid:
            raise click.ClickException(
                "%d 个策略无效，未导入任何数据；修正或加 --skip-invalid / %d invalid "
                "strategies, nothing imported; fix them or add --skip-invalid"
                % (len(invalid), len(invalid))
            )
        if not dry_run:
            apply_import(database, plan)
    except SourceError as exc:
        raise click.ClickException(str(exc))
    finally:
        database.dispose()
        if engine is not None:
            engine.dispose()
    verb = "将导入 / would import" if dry_run else "已导入 / imported"
    click.echo(
        "%s %d，已存在跳过 / existing skipped %d，无效 / invalid %d"
        % (
            verb,
            plan.count("import") if dry_run else plan.count("imported"),
            plan.count("exists"),
            plan.count("invalid"),
        )
    )
    if plan.has_password:
        click.echo(
            "注意：原系统管理员密码无法转换，请用本系统密码登录（jq2qmt password set 可修改） / "
            "note: the original's admin password cannot be converted; use this instance's password"
        )
