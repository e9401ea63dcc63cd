"""Helpers of the end-to-end tests: the admin and JoinQuant sides of a live server over
plain HTTP, a paper exchange with quotes, a settable exchange clock, and an
in-process follower (the package's own loop, client and paper broker)."""

import json

import requests

from jq2qmt.brokers.paper import PaperBroker
from jq2qmt.follower.client import PlanClient
from jq2qmt.follower.loop import Follower
from jq2qmt.sim.exchange import PaperExchange
from testkit import MORNING, QUOTES, Clock  # noqa: F401 (used by the e2e tests)

ACCOUNT = "8886660057"
STRATEGY = "多策略V1.0"
UPLOAD = "/api/v1/positions/update"


class Server:
    """A live server seen from the admin and from JoinQuant."""

    def __init__(self, live):
        self.live = live
        self.instance = live.instance

    @property
    def url(self):
        return self.live.url

    def admin(self, method, path, payload=None, url=None):
        response = requests.request(
            method,
            (url or self.url) + path,
            json=payload,
            timeout=10,
            headers=self.instance.admin_headers(),
        )
        assert response.status_code // 100 == 2, response.text
        return response.json()

    def upload(self, positions, name=STRATEGY, total_value=1000000.0):
        body = json.dumps(
            {
                "strategy_name": name,
                "positions": [
                    {"code": c, "volume": v, "cost": 10.0} for c, v in sorted(positions.items())
                ],
                "portfolio": {"total_value": total_value, "cash": 0.0},
            },
            ensure_ascii=False,
        ).encode("utf-8")
        headers = self.instance.signed_headers("POST", UPLOAD, body)
        headers["Content-Type"] = "application/json"
        response = requests.post(self.url + UPLOAD, data=body, headers=headers, timeout=10)
        assert response.status_code == 200, response.text

    def reports(self, account=ACCOUNT):
        return self.admin("GET", "/api/v1/accounts/%s/reports?limit=500" % account)["reports"]

    def account(self, account=ACCOUNT):
        return self.admin("GET", "/api/v1/accounts/%s" % account)


def make_exchange(cash=1000000.0, **options):
    exchange = PaperExchange(cash=cash, **options)
    for code, quote in QUOTES.items():
        exchange.set_quote(code, **quote)
    return exchange


def make_follower(server, token, exchange, clock, account=ACCOUNT, url=None):
    client = PlanClient(url or server.url, token, account, timeout=3.0)
    return Follower(PaperBroker(exchange), client, clock)


def holdings(exchange):
    return dict((p["code"], p["volume"]) for p in exchange.positions() if p["volume"])


def rounds(follower, clock, count=3):
    """Run `count` rounds a second apart; returns their reports."""
    reports = []
    for _ in range(count):
        clock.advance(1)
        reports.append(follower.run_round())
    return reports
