"""When the follower may trade (the market's hours, from rules.sessions), its clock,
and the round ids and remarks that mark its orders.

Times are naive `datetime` values in exchange time (Beijing); only beijing_now reads
the clock.

Bundled into the exported QMT file: Python 3.6, stdlib only.
"""

import datetime
import random

# the market's trading hours, under the follower's names
from ..rules.sessions import (
    in_session,
    is_preopen,
    is_trading_day,
    parse_sessions,
    seconds_to_next_change,
)

__all__ = [
    "beijing_now",
    "in_session",
    "is_our_remark",
    "is_preopen",
    "is_trading_day",
    "make_remark",
    "make_round_id",
    "new_process_tag",
    "parse_sessions",
    "seconds_to_next_change",
]


def beijing_now():
    """The exchange clock for a follower running outside QMT (any machine time zone)."""
    utc = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return utc + datetime.timedelta(hours=8)


def make_round_id(now, counter, tag=""):
    """Short, sortable, recognisable: 'jq1125093102-k707' (fits broker remark limits).

    `tag` (two characters, random per follower process) keeps ids unique when a
    restarted follower runs its first round within the same second.
    """
    return "jq%s-%s%02d" % (now.strftime("%m%d%H%M%S"), tag, counter % 100)


def new_process_tag():
    alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
    return "".join(random.choice(alphabet) for _ in range(2))


def make_remark(round_id, index):
    return "%s.%d" % (round_id, index)


def is_our_remark(remark):
    """Our orders are recognised by remark, never by strategy name."""
    remark = remark or ""
    if not remark.startswith("jq") or len(remark) < 15:
        return False
    # ASCII digits only (str.isdigit() also takes fullwidth digits, which we never write)
    return all("0" <= c <= "9" for c in remark[2:12]) and remark[12] == "-"
