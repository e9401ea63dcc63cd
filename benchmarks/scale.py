#!/usr/bin/env python3
"""Scale: 10,000 strategies x 50 positions (parameterizable).

Measures, on a spawned server (child process, temp SQLite unless --database-url):
  seed          storing every snapshot through the store's real write path
                (jq2qmt.store.repo.save_snapshot: one transaction, a version row,
                positions replaced), per snapshot and in total
  upload        signed HTTP uploads of 50 positions at that size (sequential)
  cold_total    the total over every strategy from the database (repo.total_positions:
                the per-code sums the writes keep); also its CPU time in this
                process (cpu_p50_ms)
  cold_total_rows  the same aggregated from every position row (the query a total
                over a selection of strategies runs), timed alternately with
                cold_total on the same data; its result must equal cold_total's
  fingerprint   the total's ETag query alone (what a cached or 304 read must still do)
  total_cached  GET /positions/total over every strategy, body from the cache
  total_304     the same with If-None-Match
  plan_cold / plan_cached / plan_304   an account following 100 of the strategies
  db size, server RSS

  python benchmarks/scale.py                       # 10,000 x 50
  python benchmarks/scale.py --quick               # 500 x 50
  python benchmarks/scale.py --strategies 2000 --positions 50
  python benchmarks/scale.py --bulk-seed --database-url URL   # reads at size, quickly

Prints a table and writes JSON (--out, default benchmarks/results/).
"""

import argparse
import asyncio
import json
import sys
import time

import _bench

UPLOAD = "/api/v1/positions/update"


def seed(instance, count, positions, universe):
    from jq2qmt.store import repo
    from jq2qmt.store.snapshot import parse_snapshot

    db = instance.db()
    times = []
    started = time.perf_counter()
    for i in range(count):
        payload = {
            "strategy_name": "scale-%05d" % i,
            "positions": _bench.positions_for(i, positions, universe),
            "portfolio": {"total_value": 1e7, "cash": 0.0},
        }
        t = time.perf_counter()
        repo.save_snapshot(db, parse_snapshot(payload), "client:bench")
        times.append((time.perf_counter() - t) * 1000.0)
        if (i + 1) % 1000 == 0:
            print(
                "  seeded %d/%d (%.0f s)" % (i + 1, count, time.perf_counter() - started),
                flush=True,
            )
    return time.perf_counter() - started, times


