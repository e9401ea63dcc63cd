"""The API's paths, in one place: the routes declare them, the fast paths match them
(`regex`) and find their route objects (`find_route`), and the request metrics label
reads by them."""

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


def find_route(routes, template, method):
    """The route object of `template` answering `method` among `routes` (an app's or a
    router's), looking into included routers, or None. The fast paths put it in the
    ASGI scope, so request logs and metrics label their answers exactly like the
    route's own."""
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's included router
        if included is not None:
            found = find_route(included.routes, template, method)
            if found is not None:
                return found
        elif getattr(route, "path", None) == template and method in (
            getattr(route, "methods", None) or ()
        ):
            return route
    return None
