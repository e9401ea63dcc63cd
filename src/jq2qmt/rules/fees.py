"""Trading fees, in whole fen (0.01 CNY) so that the engine's estimate and the paper
exchange's charge are the same integers.

Defaults (typical broker terms, configurable in settings.fees): commission 0.025% of
the amount on both sides with a 5 CNY minimum per order; stamp duty 0.05% on share
sells (since 2023-08-28); transfer fee 0.001% on shares, both sides. ETF/LOF and
convertible bonds pay commission only. Each fee is rounded up to the fen (a
conservative estimate). The per-order functions take the code's Instrument
(rules.instrument), whose `stock` says whether stamp duty and transfer fee apply.
"""

import math

DEFAULT_FEES = {
    "commission_rate": 0.00025,
    "min_commission": 5.0,
    "stamp_duty_rate": 0.0005,
    "transfer_fee_rate": 0.00001,
}
_FEE_KEYS = frozenset(DEFAULT_FEES)


def with_defaults(fees=None):
    """The fee settings with defaults filled in; unknown keys raise ValueError.

    A complete settings dict is returned as it is (no copy).
    """
    if fees is not None and fees.keys() == _FEE_KEYS:
        return fees
    merged = dict(DEFAULT_FEES)
    for key, value in (fees or {}).items():
        if key not in DEFAULT_FEES:
            raise ValueError("unknown fee setting: %s" % key)
        merged[key] = float(value)
    return merged


def price_li(price):
    """A price in li (0.001 CNY); every tick is a whole number of li."""
    return round(price * 1000)  # round() of a float or int is an int


def amount_li(price, volume):
    """Order amount price x volume in li, exact for on-tick prices."""
    return price_li(price) * int(volume)


def _ceil_fen(li_value):
    return math.ceil(li_value / 10.0 - 1e-9)  # an int


def fees_fen_for_amount(inst, side, amount, fees=None):
    """Total fees in fen for one order of Instrument `inst` whose traded amount is
    `amount` li.

    commission = max(amount x commission_rate, min_commission) (0 for amount 0);
    stamp duty = amount x stamp_duty_rate on share sells; transfer fee = amount x
    transfer_fee_rate on shares. Each part rounded up to the fen.
    """
    if amount <= 0:
        return 0
    f = with_defaults(fees)
    total = max(_ceil_fen(amount * f["commission_rate"]), _ceil_fen(f["min_commission"] * 1000))
    if inst.stock:
        total += _ceil_fen(amount * f["transfer_fee_rate"])
        if side == "sell":
            total += _ceil_fen(amount * f["stamp_duty_rate"])
    return total


def buy_cost_fen(inst, price, volume, fees=None):
    """Cash a buy order needs, in fen: amount rounded up to the fen plus fees."""
    amount = amount_li(price, volume)
    return _ceil_fen(amount) + fees_fen_for_amount(inst, "buy", amount, fees)


def sell_proceeds_fen(inst, price, volume, fees=None):
    """Cash a sell order brings, in fen: amount rounded down to the fen minus fees."""
    amount = amount_li(price, volume)
    return amount // 10 - fees_fen_for_amount(inst, "sell", amount, fees)


def estimate_fees(inst, side, price, volume, fees=None):
    """Estimated fees in CNY (float, 2 decimals) for one order filled at `price`."""
    return fees_fen_for_amount(inst, side, amount_li(price, volume), fees) / 100.0


def to_fen(cny):
    """CNY -> whole fen, rounded down (cash is never overstated)."""
    return int(math.floor(cny * 100 + 1e-6))
