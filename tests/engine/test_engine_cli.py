"""`jq2qmt plan`: every example prints a valid plan (exit 0); malformed scenarios exit 2
with one stderr line naming the field.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from engine_invariants import check_invariants

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "scenarios").glob("*.json"))


def run_plan(*args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "jq2qmt", "plan"] + [str(a) for a in args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=str(ROOT),
    )


def test_there_are_examples_for_every_rule():
    names = {p.stem for p in EXAMPLES}
    assert {
        "ratio_basic",
        "weight_mode",
        "t1_blocked_sell",
        "limit_up_down",
        "suspended",
        "star_200_lot",
        "beijing",
        "etf_tick",
        "convertible_bond",
        "insufficient_cash",
        "open_orders",
    } <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_prints_a_valid_plan(path):
    res = run_plan(path)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    plan = json.loads(res.stdout)
    check_invariants(json.loads(path.read_text(encoding="utf-8")), plan)


def test_contract_example_output():
    plan = json.loads(run_plan(ROOT / "examples" / "scenarios" / "ratio_basic.json").stdout)
    assert plan == {
        "orders": [
            {
                "code": "600000.SH",
                "side": "buy",
                "volume": 100,
                "price": 10.03,
                "reason": "target 500, held 300, in flight 100",
            }
        ],
        "cancels": [],
        "skipped": [],
        "targets": {"600000.SH": 500},
    }


def test_stdin_and_compact_output():
    text = (ROOT / "examples" / "scenarios" / "ratio_basic.json").read_text(encoding="utf-8")
    res = run_plan("-", "--compact", stdin=text)
    assert res.returncode == 0
    assert res.stdout.count("\n") == 1 and json.loads(res.stdout)["targets"]


def _scenario(**changes):
    sc = json.loads(
        (ROOT / "examples" / "scenarios" / "ratio_basic.json").read_text(encoding="utf-8")
    )
    sc.update(changes)
    return sc


@pytest.mark.parametrize(
    "content, field",
    [
        (json.dumps(_scenario(account={"cash": -1, "positions": []})), "account.cash"),
        (json.dumps({k: v for k, v in _scenario().items() if k != "follow"}), "follow"),
        (json.dumps(_scenario(quotes={"600000": {"last": 1}})), "quotes.600000"),
        (json.dumps(_scenario(settings={"max_order_valu": 100})), "settings.max_order_valu"),
        (
            json.dumps(
                _scenario(
                    targets=[
                        {"strategy": "S", "positions": [{"code": "600000.XSHG", "volume": "100"}]}
                    ]
                )
            ),
            "targets[0].positions[0].volume",
        ),
        ("{not json", "scenario"),
        ("[]", "scenario"),
    ],
)
def test_malformed_scenarios_exit_2_with_one_line(tmp_path, content, field):
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    res = run_plan(path)
    assert res.returncode == 2
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(field + ": "), res.stderr


def test_missing_file_exits_2(tmp_path):
    res = run_plan(tmp_path / "nope.json")
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1
    assert res.stderr.startswith("scenario: ")


def test_odd_lots_that_differ_sell_whole_lots():
    """1030 held, 1000 sellable (30 frozen), target 200: 800, not 830."""
    path = ROOT / "examples" / "scenarios" / "odd_lot_differs.json"
    res = run_plan(path)
    assert res.returncode == 0, res.stderr
    plan = json.loads(res.stdout)
    assert [(o["code"], o["side"], o["volume"]) for o in plan["orders"]] == [
        ("600000.SH", "sell", 800)
    ]
    [skip] = plan["skipped"]
    assert (
        skip["reason"] == "not_sellable"
        and "零股 30" in skip["detail"]
        and "零股 0" in skip["detail"]
    )
    # The same account without the frozen odd shares sells the odd part along.
    sc = json.loads(path.read_text(encoding="utf-8"))
    sc["account"]["positions"][0]["can_use_volume"] = 1030
    plan = json.loads(run_plan("-", stdin=json.dumps(sc)).stdout)
    assert [o["volume"] for o in plan["orders"]] == [830] and plan["skipped"] == []


@pytest.mark.parametrize(
    "where, field",
    [
        ("targets", "targets[0].positions[0].code"),
        ("account", "account.positions[0].code"),
    ],
)
def test_codes_with_non_ascii_digits_exit_2(tmp_path, where, field):
    sc = _scenario()
    if where == "targets":
        sc["targets"][0]["positions"][0]["code"] = "６０００００.XSHG"
    else:
        sc["account"]["positions"][0]["code"] = "６０００００.SH"
    path = tmp_path / "fullwidth.json"
    path.write_text(json.dumps(sc, ensure_ascii=False), encoding="utf-8")
    res = run_plan(path)
    assert res.returncode == 2 and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(field + ": ") and "ASCII" in lines[0], res.stderr
