#!/usr/bin/env python3
"""HTTP load on a jq2qmt server (or on the original system, side by side).

Scenarios, each at concurrency 16 and 64, for N = 10 and 100 strategies x 30 positions:

  upload     signed uploads of 30 positions (each a new version; signature verified)
  total      GET /api/v1/positions/total?strategies=<the N>   (full 200 body)
  total_304  the same with If-None-Match (ours only)
  strategy   GET /api/v1/positions/strategy/<name>
  plan_200   GET /api/v1/accounts/<id>/plan of an account following the N (ours only)
  plan_304   the same with If-None-Match: the follower's idle poll (ours only)
  mix        1 uploader every 100 ms + 20 pollers doing conditional plan reads
             (total reads with --auth original), for the mix's duration

Examples (one command each, from a clean checkout after `pip install .`):

  python benchmarks/http_load.py --spawn                      # temp SQLite server
  python benchmarks/http_load.py --spawn --workers 2
  python benchmarks/http_load.py --spawn --database-url mysql+pymysql://root@127.0.0.1/jq2qmt_bench
  python benchmarks/http_load.py http://127.0.0.1:5366 --instance ./jq2qmt-instance
  python benchmarks/http_load.py http://127.0.0.1:5366 --auth original \\
      --client-id quant_client --private-key quant_id_rsa_pkcs8.pem     # the original Flask app

Uploads are signed before their run starts (the load generator measures the server,
not its own signing). Only 127.0.0.1 is loaded; every run is bounded in requests and
seconds. Prints a table and writes JSON (--out, default benchmarks/results/).
"""

import argparse
import asyncio
import base64
import json
import sys
import time
from pathlib import Path
from urllib.parse import quote

import _bench

UPLOAD = "/api/v1/positions/update"
POSITIONS = 30
SCENARIOS = ("upload", "total", "total_304", "strategy", "plan_200", "plan_304")
OURS_ONLY = ("total_304", "plan_200", "plan_304")


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("url", nargs="?", help="server URL on 127.0.0.1 (or use --spawn)")
    p.add_argument(
        "--spawn",
        action="store_true",
        help="start a throw-away local server (temp SQLite by default)",
    )
    p.add_argument(
        "--database-url",
        help="with --spawn: use this (empty, throw-away) database instead of SQLite",
    )
    p.add_argument(
        "--workers", type=int, default=1, help="with --spawn: server worker processes (default 1)"
    )
    p.add_argument(
        "--instance", help="instance folder of the server at URL (keys, database for tokens)"
    )
    p.add_argument(
        "--auth",
        choices=["ours", "original"],
        default="ours",
        help="ours: signed uploads + Bearer reader token; original: X-Auth-Token uploads, open reads",
    )
    p.add_argument("--client-id", help="--auth original: the client id (user name) of the key")
    p.add_argument("--private-key", help="--auth original: PEM private key of that client")
    p.add_argument(
        "--api-key", help="--auth original in simple mode: X-API-Key instead of X-Auth-Token"
    )
    p.add_argument(
        "--header", action="append", default=[], help="extra 'Name: value' header on reads"
    )
    p.add_argument("--strategies", default="10,100", help="values of N (default 10,100)")
    p.add_argument("--concurrency", default="16,64", help="concurrency levels (default 16,64)")
    p.add_argument(
        "--scenarios", default=",".join(SCENARIOS + ("mix",)), help="which scenarios to run"
    )
    p.add_argument("--seconds", type=float, default=4.0, help="time budget of each run (default 4)")
    p.add_argument(
        "--requests",
        type=int,
        default=20000,
        help="request budget of each read run (default 20000)",
    )
    p.add_argument(
        "--upload-requests", type=int, default=1500, help="request budget of each upload run"
    )
    p.add_argument("--mix-seconds", type=float, default=6.0, help="duration of the mix (default 6)")
    p.add_argument("--quick", action="store_true", help="small and fast: N=10, c=16, 1 s runs")
    p.add_argument(
        "--out", help="JSON output path (default benchmarks/results/http_load-<time>.json)"
    )
    args = p.parse_args(argv)
    if args.quick:
        args.strategies, args.concurrency = "10", "16"
        args.seconds, args.mix_seconds = 1.0, 2.0
        args.requests, args.upload_requests = (
            min(args.requests, 2000),
            min(args.upload_requests, 100),
        )
    if not args.spawn and not args.url:
        p.error("give a URL or --spawn")
    if args.auth == "original" and args.spawn:
        p.error("--auth original needs the URL of a running original server")
    if args.auth == "original" and not args.api_key and not (args.client_id and args.private_key):
        p.error("--auth original needs --client-id and --private-key (or --api-key)")
    if args.auth == "ours" and not args.spawn and not args.instance:
        p.error("a URL of our server needs --instance (its folder: keys and database for tokens)")
    return args


