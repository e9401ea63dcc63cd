"""The API's paths, in one place: the routes declare them, the fast path matches them
(`regex`) and the request metrics label reads by them."""

import re

UPLOAD = "/api/v1/positions/update"
UPLOAD_INTERNAL = "/api/v1/positions/update/internal"
TOTAL = "/api/v1/positions/total"
ALL_POSITIONS = "/api/v1/positions/all"
STRATEGY = "/api/v1/positions/strategy/{strategy_name}"
STRATEGIES = "/api/v1/strategies"
HISTORY = "/api/v1/strategies/{strategy_name}/history"
VERSION = "/api/v1/strategies/{strategy_name}/versions/{version}"
DIFF = "/api/v1/strategies/{strategy_name}/diff"
ACCOUNTS = "/api/v1/accounts"
PLAN = "/api/v1/accounts/{account_id}/plan"
REPORTS = "/api/v1/accounts/{account_id}/reports"

_PARAM = re.compile(r"\{([a-z_]+)\}")


def regex(template):
    """A compiled pattern matching exactly the paths of `template`, its parameters as
    named groups (one path segment each, as the router matches them)."""
    parts, last = [], 0
    for match in _PARAM.finditer(template):
        parts.append(re.escape(template[last : match.start()]))
        parts.append("(?P<%s>[^/]+)" % match.group(1))
        last = match.end()
    parts.append(re.escape(template[last:]))
    return re.compile("^%s$" % "".join(parts))