def bulk_seed(instance, count, positions, universe, batch=5000):
    """The same snapshots written as rows in large batches (a version row, the
    positions, the strategy row), then the kept totals computed from them as the
    migration does: for the read measurements when seeding through the write path
    takes too long. No per-snapshot times."""
    from sqlalchemy import select

    from jq2qmt.store import position_totals
    from jq2qmt.store.models import Position, Strategy, StrategyVersion, utcnow
    from jq2qmt.store.snapshot import parse_snapshot

    db = instance.db()
    started = time.perf_counter()
    now = utcnow()
    for first in range(0, count, batch // positions or 1):
        chunk = range(first, min(count, first + (batch // positions or 1)))
        snapshots = [
            parse_snapshot(
                {
                    "strategy_name": "scale-%05d" % i,
                    "positions": _bench.positions_for(i, positions, universe),
                    "portfolio": {"total_value": 1e7, "cash": 0.0},
                }
            )
            for i in chunk
        ]
        with db.write_once() as session:
            conn = session.connection()
            conn.execute(
                Strategy.__table__.insert(),
                [
                    {
                        "name": s.strategy_name,
                        "version": 1,
                        "update_time": now,
                        "snapshot_hash": s.hash,
                        "portfolio_json": json.dumps(s.portfolio),
                        "created_at": now,
                    }
                    for s in snapshots
                ],
            )
            ids = dict(
                conn.execute(
                    select(Strategy.name, Strategy.id).where(
                        Strategy.name.in_([s.strategy_name for s in snapshots])
                    )
                ).all()
            )
            conn.execute(
                StrategyVersion.__table__.insert(),
                [
                    {
                        "strategy_id": ids[s.strategy_name],
                        "version": 1,
                        "kind": "snapshot",
                        "created_at": now,
                        "source": "client:bench",
                        "positions_json": json.dumps(s.positions),
                        "portfolio_json": json.dumps(s.portfolio),
                        "snapshot_hash": s.hash,
                    }
                    for s in snapshots
                ],
            )
            conn.execute(
                Position.__table__.insert(),
                [dict(p, strategy_id=ids[s.strategy_name]) for s in snapshots for p in s.positions],
            )
        if (chunk[-1] + 1) % 1000 == 0:
            print("  loaded %d/%d" % (chunk[-1] + 1, count), flush=True)
    with db.write_once() as session:
        position_totals.rebuild(session.connection())
    return time.perf_counter() - started


def timed(fn, repeat, cpu=None):
    """(last result, wall ms per call); CPU ms of this process per call appended to
    `cpu` when given (steady on a busy machine where wall time is not)."""
    times = []
    result = None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        result = fn()
        times.append((time.perf_counter() - t) * 1000.0)
        if cpu is not None:
            cpu.append((time.process_time() - c) * 1000.0)
    return result, times


def stats(name, times, **extra):
    values = sorted(times)
    row = {
        "step": name,
        "n": len(values),
        "min_ms": round(values[0], 2),
        "p50_ms": round(_bench.percentile(values, 0.5), 2),
        "p99_ms": round(_bench.percentile(values, 0.99), 2),
        "max_ms": round(values[-1], 2),
    }
    row.update(extra)
    print(
        "  %-14s p50 %9.2f ms  min %9.2f ms  (n=%d)"
        % (name, row["p50_ms"], row["min_ms"], row["n"]),
        flush=True,
    )
    return row


def http_get(host, port, target, headers, repeat):
    async def run():
        conn = _bench.HttpConnection(host, port, timeout=120)
        times, last = [], None
        try:
            for _ in range(repeat):
                t = time.perf_counter()
                last = await conn.request("GET", target, headers)
                times.append((time.perf_counter() - t) * 1000.0)
        finally:
            conn.close()
        return last, times

    return asyncio.run(run())


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--strategies", type=int, default=10000, help="strategies (default 10000)")
    p.add_argument("--positions", type=int, default=50, help="positions per strategy (default 50)")
    p.add_argument(
        "--universe",
        type=int,
        default=5000,
        help="distinct codes the strategies draw from (default 5000)",
    )
    p.add_argument(
        "--follow", type=int, default=100, help="strategies the plan account follows (default 100)"
    )
    p.add_argument(
        "--uploads", type=int, default=50, help="timed HTTP uploads at size (default 50)"
    )
    p.add_argument("--repeat", type=int, default=20, help="repeats of each timed read (default 20)")
    p.add_argument("--quick", action="store_true", help="500 strategies, 5 repeats")
    p.add_argument(
        "--database-url", help="use this (empty, throw-away) database instead of a temp SQLite"
    )
    p.add_argument("--workers", type=int, default=1, help="server worker processes (default 1)")
    p.add_argument(
        "--bulk-seed",
        action="store_true",
        help="load the snapshots as rows in batches (no seed times; the reads at size quickly)",
    )
    p.add_argument("--out", help="JSON output path (default benchmarks/results/scale-<time>.json)")
    args = p.parse_args(argv)
    if args.quick:
        args.strategies, args.repeat, args.uploads = min(args.strategies, 500), 5, 10
    args.follow = min(args.follow, args.strategies)
    info = _bench.machine_info()
    universe = _bench.codes(args.universe)
    rows = []
    with _bench.SpawnedServer(args.database_url, workers=args.workers) as server:
        instance = server.instance
        host, port = _bench.split_url(server.url)
        print(
            "seeding %d strategies x %d positions" % (args.strategies, args.positions), flush=True
        )
        if args.bulk_seed:
            seconds = bulk_seed(instance, args.strategies, args.positions, universe)
            print("  bulk-loaded in %.1f s" % seconds, flush=True)
        else:
            seconds, seed_times = seed(instance, args.strategies, args.positions, universe)
            rows.append(stats("seed", seed_times, total_s=round(seconds, 1)))

        import requests

        session = requests.Session()
        upload_times = []
        for k in range(args.uploads):
            i = k % args.strategies
            body = json.dumps(
                {
                    "strategy_name": "scale-%05d" % i,
                    "positions": _bench.positions_for(i, args.positions, universe, version=k + 1),
                }
            ).encode()
            headers = instance.signed_headers(UPLOAD, body)
            headers["Content-Type"] = "application/json"
            t = time.perf_counter()
            resp = session.post(server.url + UPLOAD, data=body, headers=headers, timeout=60)
            upload_times.append((time.perf_counter() - t) * 1000.0)
            if resp.status_code != 200:
                raise SystemExit("upload answered %d: %s" % (resp.status_code, resp.text[:200]))
        rows.append(stats("upload_http", upload_times))

        from jq2qmt.store import repo

        def cold():
            with instance.db().read() as s:
                return repo.total_positions(s)

        def cold_rows():
            with instance.db().read() as s:
                chosen = repo.select_strategies(s)
                return repo._aggregate(s, repo._selection(None, True), len(chosen))

        # alternately, so a change of the machine's load hits both alike
        cpu, cpu_rows, times, times_rows = [], [], [], []
        for _ in range(max(3, args.repeat // 4)):
            total, t = timed(cold, 1, cpu)
            times += t
            by_rows, t = timed(cold_rows, 1, cpu_rows)
            times_rows += t
        if by_rows != total["positions"]:
            raise SystemExit("the kept total differs from the one aggregated from the rows")
        # cpu_p50_ms: this process only (SQLite runs in it; a MariaDB/PostgreSQL server does not)
        for name, step_times, step_cpu in (
            ("cold_total", times, cpu),
            ("cold_total_rows", times_rows, cpu_rows),
        ):
            rows.append(
                stats(
                    name,
                    step_times,
                    codes=len(total["positions"]),
                    cpu_p50_ms=round(_bench.percentile(sorted(step_cpu), 0.5), 2),
                )
            )

        def fingerprint():
            with instance.db().read() as s:
                return repo.total_fingerprint(s)

        _, times = timed(fingerprint, args.repeat)
        rows.append(stats("fingerprint", times))

        reader = {"Authorization": "Bearer %s" % instance.token("read")}
        target = "/api/v1/positions/total"
        (status, headers, body), times = http_get(host, port, target, reader, 1)
        rows.append(stats("total_first", times, status=status, bytes=len(body)))
        (status, headers, body), times = http_get(host, port, target, reader, args.repeat)
        rows.append(stats("total_cached", times, status=status, bytes=len(body)))
        conditional = dict(reader, **{"If-None-Match": headers.get("etag", "")})
        (status, _, _), times = http_get(host, port, target, conditional, args.repeat)
        rows.append(stats("total_304", times, status=status))

        names = [
            "scale-%05d" % i
            for i in range(0, args.strategies, max(1, args.strategies // args.follow))
        ][: args.follow]
        token = instance.add_account("scale-acct", names)
        plan = "/api/v1/accounts/scale-acct/plan"
        follower = {"Authorization": "Bearer %s" % token}
        (status, headers, body), times = http_get(host, port, plan, follower, 1)
        rows.append(stats("plan_cold", times, status=status, bytes=len(body), follows=len(names)))
        (status, headers, body), times = http_get(host, port, plan, follower, args.repeat)
        rows.append(stats("plan_cached", times, status=status))
        conditional = dict(follower, **{"If-None-Match": headers.get("etag", "")})
        (status, _, _), times = http_get(host, port, plan, conditional, args.repeat)
        rows.append(stats("plan_304", times, status=status))

        size = server.db_size()
        rss = _bench.rss_mb(server.process.pid)
    _bench.print_table(
        rows, ["step", "n", "p50_ms", "min_ms", "p99_ms", "max_ms", "cpu_p50_ms", "status", "bytes"]
    )
    print(
        "database size: %s MiB   server RSS: %s MiB"
        % (round(size / 1048576.0, 1) if size else "-", rss)
    )
    _bench.write_json(
        args.out or _bench.default_out("scale"),
        {
            "benchmark": "scale",
            "machine": _bench.finish_machine_info(info),
            "parameters": {
                "strategies": args.strategies,
                "positions": args.positions,
                "universe": args.universe,
                "follow": args.follow,
                "workers": args.workers,
                "database": (args.database_url or "sqlite").split("://")[0].split("+")[0],
                "bulk_seed": args.bulk_seed,
            },
            "results": rows,
            "db_size_bytes": size,
            "server_rss_mb": rss,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