# ---- auth schemes ---------------------------------------------------------------------------


class OurAuth:
    """Signed uploads (jq2qmt.signing), Bearer tokens for reads and plans."""

    name = "ours"

    def __init__(self, instance, extra_headers):
        self.instance = instance
        self.reader = instance.token("read")
        self.extra = extra_headers

    def upload_headers(self, body):
        headers = self.instance.signed_headers(UPLOAD, body)
        headers["Content-Type"] = "application/json"
        return headers

    def read_headers(self):
        headers = {"Authorization": "Bearer %s" % self.reader}
        headers.update(self.extra)
        return headers


class OriginalAuth:
    """The original system: X-Auth-Token = base64(JSON {auth_data: {client_id, timestamp},
    signature: RSA-PSS(max salt)-SHA256 over json.dumps(auth_data, sort_keys=True)}),
    or X-API-Key in its simple mode; reads need no auth."""

    name = "original"

    def __init__(self, client_id, private_key_path, api_key, extra_headers):
        self.client_id = client_id
        self.api_key = api_key
        self.extra = extra_headers
        self.key = None
        if private_key_path and not api_key:
            from jq2qmt import signing

            self.key = signing.load_private_key(Path(private_key_path).read_bytes())

    def upload_headers(self, body):
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["X-API-Key"] = self.api_key
            return headers
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        auth_data = {"client_id": self.client_id, "timestamp": int(time.time())}
        message = json.dumps(auth_data, sort_keys=True).encode("utf-8")
        signature = self.key.sign(
            message,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH),
            hashes.SHA256(),
        )
        token = {"auth_data": auth_data, "signature": base64.b64encode(signature).decode("ascii")}
        headers["X-Auth-Token"] = base64.b64encode(json.dumps(token).encode("utf-8")).decode(
            "ascii"
        )
        return headers

    def read_headers(self):
        return dict(self.extra)


# ---- the runs ----------------------------------------------------------------------------------


