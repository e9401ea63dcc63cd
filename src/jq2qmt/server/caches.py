"""The server's per-process response caches, shared by the routes and the fast path.

Every key names exactly what its value was built from (a plan version, a read's
strong ETag), so an entry is never stale: the caches only save rebuilding and
re-encoding an unchanged answer.
"""

import collections
import threading

CACHE_SIZE = 256
BODIES_SIZE = 1024
BUILD_LOCKS = 16


def held_etags(header):
    """The ETags a client holds, from its ``If-None-Match`` header value (or None)."""
    return {part.strip() for part in (header or "").split(",") if part.strip()}


class LruCache:
    """A small thread-safe LRU map (worker threads and the event loop share it)."""

    def __init__(self, size=CACHE_SIZE):
        self.size = size
        self._items = collections.OrderedDict()
        self._lock = threading.Lock()
        self._build_locks = [threading.Lock() for _ in range(BUILD_LOCKS)]

    def get(self, key):
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key, value):
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def get_or_build(self, key, build):
        """The value of `key`, built once by `build()` when missing: concurrent
        requests for the same new key (every poller after an upload) wait for one
        build instead of each building it."""
        value = self.get(key)
        if value is None:
            with self._build_locks[hash(key) % len(self._build_locks)]:
                value = self.get(key)
                if value is None:
                    value = build()
                    self.put(key, value)
        return value


class AppCaches:
    """plans: plan dict by plan version; bodies: the JSON bytes of a versioned read
    (see `versioned_reads`) by its strong ETag."""

    def __init__(self):
        self.plans = LruCache()
        self.bodies = LruCache(BODIES_SIZE)


def for_app(app):
    """The app's caches, created on first use."""
    caches = getattr(app.state, "caches", None)
    if caches is None:
        caches = app.state.caches = AppCaches()
    return caches
