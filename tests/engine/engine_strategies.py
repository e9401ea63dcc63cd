"""Hypothesis strategies: random but realistic markets, accounts, targets, settings.

Structural choices (which codes, which market situation per code, which settings)
are hypothesis draws, so hypothesis steers and shrinks them; the many numeric
details (prices, volumes) come from one seeded random.Random drawn by hypothesis,
which keeps 2,000 examples per property fast enough for CI.
"""

from hypothesis import strategies as st

from jq2qmt.rules import codes, prices
from jq2qmt.rules.instrument import instrument

CODES = [
    "600000.SH",
    "601318.SH",
    "600543.SH",
    "000001.SZ",
    "002594.SZ",
    "300750.SZ",
    "688981.SH",
    "689009.SH",
    "430047.BJ",
    "830799.BJ",
    "920118.BJ",
    "510300.SH",
    "159915.SZ",
    "511880.SH",
    "113050.SH",
    "123107.SZ",
    "204001.SH",
    "131810.SZ",
]
TRADABLE = [c for c in CODES if not codes.is_never_traded(c)]
_PRICE_RANGE = {codes.FUND: (0.3, 6.0), codes.BOND: (90.0, 250.0)}
_ST_BOARDS = (codes.SH_MAIN, codes.SZ_MAIN)
QUOTE_KINDS = ["normal"] * 8 + [
    "limit_up",
    "limit_down",
    "no_bid",
    "no_ask",
    "suspended",
    "missing",
]
NORMAL_ONLY = ["normal"]
_RANDOM = st.randoms(use_true_random=True)


def _price(ticks, tick):
    return round(ticks * tick, 3 if tick < 0.01 else 2)


def make_quote(rnd, code, kind):
    """A consistent quote: limits from prev_close, low <= bid < ask <= high."""
    if codes.is_never_traded(code):  # reverse repo etc.: a rate, no limits
        rate = rnd.randint(100, 9000) / 1000.0
        return {
            "last": rate,
            "prev_close": rate,
            "bid1": rate,
            "ask1": rate + 0.005,
            "suspended": False,
            "name": "GC001",
        }
    tick = prices.tick_size(code)
    board = codes.board(code)
    low_price, high_price = _PRICE_RANGE.get(board, (1.5, 300.0))
    prev = _price(rnd.randint(int(low_price / tick), int(high_price / tick)), tick)
    is_st = board in _ST_BOARDS and rnd.random() < 0.2
    high, low = prices.daily_limits(instrument(code), prev, is_st)
    hi_t, lo_t = int(round(high / tick)), int(round(low / tick))
    last_t = rnd.randint(lo_t + 1, hi_t - 1)
    bid_t = max(lo_t, last_t - rnd.randint(0, 3))
    ask_t = min(hi_t, bid_t + rnd.randint(1, 3))
    if kind == "limit_up":
        last_t, bid_t, ask_t = hi_t, hi_t, 0
    elif kind == "limit_down":
        last_t, bid_t, ask_t = lo_t, 0, lo_t
    elif kind == "no_bid":
        bid_t = 0
    elif kind == "no_ask":
        ask_t = 0
    return {
        "last": _price(last_t, tick),
        "prev_close": prev,
        "high_limit": high,
        "low_limit": low,
        "bid1": _price(bid_t, tick),
        "ask1": _price(ask_t, tick),
        "suspended": kind == "suspended",
        "name": "*ST测试" if is_st else "测试股份",
    }


def random_volume(rnd):
    """A volume: odd, whole lots of 100, or whole lots of 10, up to 30,000."""
    shape = rnd.randint(0, 2)
    if shape == 0:
        return rnd.randint(0, 30000)
    if shape == 1:
        return rnd.randint(0, 300) * 100
    return rnd.randint(0, 3000) * 10


_SETTING_CHOICES = {
    "slippage": st.sampled_from([0.0, 0.001, 0.002, 0.005, 0.01, 0.05]),
    "min_order_value": st.sampled_from([0, 500, 5000]),
    "max_order_value": st.sampled_from([3000.0, 20000.0, 200000.0]),
    "slice_value": st.sampled_from([20000.0, 100000.0, 500000.0]),
    "use_sell_proceeds": st.booleans(),
    "reprice_after": st.sampled_from([0, 30]),
    "fees": st.fixed_dictionaries(
        {
            "min_commission": st.sampled_from([0.0, 5.0, 20.0]),
            "commission_rate": st.sampled_from([0.0001, 0.00025, 0.003]),
        }
    ),
}