class Bench:
    def __init__(self, args, host, port, auth, instance, server_pid=None):
        self.args = args
        self.server_pid = server_pid
        self.host, self.port = host, port
        self.auth = auth
        self.instance = instance
        self.universe = _bench.codes(600)
        self.versions = {}
        self.rows = []

    def name(self, i):
        return "bench-s%03d" % i

    def upload_body(self, i):
        version = self.versions.get(i, 0) + 1
        self.versions[i] = version
        body = {
            "strategy_name": self.name(i),
            "positions": _bench.positions_for(i, POSITIONS, self.universe, version),
            "portfolio": {"total_value": 1000000.0, "cash": 10000.0},
        }
        return json.dumps(body, ensure_ascii=False).encode("utf-8")

    def signed_uploads(self, count, strategies):
        return [
            (UPLOAD, self.auth.upload_headers(b), b)
            for b in (self.upload_body(i % strategies) for i in range(count))
        ]

    def load(self, make, concurrency, max_requests, seconds, expect=(200,)):
        """One bounded run; with a spawned server also its CPU ms per request, a figure
        that a busy machine distorts much less than req/s (capacity ~ 1000 / cpu_ms
        requests per second per core)."""
        cpu_before = _bench.tree_cpu_seconds(self.server_pid) if self.server_pid else None
        client_before = time.process_time()
        result = _bench.run_async(
            _bench.run_load(self.host, self.port, make, concurrency, max_requests, seconds, expect)
        )
        result["client_cpu_ms_per_req"] = _per_request(
            time.process_time() - client_before, result["requests"]
        )
        if cpu_before is not None:
            result["server_cpu_ms_per_req"] = _per_request(
                _bench.tree_cpu_seconds(self.server_pid) - cpu_before, result["requests"]
            )
        return result

    def ensure_strategies(self, n):
        missing = [i for i in range(n) if i not in self.versions]
        requests = [
            (UPLOAD, self.auth.upload_headers(b), b) for b in (self.upload_body(i) for i in missing)
        ]
        if requests:
            result = self.load(
                lambda k: ("POST",) + requests[k] if k < len(requests) else None,
                8,
                len(requests),
                300,
            )
            if result["errors"]:
                raise SystemExit("setup uploads failed: %s" % result)

    def record(self, scenario, n, concurrency, result, **extra):
        row = dict(scenario=scenario, strategies=n, concurrency=concurrency, **result)
        row.update(extra)
        self.rows.append(row)
        print(
            "  %-9s N=%-3d c=%-3s %8s req/s  p50 %7s  p90 %7s  p99 %7s ms  server cpu %s ms/req  errors %s"
            % (
                scenario,
                n,
                concurrency,
                result["req_per_s"],
                result["p50_ms"],
                result["p90_ms"],
                result["p99_ms"],
                result.get("server_cpu_ms_per_req"),
                result["errors"],
            ),
            flush=True,
        )

    def account_for(self, n):
        account_id = "bench-acct-%d" % n
        token = self.instance.add_account(account_id, [self.name(i) for i in range(n)])
        return "/api/v1/accounts/%s/plan" % account_id, {"Authorization": "Bearer %s" % token}

    def current_etag(self, target, headers):
        async def fetch():
            conn = _bench.HttpConnection(self.host, self.port)
            try:
                status, response_headers, _ = await conn.request("GET", target, headers)
            finally:
                conn.close()
            if status != 200:
                raise SystemExit("GET %s answered %d" % (target, status))
            return response_headers.get("etag")

        return _bench.run_async(fetch())

    def run_n(self, n, scenarios):
        a = self.args
        self.ensure_strategies(n)
        total_target = "/api/v1/positions/total?strategies=%s" % quote(
            ",".join(self.name(i) for i in range(n))
        )
        reads = self.auth.read_headers()
        plan_target = plan_headers = None
        if self.auth.name == "ours" and (set(scenarios) & {"plan_200", "plan_304", "mix"}):
            plan_target, plan_headers = self.account_for(n)
        for c in [int(x) for x in a.concurrency.split(",")]:
            for scenario in scenarios:
                if scenario == "mix" or (scenario in OURS_ONLY and self.auth.name != "ours"):
                    continue
                if scenario == "upload":
                    requests = self.signed_uploads(a.upload_requests, n)
                    result = self.load(
                        lambda k: ("POST",) + requests[k], c, len(requests), a.seconds
                    )
                elif scenario in ("total", "total_304"):
                    headers = dict(reads)
                    if scenario == "total_304":
                        headers["If-None-Match"] = self.current_etag(total_target, reads)
                    expect = (304,) if scenario == "total_304" else (200,)
                    result = self.load(
                        lambda k: ("GET", total_target, headers, b""),
                        c,
                        a.requests,
                        a.seconds,
                        expect,
                    )
                elif scenario == "strategy":
                    targets = [
                        "/api/v1/positions/strategy/%s" % quote(self.name(i)) for i in range(n)
                    ]
                    result = self.load(
                        lambda k: ("GET", targets[k % n], reads, b""), c, a.requests, a.seconds
                    )
                else:
                    headers = dict(plan_headers)
                    if scenario == "plan_304":
                        headers["If-None-Match"] = self.current_etag(plan_target, plan_headers)
                    expect = (304,) if scenario == "plan_304" else (200,)
                    result = self.load(
                        lambda k: ("GET", plan_target, headers, b""),
                        c,
                        a.requests,
                        a.seconds,
                        expect,
                    )
                self.record(scenario, n, c, result)
        if "mix" in scenarios:
            self.run_mix(n, plan_target, plan_headers, total_target, reads)

    def run_mix(self, n, plan_target, plan_headers, total_target, reads):
        """1 uploader every 100 ms and 20 pollers (conditional reads, ETag followed)."""
        seconds = self.args.mix_seconds
        uploads = self.signed_uploads(int(seconds * 10) + 5, n)
        if plan_target is not None:
            target, headers = plan_target, plan_headers
        else:
            target, headers = total_target, reads
        stats = _bench.run_async(
            _mix(self.host, self.port, uploads, target, headers, seconds, pollers=20)
        )
        self.record("mix_upload", n, 1, stats["upload"], interval_ms=100)
        self.record("mix_poll", n, 20, stats["poll"], changes_seen=stats["changes_seen"])


