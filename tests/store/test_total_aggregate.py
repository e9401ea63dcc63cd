"""The total aggregated in SQL equals the Python fold of the rows in strategy-name
order (the aggregation as it was before it moved into the database), on every
backend: same fields, rounding, ordering, names, adjustments and removals."""

import random

import pytest

from jq2qmt.store import repo
from jq2qmt.store.db import Database
from jq2qmt.store.snapshot import is_adjustment, parse_snapshot

CODES = [
    "600000.SH",
    "600036.SH",
    "000001.SZ",
    "000002.SZ",
    "300750.SZ",
    "688981.SH",
    "601318.SH",
    "002594.SZ",
]
# Upper/lower case, accents and CJK: Python's code-point order differs from most collations.
STRATEGY_NAMES = [
    "alpha",
    "Alpha",
    "beta",
    "Zeta",
    "zeta",
    "Émile",
    "emile",
    "中证",
    "a b",
    "a",
    "ab",
    "B-2",
    "ADJUSTMENT_hand",
    "ADJUSTMENT_Z",
    "adjustment_lower",
]


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    yield database
    database.dispose()


def save(db, name, positions):
    repo.save_snapshot(db, parse_snapshot({"strategy_name": name, "positions": positions}), "test")


def reference(session, names, include_adjustments):
    """The fold over every chosen strategy's rows, strategies in Python name order."""
    chosen = repo.select_strategies(session, names, include_adjustments)
    rows = []
    for strategy in chosen:
        for p in repo.get_strategy(session, strategy.name)["positions"]:
            rows.append((p["code"], p["name"], p["volume"], p["cost"]))
    return repo.fold_positions(rows)


def random_positions(rng, adjustment):
    positions = []
    for code in rng.sample(CODES, rng.randint(0, len(CODES))):
        volume = rng.choice([0, 100, 200, 300, 700, 1600, rng.randint(1, 10**6)])
        if adjustment and rng.random() < 0.5:
            volume = -volume
        # few decimals and small volumes make exact rounding ties of the average likely
        cost = rng.choice(
            [
                0.0,
                round(rng.uniform(1, 100), rng.randint(0, 3)),
                1.000001,
                1.000002,
                10.5,
                rng.uniform(0, 2000),
            ]
        )
        name = rng.choice([None, "", "平安银行", "浦发银行", "Ping An", "ping an", " "])
        positions.append({"code": code, "volume": volume, "cost": cost, "name": name})
    return positions


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sql_total_equals_python_fold_on_random_data(db, seed):
    rng = random.Random(seed)
    for name in STRATEGY_NAMES:
        save(db, name, random_positions(rng, is_adjustment(name)))
    for name in rng.sample(STRATEGY_NAMES, 3):
        save(db, name, random_positions(rng, is_adjustment(name)))  # a second version
    removed = rng.choice([n for n in STRATEGY_NAMES if not is_adjustment(n)])
    repo.remove_strategy(db, removed, "admin")
    active = [n for n in STRATEGY_NAMES if n != removed]
    selections = [
        (None, True),
        (None, False),
        (rng.sample(active, 4), True),
        (rng.sample(active, 4), False),
        (["ADJUSTMENT_hand"], False),
        ([active[0]], True),
    ]
    with db.read() as session:
        for names, include_adjustments in selections:
            total = repo.total_positions(session, names, include_adjustments)
            assert total["positions"] == reference(session, names, include_adjustments), (
                names,
                include_adjustments,
            )
            assert [list(p) for p in total["positions"]] == [
                ["code", "name", "total_volume", "avg_cost"]
            ] * len(total["positions"])


def test_average_at_a_rounding_tie_is_folded_in_strategy_order(db, monkeypatch):
    # 100 x 1.000001 + 100 x 1.000002 over 200 is 1.0000015: which way it rounds
    # depends on the float summation order, so the SQL sum is not trusted there.
    save(
        db,
        "b",
        [
            {"code": "600000.SH", "volume": 100, "cost": 1.000002, "name": "浦发银行"},
            {"code": "000001.SZ", "volume": 300, "cost": 12.5},
        ],
    )
    save(
        db,
        "a",
        [
            {"code": "600000.SH", "volume": 100, "cost": 1.000001},
            {"code": "000001.SZ", "volume": 100, "cost": 12.0, "name": "平安银行"},
        ],
    )
    save(db, "ADJUSTMENT_x", [{"code": "600000.SH", "volume": -200, "cost": 0.0}])
    folded = []
    real_fold = repo.fold_positions
    monkeypatch.setattr(repo, "fold_positions", lambda rows: folded.append(1) or real_fold(rows))
    with db.read() as session:
        total = repo.total_positions(session)
        monkeypatch.setattr(repo, "fold_positions", real_fold)
        assert total["positions"] == reference(session, None, True)
    assert folded == [1]
    assert total["positions"] == [
        {"code": "000001.SZ", "name": "平安银行", "total_volume": 400, "avg_cost": 12.375},
        {
            "code": "600000.SH",
            "name": "浦发银行",
            "total_volume": 0,
            "avg_cost": round((100 * 1.000001 + 100 * 1.000002) / 200, 6),
        },
    ]
    assert [s["name"] for s in total["strategies"]] == ["ADJUSTMENT_x", "a", "b"]


def test_rounded_average_is_trusted_only_away_from_ties():
    assert repo.rounded_average(0.0, 0, 5) == 0.0
    assert repo.rounded_average(1234.5, 100, 3) == 12.345
    assert repo.rounded_average(100 * 1.000001 + 100 * 1.000002, 200, 2) is None
    assert repo.rounded_average(float("nan"), 100, 2) is None
    # far from a tie, even 10,000 terms leave the rounding certain
    assert repo.rounded_average(10.123456789 * 1000, 1000, 10000) == 10.123457