@st.composite
def settings_dict(draw, codes_):
    keys = draw(st.sets(st.sampled_from(sorted(_SETTING_CHOICES) + ["ignore"]), max_size=4))
    s = {}
    for key in sorted(keys):
        if key == "ignore":
            s["ignore"] = draw(
                st.lists(st.sampled_from(list(codes_) + ["1318*", "51*"]), max_size=2)
            )
        else:
            s[key] = draw(_SETTING_CHOICES[key])
    return s


_RATIOS = st.sampled_from([0.01, 0.29, 0.5, 1, 1, 1.37, 3])
_CAPITALS = st.sampled_from([1e4, 2.5e5, 1e6, 7e6, 3e7])
_PORTFOLIO_VALUES = st.sampled_from([1e5, 1e6, 3.3e6, 1e7])


@st.composite
def targets_and_follow(draw, codes_):
    mode = draw(st.sampled_from(["ratio", "weight"]))
    rnd = draw(_RANDOM)
    targets, strategies = [], {}
    for i in range(draw(st.integers(1, 2))):
        name = "策略%d" % i
        chosen = [c for c in codes_ if rnd.random() < 0.7]
        positions = [
            {"code": codes.to_jq(c) if rnd.random() < 0.5 else c, "volume": random_volume(rnd)}
            for c in chosen
        ]
        if i == 1 and draw(st.booleans()):
            name = "ADJUSTMENT_1"
            for p in positions:
                p["volume"] = -p["volume"] // 3
        targets.append(
            {"strategy": name, "positions": positions, "portfolio_value": draw(_PORTFOLIO_VALUES)}
        )
        if i == 0 or draw(st.booleans()):
            if mode == "ratio":
                strategies[name] = {"ratio": draw(_RATIOS)}
            else:
                strategies[name] = {"capital": draw(_CAPITALS)}
    return targets, {"mode": mode, "strategies": strategies}


@st.composite
def market(draw, kinds=QUOTE_KINDS, pool=CODES, max_codes=6):
    """(codes, quotes, held {code: (volume, can_use)}) for a random set of codes."""
    codes_ = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=max_codes, unique=True))
    rnd = draw(_RANDOM)
    quotes = {}
    held = {}
    kind_strategy = st.sampled_from(kinds)
    for code in codes_:
        kind = draw(kind_strategy)
        if kind != "missing":
            quotes[code] = make_quote(rnd, code, kind)
        if rnd.random() < 0.5:
            volume = random_volume(rnd)
            can_use = volume if rnd.random() < 0.5 else rnd.randint(0, volume)
            held[code] = (volume, can_use)
    return codes_, quotes, held


CASH = st.one_of(
    st.sampled_from([0.0, 5e3, 1e5, 1e6, 1e7, 1e8, 1e8, 1e9, 1e9]),
    st.integers(10**6, 10**11).map(lambda f: f / 100.0),
)


@st.composite
def raw_scenarios(draw):
    """A raw scenario of the contract, with arbitrary open orders."""
    codes_, quotes, held = draw(market())
    targets, follow = draw(targets_and_follow(codes_))
    rnd = draw(_RANDOM)
    open_orders = []
    for i in range(draw(st.integers(0, 4))):
        code = rnd.choice(codes_)
        side = rnd.choice(["buy", "sell"])
        volume = rnd.randint(1, 50) * rnd.choice([1, 10, 100])
        if side == "sell":
            can_use = held.get(code, (0, 0))[1]
            committed = sum(
                o["volume"] - o["traded_volume"]
                for o in open_orders
                if o["code"] == code and o["side"] == "sell"
            )
            if can_use - committed <= 0:
                continue
            volume = min(volume, can_use - committed)
        order = {
            "order_id": str(100 + i),
            "code": code,
            "side": side,
            "volume": volume,
            "traded_volume": rnd.randint(0, volume - 1),
            "price": 10.0,
        }
        if rnd.random() < 0.5:
            order["age_seconds"] = rnd.choice([0, 10, 31, 600])
        open_orders.append(order)
    positions = [
        {"code": codes.to_jq(c) if rnd.random() < 0.5 else c, "volume": v, "can_use_volume": u}
        for c, (v, u) in sorted(held.items())
    ]
    return {
        "targets": targets,
        "follow": follow,
        "account": {"cash": draw(CASH), "positions": positions, "open_orders": open_orders},
        "quotes": quotes,
        "settings": draw(settings_dict(codes_)),
    }
