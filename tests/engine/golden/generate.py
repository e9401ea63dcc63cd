#!/usr/bin/env python3
"""Build the engine's golden corpus: scenarios and the exact plans compute_plan gives.

    python tests/engine/golden/generate.py            # rewrite cases.jsonl.gz
    python tests/engine/golden/generate.py --check    # compare only, write nothing

The corpus pins the engine's behaviour byte for byte, so that its code can be
restructured with proof that no plan changed (tests/engine/test_engine_golden.py
replays every case). Regenerate it only on purpose, when a rule itself changes: the
diff of the test's report then lists every case whose plan moved, and the commit says
why each of them is right.

Every scenario comes from one random.Random(SEED), so a rerun with an unchanged
engine writes the same bytes (gzip with mtime 0). The generator is self-contained:
its market (boards, ticks, daily limits) is written out here, not read from the rules
it checks. A case is one JSON line:
  {"name": ..., "scenario": {...}, "plan": {...}}            a plan
  {"name": ..., "scenario": {...}, "error": {"type", "message"}}  a refused scenario
Kinds of case: the examples in examples/scenarios/, random markets in the style of the
property tests (every board, odd lots, T+1, limits, cages, open orders, fees, weight
mode, slices, caps, ignore lists), large accounts that run out of cash, and single
mutations of valid scenarios that the contract refuses.
"""

import argparse
import copy
import gzip
import io
import json
import random
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE.parent))  # tests/engine: the replay helpers

from engine_golden import CORPUS as _CORPUS
from engine_golden import dumps, outcome

CORPUS = Path(_CORPUS)
EXAMPLES = ROOT / "examples" / "scenarios"
SEED = 20261201
RANDOM_CASES = 2600
LARGE_CASES = 30
MUTATED_CASES = 600

# code -> (board, tick, daily limit fraction or None for codes that are never traded)
MARKET = {
    "600000.SH": ("sh_main", 0.01, 0.10),
    "601318.SH": ("sh_main", 0.01, 0.10),
    "600543.SH": ("sh_main", 0.01, 0.10),
    "600519.SH": ("sh_main", 0.01, 0.10),
    "000001.SZ": ("sz_main", 0.01, 0.10),
    "002594.SZ": ("sz_main", 0.01, 0.10),
    "300750.SZ": ("chinext", 0.01, 0.20),
    "301236.SZ": ("chinext", 0.01, 0.20),
    "688981.SH": ("star", 0.01, 0.20),
    "689009.SH": ("star", 0.01, 0.20),
    "430047.BJ": ("bj", 0.01, 0.30),
    "830799.BJ": ("bj", 0.01, 0.30),
    "920118.BJ": ("bj", 0.01, 0.30),
    "510300.SH": ("fund", 0.001, 0.10),
    "159915.SZ": ("fund", 0.001, 0.10),
    "511880.SH": ("fund", 0.001, 0.10),
    "513100.SH": ("fund", 0.001, 0.10),
    "113050.SH": ("bond", 0.001, 0.20),
    "123107.SZ": ("bond", 0.001, 0.20),
    "204001.SH": ("repo", 0.001, None),
    "131810.SZ": ("repo", 0.001, None),
    "000300.SH": ("index", 0.01, None),
    "900901.SH": ("b_share", 0.001, None),
    "730001.SH": ("subscription", 0.01, None),
}
CODES = sorted(MARKET)
TRADABLE = [c for c in CODES if MARKET[c][2] is not None]
_PRICE_RANGE = {
    "fund": (0.3, 6.0),
    "bond": (90.0, 250.0),
    "sh_main": (1.5, 300.0),
    "sz_main": (1.5, 300.0),
    "chinext": (3.0, 400.0),
    "star": (5.0, 600.0),
    "bj": (2.0, 80.0),
}
_JQ = {"SH": "XSHG", "SZ": "XSHE", "BJ": "BJ"}
QUOTE_KINDS = ["normal"] * 10 + [
    "limit_up",
    "limit_down",
    "no_bid",
    "no_ask",
    "last_only",
    "suspended",
    "missing",
    "derived",
    "derived_st_flag",
    "derived_st_name",
    "one_limit",
    "no_last",
    "no_base",
    "wide",
    "off_tick_limits",
    "zero_levels",
]


def to_jq(code):
    number, exchange = code.split(".")
    return number + "." + _JQ[exchange]


def any_form(rnd, code):
    """The code in QMT or JoinQuant form, sometimes with a lower-case suffix."""
    form = code if rnd.random() < 0.5 else to_jq(code)
    return form.lower() if rnd.random() < 0.05 else form