def _per_request(seconds, requests):
    return round(seconds * 1000.0 / requests, 3) if requests else None


async def _mix(host, port, uploads, target, headers, seconds, pollers):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    up_lat, poll_lat, statuses = [], [], {}
    up_statuses = {}
    errors = {"upload": 0, "poll": 0}
    seen = set()

    async def uploader():
        conn = _bench.HttpConnection(host, port)
        try:
            for k, (path, upload_headers, body) in enumerate(uploads):
                due = deadline - seconds + k * 0.1
                if due >= deadline:
                    return
                await asyncio.sleep(max(0.0, due - loop.time()))
                started = time.perf_counter()
                try:
                    status, _, _ = await conn.request("POST", path, upload_headers, body)
                except (OSError, asyncio.TimeoutError, _bench.HttpError):
                    errors["upload"] += 1
                    continue
                up_lat.append((time.perf_counter() - started) * 1000)
                up_statuses[status] = up_statuses.get(status, 0) + 1
                if status != 200:
                    errors["upload"] += 1
        finally:
            conn.close()

    async def poller():
        conn = _bench.HttpConnection(host, port)
        etag = None
        try:
            while loop.time() < deadline:
                request_headers = dict(headers)
                if etag:
                    request_headers["If-None-Match"] = etag
                started = time.perf_counter()
                try:
                    status, response_headers, _ = await conn.request("GET", target, request_headers)
                except (OSError, asyncio.TimeoutError, _bench.HttpError):
                    errors["poll"] += 1
                    continue
                poll_lat.append((time.perf_counter() - started) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    etag = response_headers.get("etag") or etag
                    seen.add(etag)
                elif status != 304:
                    errors["poll"] += 1
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(uploader(), *[poller() for _ in range(pollers)])
    elapsed = time.perf_counter() - started
    return {
        "upload": _bench.summary(up_lat, elapsed, up_statuses, errors["upload"]),
        "poll": _bench.summary(poll_lat, elapsed, statuses, errors["poll"]),
        "changes_seen": len(seen),
    }


def main(argv=None):
    args = parse_args(argv)
    info = _bench.machine_info()
    extra = {}
    for header in args.header:
        name, _, value = header.partition(":")
        extra[name.strip()] = value.strip()
    server = None
    try:
        if args.spawn:
            server = _bench.SpawnedServer(args.database_url, workers=args.workers).start()
            url, instance = server.url, server.instance
            print(
                "spawned server %s (workers=%d, database=%s)"
                % (
                    url,
                    args.workers,
                    "sqlite (temp)" if not args.database_url else args.database_url.split("://")[0],
                )
            )
        else:
            url = args.url
            instance = _bench.BenchInstance.open(args.instance) if args.auth == "ours" else None
        host, port = _bench.split_url(url)
        if args.auth == "ours":
            auth = OurAuth(instance, extra)
        else:
            auth = OriginalAuth(args.client_id, args.private_key, args.api_key, extra)
        bench = Bench(args, host, port, auth, instance, server.process.pid if server else None)
        scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
        for n in [int(x) for x in args.strategies.split(",")]:
            bench.run_n(n, scenarios)
    finally:
        if server is not None:
            server.stop()
    print()
    _bench.print_table(
        bench.rows,
        [
            "scenario",
            "strategies",
            "concurrency",
            "req_per_s",
            "p50_ms",
            "p90_ms",
            "p99_ms",
            "server_cpu_ms_per_req",
            "errors",
        ],
    )
    data = {
        "benchmark": "http_load",
        "machine": _bench.finish_machine_info(info),
        "server": {
            "url": "spawned" if args.spawn else args.url,
            "auth": args.auth,
            "workers": args.workers,
            "database": (args.database_url or "sqlite").split("://")[0].split("+")[0]
            if args.spawn
            else None,
        },
        "parameters": {
            "strategies": args.strategies,
            "concurrency": args.concurrency,
            "seconds": args.seconds,
            "positions": POSITIONS,
            "quick": args.quick,
        },
        "results": bench.rows,
    }
    _bench.write_json(args.out or _bench.default_out("http_load"), data)
    return 0 if not any(r["errors"] for r in bench.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
