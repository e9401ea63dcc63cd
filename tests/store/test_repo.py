"""Storage semantics on every backend: versions, idempotence, ordering, removal,
totals, the change counter, concurrent writers, and migrations."""

import threading
from datetime import datetime

import pytest
from sqlalchemy import func, select

from jq2qmt.store import migrate, repo
from jq2qmt.store.db import Database
from jq2qmt.store.models import Change, StrategyVersion
from jq2qmt.store.snapshot import parse_snapshot

NOW = datetime(2026, 11, 25, 6, 0, 0)


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    yield database
    database.dispose()


def snap(name="s1", positions=None, as_of=None, portfolio=None):
    body = {
        "strategy_name": name,
        "positions": positions
        if positions is not None
        else [{"code": "600000.XSHG", "volume": 100, "cost": 10.0}],
    }
    if as_of:
        body["as_of"] = as_of
    if portfolio:
        body["portfolio"] = portfolio
    return parse_snapshot(body, now=NOW)


def test_versions_are_numbered_and_history_is_kept(db):
    first = repo.save_snapshot(db, snap(), "client:jq", "10.0.0.1")
    second = repo.save_snapshot(
        db,
        snap(positions=[{"code": "000001.XSHE", "volume": 200, "cost": 12.0, "name": "平安银行"}]),
        "admin",
    )
    assert (first.version, first.created, second.version) == (1, True, 2)
    with db.read() as session:
        current = repo.get_strategy(session, "s1")
        assert [p["code"] for p in current["positions"]] == ["000001.SZ"]
        assert current["positions"][0]["name"] == "平安银行"
        history = repo.history(session, "s1")
        assert [v["version"] for v in history["versions"]] == [2, 1]
        assert history["versions"][1]["source"] == "client:jq"
        assert history["versions"][1]["remote_addr"] == "10.0.0.1"
        assert repo.get_version(session, "s1", 1)["positions"][0]["code"] == "600000.SH"


def test_identical_upload_is_idempotent(db):
    repo.save_snapshot(db, snap(as_of="2026-11-25T09:31:00"), "client:jq")
    again = repo.save_snapshot(db, snap(as_of="2026-11-25T09:35:00"), "client:jq")
    assert (again.version, again.created) == (1, False)
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(StrategyVersion)) == 1
        assert repo.latest_change_seq(session) == session.scalar(select(func.max(Change.seq)))
        # no new version, but a change row: the strategy's read shows the new as_of, so
        # the fast path's cached answers of it must be re-checked
        assert session.scalar(select(func.count()).select_from(Change)) == 2
    # the identical upload still advanced the clock: an older one is now stale
    with pytest.raises(repo.StaleSnapshotError):
        repo.save_snapshot(db, snap(positions=[], as_of="2026-11-25T09:33:00"), "client:jq")


def test_older_as_of_is_refused_and_changes_nothing(db):
    repo.save_snapshot(db, snap(as_of="2026-11-25T10:00:00"), "client:jq")
    with pytest.raises(repo.StaleSnapshotError):
        repo.save_snapshot(db, snap(positions=[], as_of="2026-11-25T09:59:59"), "client:jq")
    same_time = repo.save_snapshot(db, snap(positions=[], as_of="2026-11-25T10:00:00"), "client:jq")
    assert same_time.version == 2
    with db.read() as session:
        assert repo.get_strategy(session, "s1")["positions"] == []


def test_removed_strategy_leaves_totals_keeps_history_and_comes_back_on_upload(db):
    repo.save_snapshot(db, snap("a"), "client:jq")
    repo.save_snapshot(
        db, snap("b", [{"code": "600000.SH", "volume": 300, "cost": 11.0}]), "client:jq"
    )
    removed = repo.remove_strategy(db, "b", "admin")
    assert removed.version == 2
    with db.read() as session:
        assert repo.total_positions(session)["positions"][0]["total_volume"] == 100
        with pytest.raises(repo.NotFoundError):
            repo.get_strategy(session, "b")
        history = repo.history(session, "b")
        assert history["removed"] and [v["kind"] for v in history["versions"]] == [
            "remove",
            "snapshot",
        ]
    with pytest.raises(repo.NotFoundError):
        repo.remove_strategy(db, "b", "admin")
    assert repo.save_snapshot(db, snap("b"), "client:jq").version == 3
    with db.read() as session:
        assert repo.total_positions(session)["positions"][0]["total_volume"] == 200