def on_tick(units, tick):
    return round(units * tick, 3 if tick < 0.01 else 2)


def limits(prev_close, tick, pct):
    """(high, low) as the exchanges publish them: prev x (1 +/- pct), half up to the tick."""
    base, step, p = Decimal(repr(prev_close)), Decimal(repr(tick)), Decimal(repr(pct))
    high = (base * (1 + p) / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step
    low = max((base * (1 - p) / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step, step)
    places = 3 if tick < 0.01 else 2
    return round(float(high), places), round(float(low), places)


def make_quote(rnd, code, kind):
    board, tick, pct = MARKET[code]
    if pct is None:  # reverse repo, index, B share, subscription: some numbers, no rules
        rate = rnd.randint(100, 9000) / 1000.0
        return {
            "last": rate,
            "prev_close": rate,
            "bid1": rate,
            "ask1": rate + 0.005,
            "suspended": False,
            "name": "GC001",
        }
    lo_price, hi_price = _PRICE_RANGE[board]
    if rnd.random() < 0.1:  # the cheap and the dear end of the board
        hi_price = lo_price * 2 if rnd.random() < 0.5 else hi_price
        lo_price = hi_price / 2 if hi_price != lo_price * 2 else lo_price
    prev = on_tick(rnd.randint(int(lo_price / tick), int(hi_price / tick)), tick)
    st = board in ("sh_main", "sz_main") and rnd.random() < 0.2
    high, low = limits(prev, tick, 0.05 if st else pct)
    hi_t, lo_t = int(round(high / tick)), int(round(low / tick))
    last_t = rnd.randint(lo_t + 1, hi_t - 1)
    bid_t = max(lo_t, last_t - rnd.randint(0, 3))
    ask_t = min(hi_t, bid_t + rnd.randint(1, 3))
    name = rnd.choice(["*ST测试", "ST测试", "S*ST测试"]) if st else "测试股份"
    quote = {
        "last": on_tick(last_t, tick),
        "prev_close": prev,
        "high_limit": high,
        "low_limit": low,
        "bid1": on_tick(bid_t, tick),
        "ask1": on_tick(ask_t, tick),
        "suspended": kind == "suspended",
        "name": name,
    }
    if kind == "limit_up":
        quote.update(last=high, bid1=high, ask1=0.0 if rnd.random() < 0.7 else high)
    elif kind == "limit_down":
        quote.update(last=low, bid1=0.0 if rnd.random() < 0.7 else low, ask1=low)
    elif kind == "no_bid":
        quote["bid1"] = rnd.choice([0.0, None])
    elif kind == "no_ask":
        quote["ask1"] = rnd.choice([0.0, None])
    elif kind == "last_only":
        del quote["bid1"], quote["ask1"]
    elif kind in ("derived", "derived_st_flag", "derived_st_name"):
        del quote["high_limit"], quote["low_limit"]
        if kind == "derived_st_flag":
            quote["st"] = rnd.random() < 0.5
        elif kind == "derived":
            del quote["name"]
    elif kind == "one_limit":
        del quote[rnd.choice(["high_limit", "low_limit"])]
    elif kind == "no_last":
        quote["last"] = rnd.choice([0.0, None])
    elif kind == "no_base":
        del quote["high_limit"], quote["low_limit"]
        quote["prev_close"] = rnd.choice([0.0, None])
    elif kind == "wide":  # a wide book: the price cage or the limits bind
        quote["ask1"] = on_tick(min(hi_t, last_t + rnd.randint(5, 60)), tick)
        quote["bid1"] = on_tick(max(lo_t, last_t - rnd.randint(5, 60)), tick)
    elif kind == "off_tick_limits":  # limits off the tick (a sloppy feed): rounded inward
        quote["high_limit"] = round(high + tick * rnd.choice([0.3, 0.5, 0.7]), 4)
        quote["low_limit"] = round(low - tick * rnd.choice([0.3, 0.5, 0.7]), 4)
    elif kind == "zero_levels":  # nothing but a last price and the limits
        quote.update(bid1=0.0, ask1=0.0, prev_close=0.0)
    if rnd.random() < 0.1:  # integers where floats are usual
        for key in ("last", "prev_close"):
            if isinstance(quote.get(key), float) and quote[key].is_integer():
                quote[key] = int(quote[key])
    return quote


def random_volume(rnd, lot_shape=None):
    """A volume: odd, whole lots of 100, or whole lots of 10, up to 30,000."""
    shape = rnd.randint(0, 3) if lot_shape is None else lot_shape
    if shape == 0:
        return rnd.randint(0, 30000)
    if shape == 1:
        return rnd.randint(0, 300) * 100
    if shape == 2:
        return rnd.randint(0, 3000) * 10
    return rnd.randint(0, 30) * 100 + rnd.choice([0, 1, 30, 50, 99, 150, 199])


def random_settings(rnd, codes_):
    s = {}
    if rnd.random() < 0.4:
        s["slippage"] = rnd.choice([0.0, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0])
    if rnd.random() < 0.3:
        s["min_order_value"] = rnd.choice([0, 500, 5000, 20000.0])
    if rnd.random() < 0.25:
        s["max_order_value"] = rnd.choice([3000.0, 20000.0, 200000.0, 1e6, 50000])
    if rnd.random() < 0.25:
        s["slice_value"] = rnd.choice([500.0, 2000.0, 20000.0, 100000.0, 500000.0, 30000])
    if rnd.random() < 0.3:
        s["use_sell_proceeds"] = rnd.random() < 0.6
    if rnd.random() < 0.3:
        s["reprice_after"] = rnd.choice([0, 30, 30.5, 600])
    if rnd.random() < 0.3:
        fees = {}
        for key, choices in (
            ("min_commission", [0.0, 5.0, 20.0, 0.1]),
            ("commission_rate", [0.0, 0.0001, 0.00025, 0.003]),
            ("stamp_duty_rate", [0.0, 0.0005, 0.001]),
            ("transfer_fee_rate", [0.0, 0.00001, 0.00002]),
        ):
            if rnd.random() < 0.6:
                fees[key] = rnd.choice(choices)
        s["fees"] = fees
    if rnd.random() < 0.25:
        patterns = [any_form(rnd, c) for c in codes_] + [
            "1318*",
            "51*",
            "60*",
            "*.SZ",
            "600000*",
            "300*",
            "??????.BJ",
        ]
        s["ignore"] = rnd.sample(patterns, rnd.randint(0, min(3, len(patterns))))
    if rnd.random() < 0.1:  # follower settings: checked, not used by the plan
        s["max_turnover"] = rnd.choice([None, 1e6])
        s["order_timeout"] = rnd.choice([None, 60])
        s["max_reprices"] = rnd.choice([None, 0, 3])
        s["sessions"] = rnd.choice([None, [["09:30", "11:30"], ["13:00", "14:57"]]])
    return s


def random_targets(rnd, codes_):
    mode = "ratio" if rnd.random() < 0.6 else "weight"
    targets, strategies = [], {}
    for i in range(rnd.choice([1, 1, 2, 2, 3])):
        name = rnd.choice(["策略%d" % i, "S%d" % i, "alpha-%d" % i])
        chosen = [c for c in codes_ if rnd.random() < 0.7]
        positions = []
        for code in chosen:
            pos = {"code": any_form(rnd, code), "volume": random_volume(rnd)}
            if rnd.random() < 0.3:
                pos["cost"] = round(rnd.uniform(1, 200), 3)
            positions.append(pos)
        if i >= 1 and rnd.random() < 0.3:  # an adjustment strategy: negative volumes
            name = "ADJUSTMENT_%d" % i
            for pos in positions:
                pos["volume"] = -pos["volume"] // rnd.choice([1, 3, 7])
        target = {"strategy": name, "positions": positions}
        if mode == "weight" or rnd.random() < 0.7:
            target["portfolio_value"] = rnd.choice([1e5, 1e6, 3.3e6, 1e7, 2500000, 987654.32])
        targets.append(target)
        if i == 0 or rnd.random() < 0.6:
            if mode == "ratio":
                strategies[name] = {"ratio": rnd.choice([0.01, 0.29, 0.5, 1, 1, 1.37, 3, 0.333])}
            else:
                strategies[name] = {"capital": rnd.choice([1e4, 2.5e5, 1e6, 7e6, 3e7, 123456.78])}
    return targets, {"mode": mode, "strategies": strategies}


def random_open_orders(rnd, codes_, held):
    orders = []
    for i in range(rnd.choice([0, 0, 0, 1, 2, 3, 5])):
        code = rnd.choice(codes_)
        side = rnd.choice(["buy", "sell"])
        volume = rnd.randint(1, 50) * rnd.choice([1, 10, 100])
        if side == "sell":
            can_use = held.get(code, (0, 0))[1]
            committed = sum(
                o["volume"] - o.get("traded_volume", 0)
                for o in orders
                if o["code"] in (code, to_jq(code)) and o["side"] == "sell"
            )
            if can_use - committed <= 0:
                continue
            volume = min(volume, can_use - committed)
        order_id = rnd.choice([str(100 + i), str(100 - i * 7), "A%d" % i, 9000 + i])
        order = {"order_id": order_id, "code": any_form(rnd, code), "side": side, "volume": volume}
        if rnd.random() < 0.8:
            order["traded_volume"] = rnd.randint(0, volume)
        if rnd.random() < 0.7:
            order["price"] = rnd.choice([10.0, None, 12.34])
        if rnd.random() < 0.5:
            order["age_seconds"] = rnd.choice([0, 10, 31, 600, None])
        orders.append(order)
    return orders


def random_cash(rnd):
    if rnd.random() < 0.6:
        return rnd.choice([0.0, 5e3, 1e5, 1e6, 1e7, 1e8, 1e9, 0])
    return rnd.randint(10**4, 10**11) / 100.0


def random_scenario(rnd):
    count = rnd.choice([1, 2, 3, 4, 6, 8, 12])
    codes_ = rnd.sample(CODES if rnd.random() < 0.3 else TRADABLE, count)
    quotes, held = {}, {}
    for code in codes_:
        kind = rnd.choice(QUOTE_KINDS)
        if kind != "missing":
            quotes[any_form(rnd, code) if rnd.random() < 0.1 else code] = make_quote(
                rnd, code, kind
            )
        if rnd.random() < 0.6:
            volume = random_volume(rnd)
            roll = rnd.random()
            if roll < 0.5:
                can_use = volume
            elif roll < 0.7:  # T+1 or frozen shares in whole lots
                can_use = max(0, volume - rnd.randint(0, volume // 100 + 1) * 100)
            else:
                can_use = rnd.randint(0, volume)
            held[code] = (volume, can_use)
    targets, follow = random_targets(rnd, codes_)
    positions = [
        {"code": any_form(rnd, c), "volume": v, "can_use_volume": u}
        for c, (v, u) in sorted(held.items())
    ]
    scenario = {
        "targets": targets,
        "follow": follow,
        "account": {"cash": random_cash(rnd), "positions": positions},
        "quotes": quotes,
    }
    orders = random_open_orders(rnd, codes_, held)
    if orders or rnd.random() < 0.5:
        scenario["account"]["open_orders"] = orders
    settings = random_settings(rnd, codes_)
    if settings or rnd.random() < 0.2:
        scenario["settings"] = settings
    return scenario


def synthetic_codes(rnd, count):
    """`count` distinct codes of the main boards, ChiNext and STAR (ticks of 0.01)."""
    found = set()
    while len(found) < count:
        prefix, exchange = rnd.choice(
            [
                ("600", "SH"),
                ("601", "SH"),
                ("000", "SZ"),
                ("002", "SZ"),
                ("300", "SZ"),
                ("688", "SH"),
            ]
        )
        found.add("%s%03d.%s" % (prefix, rnd.randint(0, 999), exchange))
    return sorted(found)


def large_scenario(rnd):
    """Hundreds of codes, most held, cash for some of the buys: priority decides."""
    universe = synthetic_codes(rnd, rnd.choice([50, 120, 300]))
    quotes = {}
    for code in universe:
        pct = 0.2 if code[:3] in ("300", "688") else 0.1
        prev = on_tick(rnd.randint(150, 30000), 0.01)
        high, low = limits(prev, 0.01, pct)
        last_t = rnd.randint(int(round(low * 100)) + 1, int(round(high * 100)) - 1)
        quotes[code] = {
            "last": on_tick(last_t, 0.01),
            "prev_close": prev,
            "high_limit": high,
            "low_limit": low,
            "bid1": on_tick(last_t - 1, 0.01),
            "ask1": on_tick(last_t + 1, 0.01),
            "suspended": rnd.random() < 0.02,
        }
    targets = []
    for name in ("A", "B"):
        chosen = [c for c in universe if rnd.random() < 0.6]
        targets.append(
            {
                "strategy": name,
                "positions": [
                    {"code": c, "volume": rnd.randint(1, 40) * 100 + rnd.choice([0, 0, 0, 37])}
                    for c in chosen
                ],
                "portfolio_value": 1e8,
            }
        )
    held = [c for c in universe if rnd.random() < 0.6]
    positions = []
    for code in held:
        volume = rnd.randint(1, 40) * 100 + rnd.choice([0, 0, 50])
        positions.append(
            {
                "code": code,
                "volume": volume,
                "can_use_volume": volume if rnd.random() < 0.8 else volume // 2,
            }
        )
    scenario = {
        "targets": targets,
        "follow": {
            "mode": "ratio",
            "strategies": {"A": {"ratio": 1.0}, "B": {"ratio": rnd.choice([0.5, 1.3])}},
        },
        "account": {
            "cash": rnd.choice([1e5, 1e6, 5e6, 1e9]),
            "positions": positions,
            "open_orders": [],
        },
        "quotes": quotes,
    }
    settings = rnd.choice(
        [
            {},
            {"use_sell_proceeds": True},
            {"slice_value": 50000.0},
            {"max_order_value": 100000.0, "min_order_value": 1000},
            {"slice_value": 30000.0, "max_order_value": 20000.0, "use_sell_proceeds": True},
        ]
    )
    if settings:
        scenario["settings"] = settings
    return scenario


# ---- refused scenarios: one mutation of a valid one ----


def _paths(value, path=()):
    """Every (path, value) inside a scenario (dict keys and list indexes)."""
    yield path, value
    if isinstance(value, dict):
        for key in list(value):
            for found in _paths(value[key], path + (key,)):
                yield found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            for found in _paths(item, path + (i,)):
                yield found


def _parent(scenario, path):
    node = scenario
    for step in path[:-1]:
        node = node[step]
    return node


_BAD_VALUES = [
    "",
    "x",
    "100",
    True,
    False,
    None,
    -1,
    -0.5,
    1.5,
    100.0,
    [],
    {},
    [1],
    float("nan"),
    float("inf"),
    -float("inf"),
    10**30,
    "６０００００.XSHG",
    "600000.XSHG\n",
    "600000.XX",
    "60000.SH",
    0,
    0.0,
    1e-12,
    0.2,
]


def mutate(rnd, scenario):
    """One edit of a valid scenario: a value replaced, a key removed or added, a code
    duplicated in its other form, or an item repeated."""
    scenario = copy.deepcopy(scenario)
    paths = [p for p, _ in _paths(scenario) if p]
    path = rnd.choice(paths)
    parent = _parent(scenario, path)
    roll = rnd.random()
    if roll < 0.6:
        parent[path[-1]] = copy.deepcopy(rnd.choice(_BAD_VALUES))
    elif roll < 0.75 and isinstance(parent, dict):
        del parent[path[-1]]
    elif roll < 0.85 and isinstance(parent, dict):
        parent[rnd.choice(["extra", "Volume", "ratio", "capital", "typo_key"])] = 1
    elif isinstance(parent, list) and parent:  # an item twice: duplicate codes, ids, names
        parent.append(copy.deepcopy(parent[path[-1]]))
    else:
        parent[path[-1]] = copy.deepcopy(rnd.choice(_BAD_VALUES))
    return scenario


# ---- the corpus ----


def build_cases():
    rnd = random.Random(SEED)
    cases = []
    for path in sorted(EXAMPLES.glob("*.json")):
        cases.append(("example:" + path.stem, json.loads(path.read_text(encoding="utf-8"))))
    for i in range(RANDOM_CASES):
        cases.append(("random:%04d" % i, random_scenario(rnd)))
    for i in range(LARGE_CASES):
        cases.append(("large:%02d" % i, large_scenario(rnd)))
    valid = [scenario for name, scenario in cases if not name.startswith("large:")]
    for i in range(MUTATED_CASES):
        cases.append(("mutated:%03d" % i, mutate(rnd, rnd.choice(valid))))
    return cases


def corpus_bytes():
    lines = []
    for name, scenario in build_cases():
        case = {"name": name, "scenario": scenario}
        case.update(outcome(scenario))
        lines.append(dumps(case))
    raw = ("\n".join(lines) + "\n").encode("utf-8")
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz:
        gz.write(raw)
    return buffer.getvalue()


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--check", action="store_true", help="compare with the stored corpus and write nothing"
    )
    args = parser.parse_args(argv)
    data = corpus_bytes()
    if args.check:
        same = CORPUS.exists() and CORPUS.read_bytes() == data
        print("golden corpus %s" % ("unchanged" if same else "DIFFERS"))
        return 0 if same else 1
    CORPUS.write_bytes(data)
    print("wrote %s (%d bytes)" % (CORPUS.relative_to(ROOT), len(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
