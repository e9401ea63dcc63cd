"""Small builders for engine test scenarios (plain dicts in the contract's shape)."""


def quote(
    last,
    prev_close=None,
    bid1=None,
    ask1=None,
    high_limit=None,
    low_limit=None,
    suspended=False,
    **extra,
):
    """A quote; bid/ask default to one tick around last (0.01)."""
    q = {
        "last": last,
        "prev_close": prev_close if prev_close is not None else last,
        "bid1": bid1 if bid1 is not None else round(last - 0.01, 3),
        "ask1": ask1 if ask1 is not None else round(last + 0.01, 3),
        "suspended": suspended,
    }
    if high_limit is not None:
        q["high_limit"] = high_limit
    if low_limit is not None:
        q["low_limit"] = low_limit
    q.update(extra)
    return q


def scenario(
    target,
    held=None,
    cash=1000000.0,
    quotes=None,
    ratio=1.0,
    open_orders=None,
    settings=None,
    strategy="S1",
):
    """One followed strategy with `target` {code: volume} (ratio mode), an account
    holding `held` {code: volume or (volume, can_use)}, and quotes.
    """
    positions = []
    for code, value in sorted((held or {}).items()):
        volume, can_use = value if isinstance(value, tuple) else (value, value)
        positions.append({"code": code, "volume": volume, "can_use_volume": can_use})
    sc = {
        "targets": [
            {
                "strategy": strategy,
                "positions": [{"code": c, "volume": v} for c, v in sorted(target.items())],
                "portfolio_value": 1000000.0,
            }
        ],
        "follow": {"mode": "ratio", "strategies": {strategy: {"ratio": ratio}}},
        "account": {"cash": cash, "positions": positions, "open_orders": open_orders or []},
        "quotes": quotes or {},
    }
    if settings is not None:
        sc["settings"] = settings
    return sc


def by_code(plan, key="orders"):
    """{code: [entries]} of a plan list."""
    result = {}
    for entry in plan[key]:
        result.setdefault(entry["code"], []).append(entry)
    return result


def reasons(plan):
    """{code: set of skip reasons}."""
    result = {}
    for entry in plan["skipped"]:
        result.setdefault(entry["code"], set()).add(entry["reason"])
    return result


def scenario_from_exchange(ex, targets, follow, settings=None, drop_limits=False):
    """A scenario of the account and quotes of a PaperExchange, as a follower builds it.

    The exchange reports can_use_volume net of open sell orders (like QMT), while the
    contract subtracts open sells from can_use_volume, so they are added back here.
    """
    open_orders = ex.orders(open_only=True)
    open_sells = {}
    for o in open_orders:
        if o["side"] == "sell":
            open_sells[o["code"]] = open_sells.get(o["code"], 0) + o["volume"] - o["traded_volume"]
    positions = [
        {
            "code": p["code"],
            "volume": p["volume"],
            "can_use_volume": p["can_use_volume"] + open_sells.get(p["code"], 0),
        }
        for p in ex.positions()
    ]
    quotes = ex.quotes()
    if drop_limits:
        for q in quotes.values():
            q.pop("high_limit")
            q.pop("low_limit")
    sc = {
        "targets": targets,
        "follow": follow,
        "account": {
            "cash": ex.cash,
            "positions": positions,
            "open_orders": [
                {
                    "order_id": o["order_id"],
                    "code": o["code"],
                    "side": o["side"],
                    "volume": o["volume"],
                    "traded_volume": o["traded_volume"],
                    "price": o["price"],
                }
                for o in open_orders
            ],
        },
        "quotes": quotes,
    }
    if settings is not None:
        sc["settings"] = settings
    return sc
