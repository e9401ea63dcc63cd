"""`jq2qmt db upgrade|current|dump|restore|totals`: schema migrations, backup and
restore, the check of the kept totals.
Also the options every instance command shares (`instance_options`, `open_or_fail`)."""

from pathlib import Path

import click

from jq2qmt.config import ConfigError


def instance_options(func):
    """Add --instance and --database-url to a command."""
    func = click.option(
        "--database-url",
        default=None,
        metavar="URL",
        help="覆盖数据库地址 / override the database URL (also $JQ2QMT_DATABASE_URL)",
    )(func)
    func = click.option(
        "--instance",
        "instance_dir",
        default=None,
        type=click.Path(file_okay=False, path_type=Path),
        help="实例目录 / instance folder [default: ./jq2qmt-instance or $JQ2QMT_INSTANCE]",
    )(func)
    return func


def open_or_fail(instance_dir, database_url, need_schema=True):
    """(settings, Database) or a one-line CLI error (exit 1)."""
    from jq2qmt.instance import open_instance, schema_problem

    try:
        settings, database = open_instance(instance_dir, database_url)
    except ConfigError as exc:
        raise click.ClickException(str(exc))
    if need_schema:
        problem = schema_problem(database)
        if problem:
            database.dispose()
            raise click.ClickException(problem)
    return settings, database


@click.group()
def db():
    """数据库：结构迁移、备份与恢复 / database: schema migrations, dump and restore."""


@db.command()
@instance_options
def upgrade(instance_dir, database_url):
    """升级数据库结构到最新 / migrate the database to the newest schema."""
    from jq2qmt.store import migrate

    settings, database = open_or_fail(instance_dir, database_url, need_schema=False)
    try:
        before = migrate.current_revision(database.engine)
        migrate.upgrade(database.engine)
        after = migrate.current_revision(database.engine)
    except Exception as exc:
        raise click.ClickException(
            "迁移失败 / migration failed: %s" % str(getattr(exc, "orig", exc)).splitlines()[0][:200]
        )
    finally:
        database.dispose()
    if before == after:
        click.echo("数据库已是最新 / database already at %s" % after)
    else:
        click.echo("数据库已升级 / database upgraded: %s -> %s" % (before or "(empty)", after))


@db.command()
@instance_options
def current(instance_dir, database_url):
    """显示数据库结构版本 / show the database schema revision."""
    from jq2qmt.store import migrate

    settings, database = open_or_fail(instance_dir, database_url, need_schema=False)
    try:
        revision = migrate.current_revision(database.engine)
    except Exception as exc:
        raise click.ClickException(
            "无法连接数据库 / cannot connect to the database: %s"
            % str(getattr(exc, "orig", exc)).splitlines()[0][:200]
        )
    finally:
        database.dispose()
    head = migrate.head_revision()
    state = "最新 / up to date" if revision == head else "需要升级 / behind, run: jq2qmt db upgrade"
    click.echo("current: %s  head: %s  (%s)" % (revision or "(empty)", head, state))


def _reason(exc):
    return str(getattr(exc, "orig", exc)).splitlines()[0][:200] if str(exc) else type(exc).__name__


@db.command()
@instance_options
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def dump(instance_dir, database_url, file):
    """导出全部数据（含历史）到 JSON lines 文件 / dump every table, history included, to FILE."""
    from jq2qmt.store.backup import BackupError
    from jq2qmt.store.backup import dump as dump_database

    _settings, database = open_or_fail(instance_dir, database_url, need_schema=False)
    try:
        counts = dump_database(database, file)
    except BackupError as exc:
        raise click.ClickException(str(exc))
    except OSError as exc:
        raise click.ClickException(
            "无法写入文件 / cannot write %s: %s" % (file, exc.strerror or exc)
        )
    except Exception as exc:
        raise click.ClickException("导出失败 / dump failed: %s" % _reason(exc))
    finally:
        database.dispose()
    click.echo(
        "已导出 %d 行，%d 张表 -> %s / dumped %d rows of %d tables"
        % (sum(counts.values()), len(counts), file, sum(counts.values()), len(counts))
    )


@db.command()
@instance_options
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--force", is_flag=True, help="覆盖非空数据库 / replace the contents of a non-empty database"
)
def restore(instance_dir, database_url, file, force):
    """从备份文件恢复（可换数据库类型） / restore a dump into this database (any backend)."""
    from jq2qmt.store.backup import BackupError
    from jq2qmt.store.backup import restore as restore_database

    _settings, database = open_or_fail(instance_dir, database_url, need_schema=False)
    try:
        counts = restore_database(database, file, force=force)
    except BackupError as exc:
        raise click.ClickException(str(exc))
    except Exception as exc:
        raise click.ClickException(
            "恢复失败，目标数据库未改变 / restore failed, the database is unchanged: %s"
            % _reason(exc)
        )
    finally:
        database.dispose()
    click.echo(
        "已恢复 %d 行，%d 张表 / restored %d rows of %d tables"
        % (sum(counts.values()), len(counts), sum(counts.values()), len(counts))
    )


@db.command()
@instance_options
@click.option(
    "--rebuild",
    is_flag=True,
    help="从持仓重新计算（上传可照常进行） / recompute the kept totals from the positions (safe while uploads run)",
)
def totals(instance_dir, database_url, rebuild):
    """核对（或重建）合并持仓的累计表 / check (or rebuild) the kept per-code totals.

    Without --rebuild: compares the table with the sums of the current positions and
    exits with status 1 when they differ."""
    from jq2qmt.store import position_totals

    _settings, database = open_or_fail(instance_dir, database_url)
    try:
        if rebuild:
            rows = position_totals.rebuild_alone(database)
        else:
            with database.read() as session:
                wrong = position_totals.differences(session.connection())
    except Exception as exc:
        raise click.ClickException("核对失败 / check failed: %s" % _reason(exc))
    finally:
        database.dispose()
    if rebuild:
        click.echo("已重建 %d 行 / rebuilt %d rows" % (rows, rows))
        return
    if wrong:
        shown = ", ".join("%s(%d)" % key for key in wrong[:10])
        raise click.ClickException(
            "累计表有 %d 处与持仓不符，请运行 jq2qmt db totals --rebuild / %d rows differ from "
            "the positions (%s), run: jq2qmt db totals --rebuild" % (len(wrong), len(wrong), shown)
        )
    click.echo("累计表与持仓一致 / the kept totals match the positions")
