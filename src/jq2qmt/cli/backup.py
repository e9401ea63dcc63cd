"""`jq2qmt db dump FILE` / `jq2qmt db restore FILE [--force]` (registered in cli/db.py)."""

import click

from jq2qmt.cli.db import open_or_fail


def _reason(exc):
    return str(getattr(exc, "orig", exc)).splitlines()[0][:200] if str(exc) else type(exc).__name__


def run_dump(instance_dir, database_url, file):
    from jq2qmt.store.backup import BackupError, dump

    _settings, database = open_or_fail(instance_dir, database_url, need_schema=False)
    try:
        counts = dump(database, file)
    except BackupError as exc:
        raise click.ClickException(str(exc))
    except OSError as exc:
        raise click.ClickException("无法写入文件 / cannot write %s: %s" % (file, exc.strerror or exc))
    except Exception as exc:
        raise click.ClickException("导出失败 / dump failed: %s" % _reason(exc))
    finally:
        database.dispose()
    click.echo("已导出 %d 行，%d 张表 -> %s / dumped %d rows of %d tables"
               % (sum(counts.values()), len(counts), file, sum(counts.values()), len(counts)))


def run_restore(instance_dir, database_url, file, force):
    from jq2qmt.store.backup import BackupError, restore

    _settings, database = open_or_fail(instance_dir, database_url, need_schema=False)
    try:
        counts = restore(database, file, force=force)
    except BackupError as exc:
        raise click.ClickException(str(exc))
    except Exception as exc:
        raise click.ClickException("恢复失败，目标数据库未改变 / restore failed, the database is unchanged: %s"
                                   % _reason(exc))
    finally:
        database.dispose()
    click.echo("已恢复 %d 行，%d 张表 / restored %d rows of %d tables"
               % (sum(counts.values()), len(counts), sum(counts.values()), len(counts)))
