"""Parse and validate a plan scenario (its shape: docs/engine.md).

parse_scenario(raw) checks every field of a raw scenario dict (as loaded from JSON)
and returns a normalized scenario of the same shape: codes in QMT form, defaults
filled in, numbers checked. Parsing a normalized scenario again gives the same
result. Anything that breaks the contract raises ScenarioError(field, reason).
"""

from ..rules import codes
from ..rules import fees as fee_rules
from ..rules import settings as account_settings
from .errors import ScenarioError

FOLLOW_MODES = ("ratio", "weight")
SIDES = ("buy", "sell")
TOP_LEVEL_KEYS = ("targets", "follow", "account", "quotes", "settings", "description")
QUOTE_NUMBERS = ("last", "prev_close", "high_limit", "low_limit", "bid1", "ask1")

# A scenario without a setting trades as an account without it (the account defaults);
# the engine's own settings (fees, reprice_after) come after them.
DEFAULT_SETTINGS = {
    "slippage": account_settings.DEFAULTS["slippage"],
    "ignore": [],
    "min_order_value": float(account_settings.DEFAULTS["min_order_value"]),
    "max_order_value": account_settings.DEFAULTS["max_order_value"],
    "use_sell_proceeds": account_settings.DEFAULTS["use_sell_proceeds"],
    "fees": dict(fee_rules.DEFAULT_FEES),
    "reprice_after": None,
    "slice_value": account_settings.DEFAULTS["slice_value"],
    # Follower settings (plan API): accepted and checked here so that the follower can
    # pass the server's settings unchanged; the engine itself does not use them.
    "max_turnover": None,
    "order_timeout": None,
    "max_reprices": None,
    "sessions": None,
}
MAX_SLIPPAGE = account_settings.MAX_SLIPPAGE
_INF = float("inf")

# Speed: a plan parses every position and quote field, and one call per field costs
# about a third of a plan. So the common case (a plain dict, int or finite float) is
# read inline, and anything else goes through the same checker as before (_required,
# _integer, _number), which alone decides errors and their messages.
#
# Field paths: the parsers of one item of a list or object (a position, an order, a
# quote) name fields relative to the item (".volume", or "" for the item itself); the
# loop over the items puts the item's path in front (_moved) only when one is
# invalid, so that valid scenarios build no path strings at all.


def _moved(prefix, error):
    """`error` raised with a field relative to an item, moved under the item's path."""
    return ScenarioError(prefix + error.field, error.reason)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value, field, minimum=None, positive=False, nullable=False):
    if value.__class__ is not float:  # a plain float needs no conversion
        if value is None and nullable:
            return None
        if not _is_number(value):
            raise ScenarioError(field, "必须是数字 / must be a number, got %r" % (value,))
        value = float(value)
    if not -_INF < value < _INF:  # nan or infinite
        raise ScenarioError(field, "必须是有限数 / must be finite")
    if positive and value <= 0:
        raise ScenarioError(field, "必须大于 0 / must be > 0, got %r" % (value,))
    if minimum is not None and value < minimum:
        raise ScenarioError(
            field, "不能小于 %s / must be >= %s, got %r" % (minimum, minimum, value)
        )
    return value


def _integer(value, field, minimum=None):
    if value.__class__ is not int:  # a plain int needs no conversion
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ScenarioError(field, "必须是整数 / must be an integer, got %r" % (value,))
    if minimum is not None and value < minimum:
        raise ScenarioError(
            field, "不能小于 %d / must be >= %d, got %r" % (minimum, minimum, value)
        )
    return value


def _dict(value, field):
    if not isinstance(value, dict):
        raise ScenarioError(field, "必须是对象 / must be an object")
    return value


def _list(value, field):
    if not isinstance(value, list):
        raise ScenarioError(field, "必须是数组 / must be an array")
    return value


def _required(obj, key, field):
    """obj[key]; `field` is the path of `obj`, None at the top level."""
    if key not in obj:
        raise ScenarioError(
            field + "." + key if field is not None else key, "缺少字段 / missing field"
        )
    return obj[key]


def _code(value, field):
    try:
        return codes.normalize(value)
    except codes.CodeError as exc:
        raise ScenarioError(field, str(exc))


