"""The follower's in-flight state, kept outside the follower object.

QMT re-runs a running strategy (the file executed again in fresh globals, `init`
called again) at the trading-day switch and when its quote connection comes back, and
a user may restart the whole client. Its order list is a local cache that shows a new
order only after 50 ms to 6 s, so an order placed just before a re-run is invisible to
the new follower for a while: without a record of it, the new follower would send it
again. The journal is that record (docs/platforms.md, "QMT built-in"):

- orders placed and not listed yet (``pending``), kept until the broker lists them or
  the trading day ends, never dropped after a fixed time;
- our orders the broker has listed (``orders``: remark -> broker order id and
  details), so our orders are still recognised after a restart even when the broker
  returns them with an empty remark (a remark is visible only to the client session
  that placed the order);
- when each order was first seen open, reported and final, which drive re-pricing and
  the time our cash and holdings need to show a change (see loop.py);
- rejections counted today.

It is a small JSON file written atomically (a temporary file, then ``os.replace``),
mirrored in a dict that lives as long as the Python interpreter (QMT keeps one
interpreter for all its strategies), so a re-run keeps its state even when the file
cannot be written. A journal of another trading day or another account is ignored:
A-share orders are day orders.

Bundled into the exported QMT file: Python 3.6, stdlib only.
"""

import json
import os

FORMAT = 1


class Journal(object):
    """Load and save the follower's state for one account.

    `path`: the JSON file, or None for memory only. `memory`: a dict shared across
    re-runs (keyed by file and account), or None.
    """

    def __init__(self, path, account_id, memory=None, log=None):
        self.path = str(path) if path else None
        self.account_id = str(account_id)
        self.memory = memory if memory is not None else {}
        self.log = log or (lambda message: None)
        self.error = None  # the last write error, reported by preflight
        self._saved_text = None
        self._key = "%s|%s" % (self.path or "", self.account_id)  # the file it mirrors

    def load(self, day):
        """The saved state of trading day `day` (a 'YYYY-MM-DD' string), or {}."""
        state = self.memory.get(self._key)
        if state is None and self.path:
            state = self._read_file()
        if (
            not isinstance(state, dict)
            or state.get("format") != FORMAT
            or state.get("account") != self.account_id
            or state.get("day") != day
        ):
            return {}
        return state

    def _read_file(self):
        try:
            with open(self.path, "r", encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, IOError):
            return None
        except ValueError:
            self.log("日志文件损坏，已忽略 / journal unreadable, ignored: %s" % self.path)
            return None

    def save(self, day, state):
        """Store `state` (a JSON-able dict) for trading day `day`; False if the file
        could not be written (the in-memory copy is kept in any case)."""
        body = dict(state)
        body.update({"format": FORMAT, "account": self.account_id, "day": day})
        self.memory[self._key] = body
        if not self.path:
            return True
        text = json.dumps(body, sort_keys=True, ensure_ascii=True)
        if text == self._saved_text:
            return True
        tmp = self.path + ".tmp"
        try:
            folder = os.path.dirname(self.path)
            if folder and not os.path.isdir(folder):
                os.makedirs(folder)
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, self.path)
        except (OSError, IOError) as exc:
            if self.error is None:
                self.log(
                    "无法写入日志文件 %s：%s（重新运行时仍在内存中保留）/ journal not "
                    "written" % (self.path, exc)
                )
            self.error = str(exc)
            return False
        self.error = None
        self._saved_text = text
        return True


def default_path(folder, account_id):
    """``<folder>/jq2qmt_<account>.journal.json`` with a file-name-safe account id."""
    safe = "".join(c if c.isalnum() else "_" for c in str(account_id))
    return os.path.join(str(folder), "jq2qmt_%s.journal.json" % safe)