def test_totals_merge_strategies_and_adjustments(db):
    repo.save_snapshot(db, snap("a", [{"code": "600000.SH", "volume": 100, "cost": 10.0}]), "x")
    repo.save_snapshot(
        db,
        snap(
            "b",
            [
                {"code": "600000.XSHG", "volume": 300, "cost": 14.0},
                {"code": "000001.SZ", "volume": 100, "cost": 1.0},
            ],
        ),
        "x",
    )
    repo.save_snapshot(
        db, snap("ADJUSTMENT_hand", [{"code": "600000.SH", "volume": -50, "cost": 0.0}]), "admin"
    )
    with db.read() as session:
        total = {p["code"]: p for p in repo.total_positions(session)["positions"]}
        assert total["600000.SH"]["total_volume"] == 350
        assert total["600000.SH"]["avg_cost"] == pytest.approx(13.0)
        only_a = repo.total_positions(session, ["a"], include_adjustments=False)
        assert [(p["code"], p["total_volume"]) for p in only_a["positions"]] == [("600000.SH", 100)]
        assert [s["name"] for s in repo.total_positions(session, ["a"])["strategies"]] == [
            "ADJUSTMENT_hand",
            "a",
        ]
        with pytest.raises(repo.NotFoundError) as info:
            repo.total_positions(session, ["a", "nope"])
        assert info.value.args[0] == ["nope"]


def test_change_counter_increases_with_every_accepted_write(db):
    seqs = [
        repo.save_snapshot(
            db, snap(positions=[{"code": "600000.SH", "volume": v, "cost": 1.0}]), "x"
        ).seq
        for v in (100, 200, 300)
    ]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    with db.read() as session:
        assert repo.latest_change_seq(session) == seqs[-1]


def test_concurrent_writers_serialize_without_errors_or_lost_versions(db):
    """8 threads x 4 different snapshots on one strategy: every write gets its own
    version, none fails, and the stored current snapshot is exactly one of them."""
    errors, results = [], []
    start = threading.Barrier(8)

    def writer(worker):
        start.wait()
        for i in range(4):
            volume = (worker * 10 + i + 1) * 100
            try:
                results.append(
                    repo.save_snapshot(
                        db,
                        snap(
                            "race",
                            [
                                {"code": "600000.SH", "volume": volume, "cost": 1.0},
                                {"code": "000001.SZ", "volume": volume, "cost": 1.0},
                            ],
                        ),
                        "w%d" % worker,
                    )
                )
            except Exception as exc:  # any failure is the bug this test looks for
                errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(r.version for r in results) == list(range(1, 33))
    with db.read() as session:
        current = repo.get_strategy(session, "race")
        volumes = {p["volume"] for p in current["positions"]}
        assert (
            len(volumes) == 1 and len(current["positions"]) == 2
        )  # one whole snapshot, never a mix
        last = repo.get_version(session, "race", 32)
        assert last["positions"] == [
            {k: p[k] for k in ("code", "name", "volume", "cost")} for p in current["positions"]
        ]


def test_schema_behind_is_detected_and_upgrade_fixes_it(db):
    from jq2qmt.instance import schema_problem

    assert schema_problem(db) is None
    migrate.downgrade(db.engine, "base")
    assert "jq2qmt db upgrade" in schema_problem(db)
    migrate.upgrade(db.engine)
    assert schema_problem(db) is None


def test_schema_newer_than_the_code_is_reported(db):
    from sqlalchemy import text

    from jq2qmt.instance import schema_problem

    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    assert "newer" in schema_problem(db)
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE alembic_version SET version_num = :head"),
            {"head": migrate.head_revision()},
        )