def _text(value, field):
    if not isinstance(value, str) or not value:
        raise ScenarioError(field, "必须是非空字符串 / must be a non-empty string")
    return value


def _parse_target_position(pos, codes_seen):
    """One position of a strategy (fields relative to it); adds its code to codes_seen."""
    # plain dicts, ints and floats are taken inline; the checkers judge everything else
    if pos.__class__ is not dict:
        _dict(pos, "")
    code = _code(pos["code"] if "code" in pos else _required(pos, "code", ""), ".code")
    if code in codes_seen:
        raise ScenarioError(".code", "重复的代码 / duplicate code %s" % code)
    codes_seen.add(code)
    volume = pos["volume"] if "volume" in pos else _required(pos, "volume", "")
    if volume.__class__ is not int:
        volume = _integer(volume, ".volume")
    cost = pos.get("cost")
    if cost is not None and (cost.__class__ is not float or not 0.0 <= cost < _INF):
        cost = _number(cost, ".cost", minimum=0, nullable=True)
    return {"code": code, "volume": volume, "cost": cost}


def parse_targets(raw):
    """Check `targets`: strategies with unique names and positions with unique codes.

    Volumes are integers (negative allowed for adjustment strategies); cost and
    portfolio_value are optional numbers (portfolio_value > 0).
    """
    result = []
    seen = set()
    for i, target in enumerate(_list(raw, "targets")):
        field = "targets[%d]" % i
        _dict(target, field)
        name = _text(_required(target, "strategy", field), field + ".strategy")
        if name in seen:
            raise ScenarioError(field + ".strategy", "重复的策略 / duplicate strategy %r" % name)
        seen.add(name)
        positions = []
        codes_seen = set()
        for j, pos in enumerate(_list(_required(target, "positions", field), field + ".positions")):
            try:
                positions.append(_parse_target_position(pos, codes_seen))
            except ScenarioError as error:
                raise _moved("%s.positions[%d]" % (field, j), error) from None
        value = _number(
            target.get("portfolio_value"), field + ".portfolio_value", positive=True, nullable=True
        )
        result.append({"strategy": name, "positions": positions, "portfolio_value": value})
    return result


def parse_follow(raw, targets=None):
    """Check `follow`: mode "ratio" (each strategy has ratio > 0) or "weight" (each has
    capital > 0 CNY, and the followed targets need portfolio_value > 0).
    """
    _dict(raw, "follow")
    mode = _required(raw, "mode", "follow")
    if mode not in FOLLOW_MODES:
        raise ScenarioError(
            "follow.mode", "必须是 ratio 或 weight / must be ratio or weight, got %r" % (mode,)
        )
    key = "ratio" if mode == "ratio" else "capital"
    strategies = {}
    for name, entry in sorted(
        _dict(_required(raw, "strategies", "follow"), "follow.strategies").items()
    ):
        field = "follow.strategies.%s" % name
        _dict(entry, field)
        for extra in sorted(set(entry) - {"ratio", "capital"}):
            raise ScenarioError(field + "." + extra, "未知字段 / unknown key")
        strategies[name] = {
            key: _number(_required(entry, key, field), field + "." + key, positive=True)
        }
    if mode == "weight":
        for i, target in enumerate(targets or []):
            if target["strategy"] in strategies and not target["portfolio_value"]:
                raise ScenarioError(
                    "targets[%d].portfolio_value" % i,
                    "weight 模式必须提供 / required in weight mode",
                )
    return {"mode": mode, "strategies": strategies}


def _parse_position(pos):
    """One account position (fields relative to it)."""
    # a plain dict of plain ints >= 0 is read inline; the checkers judge everything else
    if pos.__class__ is not dict:
        _dict(pos, "")
    code = _code(pos["code"] if "code" in pos else _required(pos, "code", ""), ".code")
    volume = pos["volume"] if "volume" in pos else _required(pos, "volume", "")
    if volume.__class__ is not int or volume < 0:
        volume = _integer(volume, ".volume", minimum=0)
    can_use = (
        pos["can_use_volume"] if "can_use_volume" in pos else _required(pos, "can_use_volume", "")
    )
    if can_use.__class__ is not int or can_use < 0:
        can_use = _integer(can_use, ".can_use_volume", minimum=0)
    if can_use > volume:
        raise ScenarioError(".can_use_volume", "不能大于持仓 / exceeds volume %d" % volume)
    return {"code": code, "volume": volume, "can_use_volume": can_use}


