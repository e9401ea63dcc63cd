"""The response caches shared by the routes and the fast path (server/caches.py)."""

import threading
import time

from jq2qmt.server.caches import LruCache


def test_lru_keeps_the_newest_entries_and_refreshes_on_read():
    cache = LruCache(size=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now newer than b
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3


def test_concurrent_requests_for_one_new_key_build_it_once():
    cache, builds, start = LruCache(), [], threading.Barrier(8)

    def build():
        builds.append(1)
        time.sleep(0.05)  # a plan being built while the other pollers arrive
        return "body"

    results = []

    def poller():
        start.wait()
        results.append(cache.get_or_build("v2", build))

    threads = [threading.Thread(target=poller) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["body"] * 8 and len(builds) == 1
    assert cache.get_or_build("v2", lambda: "other") == "body"
