"""An account's plan: its followed strategies' targets, follow settings and switches.

The body is the one fixed in docs/api.md. It is built only when the
client does not already hold the current `plan_version` (a 304 reads one account row
and the followed strategies' version numbers) and is cached per plan version, which
hashes everything the body is built from, so a cached body is never stale.

`ChangeWatcher` serves the long-polls: every waiting request of a process shares one
read of the database's change counter per interval (async sleeps, no thread per
waiter; the read is the process's `fresh_reads.FreshReads`, shared with the
conditional reads), so a change written by any server process wakes the waiters.
"""

import asyncio
import json

from jq2qmt import trading_calendar
from jq2qmt.engine.errors import ScenarioError
from jq2qmt.engine.merge import merge_targets
from jq2qmt.store import accounts as store
from jq2qmt.store import repo
from jq2qmt.store.snapshot import format_time

MAX_WAIT = 30
POLL_INTERVAL = (
    0.1  # s between change-counter reads while long-polls wait (~10 small queries/s per process)
)


class PlanState:
    """What a request needs to decide between 304 and a body."""

    def __init__(self, version, seen):
        self.version = version
        self.seen = seen  # recent change numbers, read before the version


def read_state(db, account_id):
    """The account's plan version and the recent changes it reflects; raises
    AccountNotFound."""
    with db.read() as session:
        seen = store.recent_changes(session)
        account = store.get_account(session, account_id)
        return PlanState(store.plan_version(session, account), seen)


def _targets(session, follows):
    rows = store.strategy_rows(session, [f.strategy_name for f in follows])
    # plain rows, not ORM objects: a plan of 100 strategies reads thousands of positions
    positions = repo.positions_of(session, [r.id for r in rows.values()])
    targets = []
    for name in sorted(rows):
        row = rows[name]
        portfolio = json.loads(row.portfolio_json) if row.portfolio_json else {}
        targets.append(
            {
                "strategy": name,
                "version": row.version,
                "update_time": format_time(row.update_time),
                "positions": positions.get(row.id, []),
                "portfolio_value": portfolio.get("total_value"),
            }
        )
    return targets


def build_plan(session, account):
    """The plan body for `account` (see the module docstring)."""
    follows = store.follows_of(session, account)
    return {
        "account_id": account.account_id,
        "name": account.name,
        "plan_version": store.plan_version(session, account, follows),
        "paused": account.paused,
        "dry_run": account.dry_run,
        # true until the admin confirms the account: the follower sends nothing to
        # its broker and reports what it sees (confirming bumps the plan version)
        "preflight": not account.confirmed,
        "approved_version": account.approved_version,
        "targets": _targets(session, follows),
        "follow": store.follow_dict(account, follows),
        "settings": store.settings_of(account),
        # the weekday closures of the A-share calendar (jq2qmt.trading_calendar); its
        # fingerprint is part of plan_version
        "calendar": trading_calendar.plan_calendar(),
    }


def current_plan(db, cache, account_id):
    """The current plan body, from the cache when its version is known."""
    with db.read() as session:
        account = store.get_account(session, account_id)
        version = store.plan_version(session, account)
        return cache.get_or_build(version, lambda: build_plan(session, account))


def merged_target(plan):
    """Per code the scaled target volume of the plan (engine.merge_targets), as rows
    with the strategies' names; (rows, None) or (None, reason) when it cannot be
    computed (weight mode without a strategy's portfolio value)."""
    try:
        volumes = merge_targets(plan["targets"], plan["follow"])
    except (ScenarioError, KeyError, TypeError, ValueError) as exc:
        return None, str(exc)
    names = {}
    for target in plan["targets"]:
        for p in target["positions"]:
            names.setdefault(p["code"], p.get("name"))
    return [
        {"code": code, "name": names.get(code), "volume": volume}
        for code, volume in volumes.items()
    ], None


class ChangeWatcher:
    """Shared polling of the change counter for one process (see module docstring)."""

    def __init__(self, fresh, interval=POLL_INTERVAL):
        self.fresh = fresh  # the process's fresh_reads.FreshReads
        self.interval = interval
        self._loop = None
        self._lock = None
        self._recent = None
        self._at = 0.0

    async def latest(self):
        """The recent change numbers, read at most once per interval for everyone."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (e.g. a restarted server)
            self._loop, self._lock, self._recent = loop, asyncio.Lock(), None
        async with self._lock:
            if self._recent is None or loop.time() - self._at >= self.interval:
                self._recent = await self.fresh.get()
                self._at = loop.time()
            return self._recent

    async def wait_past(self, seen, deadline, gone=None):
        """The recent changes once they hold one that `seen` did not; None at
        `deadline` (loop time) or when `gone()` says the client left."""
        loop = asyncio.get_running_loop()
        while True:
            recent = await self.latest()
            if store.has_news(recent, seen):
                return recent
            remaining = deadline - loop.time()
            if remaining <= 0 or (gone is not None and await gone()):
                return None
            await asyncio.sleep(min(self.interval, remaining))