def _parse_open_order(order):
    """One open order (fields relative to it)."""
    _dict(order, "")
    order_id = _required(order, "order_id", "")
    if isinstance(order_id, bool) or not isinstance(order_id, (str, int)) or order_id == "":
        raise ScenarioError(".order_id", "必须是字符串 / must be a string")
    side = _required(order, "side", "")
    if side not in SIDES:
        raise ScenarioError(".side", "必须是 buy 或 sell / must be buy or sell")
    volume = _integer(_required(order, "volume", ""), ".volume", minimum=1)
    traded = _integer(order.get("traded_volume", 0), ".traded_volume", minimum=0)
    if traded > volume:
        raise ScenarioError(".traded_volume", "不能大于委托量 / exceeds volume")
    return {
        "order_id": str(order_id),
        "code": _code(_required(order, "code", ""), ".code"),
        "side": side,
        "volume": volume,
        "traded_volume": traded,
        "price": _number(order.get("price"), ".price", positive=True, nullable=True),
        "age_seconds": _number(order.get("age_seconds"), ".age_seconds", minimum=0, nullable=True),
    }


def parse_account(raw):
    """Check `account`: cash >= 0, positions (volume >= can_use_volume >= 0, unique
    codes) and optional open orders (volume > 0, 0 <= traded_volume <= volume).
    """
    _dict(raw, "account")
    cash = _number(_required(raw, "cash", "account"), "account.cash", minimum=0)
    positions = []
    seen = set()
    for i, pos in enumerate(_list(_required(raw, "positions", "account"), "account.positions")):
        try:
            parsed = _parse_position(pos)
        except ScenarioError as error:
            raise _moved("account.positions[%d]" % i, error) from None
        if parsed["code"] in seen:
            raise ScenarioError(
                "account.positions[%d].code" % i, "重复的代码 / duplicate code %s" % parsed["code"]
            )
        seen.add(parsed["code"])
        positions.append(parsed)
    orders = []
    ids = set()
    for i, order in enumerate(_list(raw.get("open_orders", []), "account.open_orders")):
        try:
            parsed = _parse_open_order(order)
        except ScenarioError as error:
            raise _moved("account.open_orders[%d]" % i, error) from None
        if parsed["order_id"] in ids:
            raise ScenarioError(
                "account.open_orders[%d].order_id" % i, "重复的委托号 / duplicate order_id"
            )
        ids.add(parsed["order_id"])
        orders.append(parsed)
    return {"cash": cash, "positions": positions, "open_orders": orders}


def _parse_quote(quote):
    """One quote (fields relative to it)."""
    if quote.__class__ is not dict:  # a plain dict needs no check
        _dict(quote, "")
    get = quote.get
    parsed = {}
    for key in QUOTE_NUMBERS:
        value = get(key)
        # the common case, a finite float >= 0, is taken inline; _number judges the rest
        if value.__class__ is not float or not 0.0 <= value < _INF:
            value = _number(value, "." + key, minimum=0, nullable=True)
        parsed[key] = value
    high, low = parsed["high_limit"], parsed["low_limit"]
    if high and low and high < low:
        raise ScenarioError(".high_limit", "低于跌停价 / below low_limit")
    suspended = get("suspended", False)
    if not isinstance(suspended, bool):
        raise ScenarioError(".suspended", "必须是 true/false / must be a boolean")
    parsed["suspended"] = suspended
    name = get("name")
    if name is not None and not isinstance(name, str):
        raise ScenarioError(".name", "必须是字符串 / must be a string")
    parsed["name"] = name
    st = get("st")
    if st is not None and not isinstance(st, bool):
        raise ScenarioError(".st", "必须是 true/false / must be a boolean")
    parsed["st"] = st
    return parsed


def parse_quotes(raw):
    """Check `quotes`: an object code -> quote; prices are numbers >= 0 or null (0 or
    null means unknown / empty level), suspended a boolean; optional name and st
    (risk warning) decide the ST limit when limits are derived.
    """
    result = {}
    for key in sorted(_dict(raw, "quotes")):
        try:
            code = _code(key, "")
            if code in result:
                raise ScenarioError("", "重复的代码 / duplicate code %s" % code)
            result[code] = _parse_quote(raw[key])
        except ScenarioError as error:
            raise _moved("quotes.%s" % key, error) from None
    return result


