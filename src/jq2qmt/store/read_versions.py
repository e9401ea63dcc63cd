"""What a versioned read's answer is determined by: one small query per read, whose
result changes whenever the answer does (the server's strong ETags are built from
it). Each returns None when the read's subject does not exist (the route answers
404).

Rows they rely on: a strategy's ``version`` grows with every new snapshot and removal
and its stored versions never change; ``update_time`` and the row id tell a restored
older database apart. An account's ``revision`` grows with every change of its
settings, follows and switches, and ``last_seen`` moves with every report (SQLite
hands a deleted newest row's id out again, so a replaced heartbeat can keep its id:
report ids and counts alone do not tell); approval ids only grow.
"""

from sqlalchemy import func, select

from jq2qmt.store.accounts import Account, AccountApproval, AccountReport
from jq2qmt.store.models import Strategy, StrategyVersion


def _exact(value):
    return value.isoformat() if value is not None else None


def _strategy(session, name):
    return session.execute(
        select(
            Strategy.id, Strategy.version, Strategy.update_time, Strategy.as_of, Strategy.removed_at
        ).where(Strategy.name == name)
    ).first()


def strategy_key(session, name):
    """Of an active strategy's current snapshot (its ``as_of`` included)."""
    row = _strategy(session, name)
    if row is None or row.removed_at is not None or row.version == 0:
        return None
    return [row.id, row.version, _exact(row.update_time), _exact(row.as_of)]


def history_key(session, name):
    """Of a strategy's history (removed strategies keep theirs)."""
    row = _strategy(session, name)
    if row is None or row.version == 0:
        return None
    return [row.id, row.version, _exact(row.update_time), row.removed_at is not None]


def versions_key(session, name, versions):
    """Of stored versions of a strategy (immutable once written): None when the
    strategy or one of `versions` does not exist; `versions` may hold None for the
    current version."""
    row = _strategy(session, name)
    if row is None or row.version == 0:
        return None
    wanted = [row.version if v is None else v for v in versions]
    created = dict(
        session.execute(
            select(StrategyVersion.version, StrategyVersion.created_at).where(
                StrategyVersion.strategy_id == row.id, StrategyVersion.version.in_(set(wanted))
            )
        ).all()
    )
    if any(v not in created for v in wanted):
        return None
    return [row.id] + [[v, _exact(created[v])] for v in wanted]


def accounts_key(session):
    """Of the accounts list: every account row, the reports, the approvals, and every
    strategy's version (approvals and ignored codes read the followed strategies)."""
    accounts = session.execute(
        select(
            Account.id,
            Account.account_id,
            Account.revision,
            Account.approved_version,
            Account.updated_at,
            Account.last_seen,
        ).order_by(Account.id)
    ).all()
    reports = session.execute(
        select(func.max(AccountReport.id), func.count(AccountReport.id))
    ).one()
    approvals = session.execute(
        select(func.max(AccountApproval.id), func.count(AccountApproval.id))
    ).one()
    strategies = session.execute(
        select(
            func.count(Strategy.id),
            func.coalesce(func.sum(Strategy.version), 0),
            func.max(Strategy.update_time),
        )
    ).one()
    return [
        [
            [
                a.id,
                a.account_id,
                a.revision,
                a.approved_version,
                _exact(a.updated_at),
                _exact(a.last_seen),
            ]
            for a in accounts
        ],
        [reports[0], int(reports[1])],
        [approvals[0], int(approvals[1])],
        [int(strategies[0]), int(strategies[1]), _exact(strategies[2])],
    ]


def reports_key(session, account_id):
    """Of an account's reports."""
    account = session.execute(
        select(Account.id, Account.created_at, Account.last_seen).where(
            Account.account_id == account_id
        )
    ).first()
    if account is None:
        return None
    newest, count = session.execute(
        select(func.max(AccountReport.id), func.count(AccountReport.id)).where(
            AccountReport.account_pk == account.id
        )
    ).one()
    return [account.id, _exact(account.created_at), _exact(account.last_seen), newest, int(count)]
