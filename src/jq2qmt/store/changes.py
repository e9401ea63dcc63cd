"""Change rows written by the writes that no version number covers.

The server answers versioned reads from values it keeps per set of recent change
numbers (`accounts.recent_changes`); a write that changes what such a read returns
must therefore write a change row in its own transaction. Writes that create a
strategy version or bump an account's revision write theirs where they do; these
are the others (a follower's report, a dismissed hold, an admin session ended, the
admin password changed, a re-sent snapshot that only moves ``as_of``).
"""

from jq2qmt.store.models import Change, utcnow


def note(session, kind, subject, version=None, now=None):
    """Add a change row (`kind`, `subject`) to the session's transaction."""
    session.add(
        Change(kind=kind, subject=subject[:64], version=version, created_at=now or utcnow())
    )
