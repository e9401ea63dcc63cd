#!/usr/bin/env python3
"""Rebalance engine speed: `compute_plan` for 50 / 500 / 5,000 codes.

Each scenario follows two strategies (ratio mode) holding the codes, an account that
holds two thirds of them (so the plan has sells, buys and untouched codes), one quote
per code with limits, and enough cash for every buy. The scenario dict is built once;
every timed call parses and plans it, exactly what a follower round does.

  python benchmarks/engine.py                 # 50, 500, 5000 codes
  python benchmarks/engine.py --codes 50,500 --repeat 5 --quick

Prints a table and writes JSON (--out, default benchmarks/results/).
"""

import argparse
import sys
import time

import _bench


def scenario(count):
    """A plan-scenario-contract dict over `count` codes (see module docstring)."""
    universe = _bench.codes(count, form="qmt")
    half = count // 2
    targets = [
        {
            "strategy": "A",
            "positions": [
                {"code": c, "volume": 1000 + 100 * (i % 7), "cost": 10.0}
                for i, c in enumerate(universe[: half + count // 4])
            ],
            "portfolio_value": 1e8,
        },
        {
            "strategy": "B",
            "positions": [
                {"code": c, "volume": 500 + 100 * (i % 5), "cost": 10.0}
                for i, c in enumerate(universe[half - count // 4 :])
            ],
            "portfolio_value": 1e8,
        },
    ]
    held = universe[: count * 2 // 3]
    account = {
        "cash": 1e9,
        "positions": [
            {"code": c, "volume": 800 + 100 * (i % 9), "can_use_volume": 800 + 100 * (i % 9)}
            for i, c in enumerate(held)
        ],
        "open_orders": [],
    }
    quotes = {}
    for i, code in enumerate(universe):
        last = 5.0 + (i % 300) * 0.1
        last = round(last, 2)
        quotes[code] = {
            "last": last,
            "prev_close": last,
            "high_limit": round(last * 1.1, 2),
            "low_limit": round(last * 0.9, 2),
            "bid1": round(last - 0.01, 2),
            "ask1": round(last + 0.01, 2),
            "suspended": False,
        }
    return {
        "targets": targets,
        "follow": {"mode": "ratio", "strategies": {"A": {"ratio": 1.0}, "B": {"ratio": 0.5}}},
        "account": account,
        "quotes": quotes,
        "settings": {"slippage": 0.002},
    }


def measure(count, repeat):
    from jq2qmt.engine.plan import compute_plan

    sc = scenario(count)
    plan = compute_plan(sc)  # warm-up, and the plan's size for the table
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        compute_plan(sc)
        times.append((time.perf_counter() - started) * 1000.0)
    times.sort()
    return {
        "codes": count,
        "repeat": repeat,
        "orders": len(plan["orders"]),
        "skipped": len(plan["skipped"]),
        "min_ms": round(times[0], 2),
        "p50_ms": round(_bench.percentile(times, 0.5), 2),
        "max_ms": round(times[-1], 2),
    }


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--codes", default="50,500,5000", help="code counts (default 50,500,5000)")
    p.add_argument("--repeat", type=int, default=20, help="timed calls per size (default 20)")
    p.add_argument("--quick", action="store_true", help="3 calls per size")
    p.add_argument("--out", help="JSON output path (default benchmarks/results/engine-<time>.json)")
    args = p.parse_args(argv)
    repeat = 3 if args.quick else args.repeat
    info = _bench.machine_info()
    rows = [measure(int(n), repeat) for n in args.codes.split(",")]
    _bench.print_table(rows, ["codes", "orders", "skipped", "min_ms", "p50_ms", "max_ms", "repeat"])
    _bench.write_json(
        args.out or _bench.default_out("engine"),
        {"benchmark": "engine", "machine": _bench.finish_machine_info(info), "results": rows},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