def _parse_ignore(raw):
    entries = []
    for i, entry in enumerate(_list(raw, "settings.ignore")):
        field = "settings.ignore[%d]" % i
        _text(entry, field)
        if "*" in entry or "?" in entry:
            entries.append(entry.upper())
        else:
            entries.append(_code(entry, field))
    return entries


def _parse_sessions(raw):
    for i, session in enumerate(_list(raw, "settings.sessions")):
        field = "settings.sessions[%d]" % i
        if not (
            isinstance(session, list)
            and len(session) == 2
            and all(isinstance(t, str) for t in session)
        ):
            raise ScenarioError(field, '必须是 [开始, 结束] / must be ["HH:MM", "HH:MM"]')
    return [list(s) for s in raw]


def _parse_fees(raw):
    result = dict(fee_rules.DEFAULT_FEES)
    for key in sorted(_dict(raw, "settings.fees")):
        if key not in fee_rules.DEFAULT_FEES:
            raise ScenarioError("settings.fees." + key, "未知设置 / unknown setting")
        result[key] = _number(raw[key], "settings.fees." + key, minimum=0)
    return result


def parse_settings(raw):
    """Check `settings` (optional); every key has a default. Unknown keys are errors,
    so a typo in a risk setting is never silently ignored.
    """
    if raw is None:
        raw = {}
    _dict(raw, "settings")
    for key in sorted(raw):
        if key not in DEFAULT_SETTINGS:
            raise ScenarioError("settings." + key, "未知设置 / unknown setting")
    s = dict(DEFAULT_SETTINGS)
    s["fees"] = dict(fee_rules.DEFAULT_FEES)
    s["ignore"] = []
    get = raw.get
    if "slippage" in raw:
        s["slippage"] = _number(get("slippage"), "settings.slippage", minimum=0)
        if s["slippage"] > MAX_SLIPPAGE:
            raise ScenarioError(
                "settings.slippage", "不能大于 %s / must be <= %s" % (MAX_SLIPPAGE, MAX_SLIPPAGE)
            )
    if "ignore" in raw:
        s["ignore"] = _parse_ignore(get("ignore"))
    if "min_order_value" in raw:
        s["min_order_value"] = _number(
            get("min_order_value"), "settings.min_order_value", minimum=0
        )
    for key in ("max_order_value", "slice_value"):
        s[key] = _number(get(key), "settings." + key, positive=True, nullable=True)
    for key in ("reprice_after", "max_turnover", "order_timeout"):
        s[key] = _number(get(key), "settings." + key, minimum=0, nullable=True)
    if get("max_reprices") is not None:
        s["max_reprices"] = _integer(get("max_reprices"), "settings.max_reprices", minimum=0)
    if "use_sell_proceeds" in raw:
        if not isinstance(get("use_sell_proceeds"), bool):
            raise ScenarioError(
                "settings.use_sell_proceeds", "必须是 true/false / must be a boolean"
            )
        s["use_sell_proceeds"] = get("use_sell_proceeds")
    if "fees" in raw:
        s["fees"] = _parse_fees(get("fees"))
    if get("sessions") is not None:
        s["sessions"] = _parse_sessions(get("sessions"))
    return s


def parse_scenario(raw):
    """Validate a raw scenario dict and return it normalized (see module docstring).

    Raises ScenarioError(field, reason) naming the first offending field.
    """
    _dict(raw, "scenario")
    for key in sorted(raw):
        if key not in TOP_LEVEL_KEYS:
            raise ScenarioError(key, "未知字段 / unknown key")
    targets = parse_targets(_required(raw, "targets", None))
    follow = parse_follow(_required(raw, "follow", None), targets)
    account = parse_account(_required(raw, "account", None))
    quotes = parse_quotes(raw.get("quotes", {}))
    settings = parse_settings(raw.get("settings"))
    return {
        "targets": targets,
        "follow": follow,
        "account": account,
        "quotes": quotes,
        "settings": settings,
    }
