#!/usr/bin/env python3
"""HTTP load on a jq2qmt server (or on the original system, side by side).

Scenarios, for N strategies x 30 positions (N = 10 and 100) at concurrency 16 and 64:

  upload        signed uploads of 30 positions (each a new version; signature verified)
  total         GET /api/v1/positions/total?strategies=<the N>       read token
  strategy      GET /api/v1/positions/strategy/<name>                read token
  history       GET /api/v1/strategies/<name>/history                read token
  version       GET /api/v1/strategies/<name>/versions/1             read token
  diff          GET /api/v1/strategies/<name>/diff?from=1&to=2       read token
  accounts      GET /api/v1/accounts                                 admin (web login)
  reports       GET /api/v1/accounts/<id>/reports                    admin (web login)
  plan_200      GET /api/v1/accounts/<id>/plan of an account following the N (follow token)
  <read>_304    each read again with If-None-Match from its first answer (plan_304 is
                the follower's idle poll); "n/a" when the route sends no ETag
  mix           1 uploader every 100 ms + 20 pollers doing conditional plan reads
                (total reads with --auth original), for the mix's duration

The strategy, history, version and diff reads cycle through the N strategies.

Examples (one command each, from a clean checkout after `pip install .`):

  python benchmarks/http_load.py --spawn --quick                # temp SQLite server
  python benchmarks/http_load.py --backends sqlite,mysql,postgres --workers 2 --markdown
  python benchmarks/http_load.py --backends sqlite --tool wrk   # reads driven by wrk
  python benchmarks/http_load.py --spawn --database-url mysql+pymysql://root@127.0.0.1/jq2qmt_bench
  python benchmarks/http_load.py http://127.0.0.1:5366 --instance ./jq2qmt-instance \\
      --admin-password <password>
  python benchmarks/http_load.py http://127.0.0.1:5366 --auth original \\
      --client-id quant_client --private-key quant_id_rsa_pkcs8.pem     # the original Flask app

`--backends` spawns one server per backend in turn: SQLite in a temporary folder,
MySQL/MariaDB and PostgreSQL each in a database created for the run on the server of
--mysql-url / --postgres-url and dropped after it. Uploads are signed before their
run starts (the load generator measures the server, not its own signing). Only
127.0.0.1 is loaded; every run is bounded in requests and seconds; an answer other
than the expected status (200, or 304 for conditional reads) is counted as an error.
Prints a table per backend (--markdown: Markdown tables ready for benchmarks/README.md)
and writes JSON (--out, default benchmarks/results/).
"""

import argparse
import asyncio
import base64
import json
import os
import sqlite3
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlencode

import _bench
import _wrk

UPLOAD = "/api/v1/positions/update"
POSITIONS = 30
REPORTS = 30  # round reports stored for the benchmark account before the reads

# (scenario, route as the tables show it, credential, served by the original system)
READS = (
    ("total", "GET /api/v1/positions/total", "reader", True),
    ("strategy", "GET /api/v1/positions/strategy/{name}", "reader", True),
    ("history", "GET /api/v1/strategies/{name}/history", "reader", False),
    ("version", "GET /api/v1/strategies/{name}/versions/{v}", "reader", False),
    ("diff", "GET /api/v1/strategies/{name}/diff?from=1&to=2", "reader", False),
    ("accounts", "GET /api/v1/accounts", "admin", False),
    ("reports", "GET /api/v1/accounts/{id}/reports", "admin", False),
    ("plan_200", "GET /api/v1/accounts/{id}/plan", "follow", False),
)
ROUTES = dict((name, route) for name, route, _, _ in READS)
ROUTES["upload"] = "POST /api/v1/positions/update"


def conditional(name):
    """The If-None-Match scenario of read `name` (plan_200 -> plan_304)."""
    return name[: -len("_200")] + "_304" if name.endswith("_200") else name + "_304"


SCENARIOS = (
    ("upload",) + tuple(x for name, _, _, _ in READS for x in (name, conditional(name))) + ("mix",)
)
CONDITIONAL = dict((conditional(name), name) for name, _, _, _ in READS)
BACKENDS = ("sqlite", "mysql", "postgres")
DEFAULT_MYSQL_URL = "mysql+pymysql://root@127.0.0.1:3306/"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/"


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("url", nargs="?", help="server URL on 127.0.0.1 (or use --spawn / --backends)")
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
        "--backends",
        help="spawn one server per backend in turn, e.g. sqlite,mysql,postgres "
        "(a database is created for each run and dropped after it)",
    )
    p.add_argument(
        "--mysql-url",
        default=DEFAULT_MYSQL_URL,
        help="--backends mysql: the server, and optionally the name of the database to "
        "create (default %s, database jq2qmt_bench_<random>)" % DEFAULT_MYSQL_URL,
    )
    p.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help="--backends postgres: the same for PostgreSQL (default %s)" % DEFAULT_POSTGRES_URL,
    )
    p.add_argument(
        "--workers", type=int, default=1, help="with --spawn: server worker processes (default 1)"
    )
    p.add_argument(
        "--instance", help="instance folder of the server at URL (keys, database for tokens)"
    )
    p.add_argument(
        "--admin-password",
        default=os.environ.get("JQ2QMT_BENCH_ADMIN_PASSWORD"),
        help="admin password of the server at URL, for the accounts and reports reads "
        "(default $JQ2QMT_BENCH_ADMIN_PASSWORD; without it those are skipped)",
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
    p.add_argument(
        "--tool",
        choices=["python", "wrk"],
        default="python",
        help="load generator of the reads: the built-in asyncio client, or wrk "
        "(uploads and the mix always use the built-in one)",
    )
    p.add_argument("--wrk-threads", type=int, default=2, help="--tool wrk: threads (default 2)")
    p.add_argument("--strategies", default="10,100", help="values of N (default 10,100)")
    p.add_argument("--concurrency", default="16,64", help="concurrency levels (default 16,64)")
    p.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help="which scenarios to run (default all: %s)" % ",".join(SCENARIOS),
    )
    p.add_argument("--seconds", type=float, default=4.0, help="time budget of each run (default 4)")
    p.add_argument(
        "--requests",
        type=int,
        default=20000,
        help="request budget of each read run (default 20000; wrk runs are bounded by time)",
    )
    p.add_argument(
        "--upload-requests", type=int, default=1500, help="request budget of each upload run"
    )
    p.add_argument("--mix-seconds", type=float, default=6.0, help="duration of the mix (default 6)")
    p.add_argument("--quick", action="store_true", help="small and fast: N=10, c=16, 1 s runs")
    p.add_argument(
        "--markdown",
        action="store_true",
        help="also print one Markdown table per backend, ready for benchmarks/README.md",
    )
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
    args.scenario_list = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = sorted(set(args.scenario_list) - set(SCENARIOS))
    if unknown:
        p.error("unknown scenarios %s (known: %s)" % (",".join(unknown), ",".join(SCENARIOS)))
    args.backend_list = None
    if args.backends:
        args.backend_list = [b.strip() for b in args.backends.split(",") if b.strip()]
        wrong = sorted(set(args.backend_list) - set(BACKENDS))
        if wrong or not args.backend_list:
            p.error("--backends takes %s (got %s)" % (",".join(BACKENDS), args.backends))
        if args.url or args.database_url:
            p.error("--backends spawns its own servers: no URL and no --database-url")
        args.spawn = True
    if not args.spawn and not args.url:
        p.error("give a URL, --spawn or --backends")
    if args.auth == "original" and args.spawn:
        p.error("--auth original needs the URL of a running original server")
    if args.auth == "original" and not args.api_key and not (args.client_id and args.private_key):
        p.error("--auth original needs --client-id and --private-key (or --api-key)")
    if args.auth == "ours" and not args.spawn and not args.instance:
        p.error("a URL of our server needs --instance (its folder: keys and database for tokens)")
    if args.tool == "wrk" and not _wrk.available():
        p.error("--tool wrk: wrk is not installed (Debian/Ubuntu: apt-get install wrk)")
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
    def __init__(self, args, host, port, auth, instance, backend, server_pid=None):
        self.args = args
        self.server_pid = server_pid
        self.host, self.port = host, port
        self.auth = auth
        self.instance = instance
        self.backend = backend
        self.universe = _bench.codes(600)
        self.versions = {}
        self.accounts = {}
        self.admin = None
        self.rows = []
        self.notes = []

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

    def measure(self, run):
        """One bounded run (`run()` returns a summary) with its CPU ms per request: the
        server's (spawned servers), a figure a busy machine distorts much less than
        req/s (capacity ~ 1000 / cpu_ms requests per second per core), and the load
        generator's (this process, plus wrk when it drives the run)."""
        cpu_before = _bench.tree_cpu_seconds(self.server_pid) if self.server_pid else None
        client_before = time.process_time() + _children_cpu()
        result = run()
        result["client_cpu_ms_per_req"] = _per_request(
            time.process_time() + _children_cpu() - client_before, result["requests"]
        )
        if cpu_before is not None:
            result["server_cpu_ms_per_req"] = _per_request(
                _bench.tree_cpu_seconds(self.server_pid) - cpu_before, result["requests"]
            )
        return result

    def python_load(self, make, concurrency, max_requests, seconds, expect=(200,)):
        return self.measure(
            lambda: _bench.run_async(
                _bench.run_load(
                    self.host, self.port, make, concurrency, max_requests, seconds, expect
                )
            )
        )

    def ensure_strategies(self, n):
        """Every one of the N strategies has versions 1 and 2 (the version and diff reads).

        Setup is not measured, so an upload the server refuses for a moment (503 while
        the database is busy) is signed again and retried, twice at most."""
        for _ in range(2):
            bodies = [self.upload_body(i) for i in range(n) if self.versions.get(i, 0) < 2]
            statuses = {}
            for _attempt in range(3):
                if not bodies:
                    break
                requests = [(UPLOAD, self.auth.upload_headers(b), b) for b in bodies]
                answers = _bench.run_async(_send_all(self.host, self.port, requests, 8))
                statuses = dict(
                    (str(a) if a else "no answer", answers.count(a))
                    for a in set(answers)
                    if a != 200
                )
                bodies = [b for b, status in zip(bodies, answers) if status != 200]
            if bodies:
                raise SystemExit("setup uploads failed after 3 tries: %s" % statuses)

    def record(self, scenario, n, concurrency, result, **extra):
        row = dict(
            backend=self.backend,
            scenario=scenario,
            route=ROUTES.get(CONDITIONAL.get(scenario, scenario), "mix"),
            strategies=n,
            concurrency=concurrency,
            **result,
        )
        row.update(extra)
        self.rows.append(row)
        if row.get("skipped"):
            print("  %-12s N=%-3d c=%-3s n/a: %s" % (scenario, n, concurrency, row["skipped"]))
            return
        print(
            "  %-12s N=%-3d c=%-3s %8s req/s  p50 %7s  p90 %7s  p99 %7s ms  "
            "server cpu %s ms/req  errors %s"
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

    def note(self, text):
        if text not in self.notes:
            self.notes.append(text)
            print("  note: %s" % text)

    # ---- credentials and targets of the reads

    def follower_account(self, n):
        """An account following the N strategies, with stored reports; (id, headers)."""
        if n not in self.accounts:
            account_id = "bench-acct-%d" % n
            token = self.instance.add_account(account_id, [self.name(i) for i in range(n)])
            self.instance.add_reports(account_id, REPORTS)
            self.accounts[n] = (account_id, {"Authorization": "Bearer %s" % token})
        return self.accounts[n]

    def admin_headers(self):
        """A web login session's cookie: the admin reads are the web pages' API calls."""
        if self.admin is None:
            password = self.args.admin_password or getattr(self.instance, "admin_password", None)
            if not password:
                return None
            self.admin = _bench.run_async(_login(self.host, self.port, password))
        return self.admin

    def read_spec(self, name, n):
        """(targets, headers) of read scenario `name` at N strategies, or a reason to skip."""
        route, credential, in_original = next(
            (route, cred, orig) for x, route, cred, orig in READS if x == name
        )
        if self.auth.name == "original" and not in_original:
            return "not a route of the original system"
        strategies = [quote(self.name(i)) for i in range(n)]
        if credential == "admin":
            headers = self.admin_headers()
            if headers is None:
                return "no admin password (--admin-password)"
        elif credential == "follow":
            headers = self.follower_account(n)[1]
        else:
            headers = self.auth.read_headers()
        if name == "total":
            return ["/api/v1/positions/total?strategies=%s" % quote(",".join(strategies))], headers
        if name == "strategy":
            return ["/api/v1/positions/strategy/%s" % s for s in strategies], headers
        if name == "history":
            return ["/api/v1/strategies/%s/history" % s for s in strategies], headers
        if name == "version":
            return ["/api/v1/strategies/%s/versions/1" % s for s in strategies], headers
        if name == "diff":
            return ["/api/v1/strategies/%s/diff?from=1&to=2" % s for s in strategies], headers
        if name == "accounts":
            return ["/api/v1/accounts"], headers
        account_id = self.follower_account(n)[0]
        if name == "reports":
            return ["/api/v1/accounts/%s/reports" % quote(account_id)], headers
        return ["/api/v1/accounts/%s/plan" % quote(account_id)], headers

    def etags(self, targets, headers):
        """The ETag of each target's current answer; (etags, problem) where problem names
        a target that did not answer 200 or sent no ETag."""
        answers = _bench.run_async(_probe(self.host, self.port, targets, headers))
        etags = []
        for target, (status, etag) in zip(targets, answers):
            if status != 200:
                return None, "GET %s answered %d" % (target, status)
            if not etag:
                return None, "no ETag"
            etags.append(etag)
        return etags, None

    def run_read(self, targets, headers, etags, concurrency):
        """One measured run of a read; it starts after one untimed request per target,
        so it measures answering, not the first build of each body (that is
        scale.py's cold figures). A run in which no answer came back is an error."""
        a = self.args
        expect = 304 if etags else 200
        if not etags:
            _bench.run_async(_probe(self.host, self.port, targets, headers))
        result = self._run_read(targets, headers, etags, concurrency, expect)
        if not result["requests"]:
            result["errors"] = max(1, result["errors"])
            result["failed"] = "no answer within %g s" % a.seconds
        return result

    def _run_read(self, targets, headers, etags, concurrency, expect):
        a = self.args
        if a.tool == "wrk":
            return self.measure(
                lambda: _wrk.run(
                    self.host,
                    self.port,
                    targets,
                    headers,
                    etags,
                    concurrency,
                    a.seconds,
                    a.wrk_threads,
                    expect,
                )
            )
        per_target = []
        for i in range(len(targets)):
            h = dict(headers)
            if etags:
                h["If-None-Match"] = etags[i]
            per_target.append(h)
        count = len(targets)
        return self.python_load(
            lambda k: ("GET", targets[k % count], per_target[k % count], b""),
            concurrency,
            a.requests,
            a.seconds,
            (expect,),
        )

    def run_n(self, n, scenarios):
        a = self.args
        self.ensure_strategies(n)
        tool = "wrk" if a.tool == "wrk" else "python"
        for c in [int(x) for x in a.concurrency.split(",")]:
            for scenario in scenarios:
                if scenario == "mix":
                    continue
                if scenario == "upload":
                    requests = self.signed_uploads(a.upload_requests, n)
                    result = self.python_load(
                        lambda k: ("POST",) + requests[k], c, len(requests), a.seconds
                    )
                    self.record(scenario, n, c, result, tool="python")
                    continue
                read = CONDITIONAL.get(scenario, scenario)
                spec = self.read_spec(read, n)
                if isinstance(spec, str):
                    self.note("%s skipped: %s" % (scenario, spec))
                    continue
                targets, headers = spec
                etags = None
                if scenario in CONDITIONAL:
                    etags, problem = self.etags(targets, headers)
                    if problem == "no ETag":
                        self.record(scenario, n, c, _not_measured(), skipped=problem)
                        continue
                    if problem:
                        self.record(scenario, n, c, _not_measured(errors=1), failed=problem)
                        continue
                self.record(scenario, n, c, self.run_read(targets, headers, etags, c), tool=tool)
        if "mix" in scenarios:
            self.run_mix(n)

    def run_mix(self, n):
        """1 uploader every 100 ms and 20 pollers (conditional reads, ETag followed)."""
        seconds = self.args.mix_seconds
        uploads = self.signed_uploads(int(seconds * 10) + 5, n)
        if self.auth.name == "ours":
            target, headers = self.read_spec("plan_200", n)
        else:
            target, headers = self.read_spec("total", n)
        stats = _bench.run_async(
            _mix(self.host, self.port, uploads, target[0], headers, seconds, pollers=20)
        )
        self.record("mix_upload", n, 1, stats["upload"], interval_ms=100, tool="python")
        self.record(
            "mix_poll", n, 20, stats["poll"], changes_seen=stats["changes_seen"], tool="python"
        )


def _not_measured(errors=0):
    return {
        "requests": 0,
        "errors": errors,
        "req_per_s": None,
        "p50_ms": None,
        "p90_ms": None,
        "p99_ms": None,
    }


def _per_request(seconds, requests):
    return round(seconds * 1000.0 / requests, 3) if requests else None


def _children_cpu():
    """CPU seconds of this process's finished children (wrk runs); 0 where unknown."""
    try:
        import resource
    except ImportError:
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def _send_all(host, port, requests, concurrency):
    """POST every (path, headers, body) over `concurrency` connections; the status of
    each, None where the connection failed."""
    statuses = [None] * len(requests)
    queue = list(range(len(requests)))

    async def worker():
        conn = _bench.HttpConnection(host, port)
        try:
            while queue:
                k = queue.pop()
                path, headers, body = requests[k]
                try:
                    statuses[k] = (await conn.request("POST", path, headers, body))[0]
                except (OSError, asyncio.TimeoutError, _bench.HttpError):
                    conn.close()
        finally:
            conn.close()

    await asyncio.gather(*[worker() for _ in range(concurrency)])
    return statuses


async def _probe(host, port, targets, headers):
    conn = _bench.HttpConnection(host, port)
    answers = []
    try:
        for target in targets:
            status, response_headers, _ = await conn.request("GET", target, headers)
            answers.append((status, response_headers.get("etag")))
    finally:
        conn.close()
    return answers


async def _login(host, port, password):
    """Log in like the web page does (double-submit CSRF cookie); the session cookie's
    header for the admin reads."""
    from jq2qmt.server.sessions import COOKIE_NAME, LOGIN_CSRF_COOKIE

    csrf = os.urandom(16).hex()
    body = urlencode({"password": password, "csrf_token": csrf, "next": "/"}).encode("ascii")
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": "%s=%s" % (LOGIN_CSRF_COOKIE, csrf),
    }
    conn = _bench.HttpConnection(host, port)
    try:
        status, response_headers, _ = await conn.request("POST", "/login", headers, body)
    finally:
        conn.close()
    for line in response_headers.get("set-cookie", "").split("\n"):
        name, _, rest = line.partition("=")
        if name.strip() == COOKIE_NAME and status == 303:
            return {"Cookie": "%s=%s" % (COOKIE_NAME, rest.split(";", 1)[0])}
    raise SystemExit("admin login failed: POST /login answered %d" % status)


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


# ---- backends and output -------------------------------------------------------------------


def _backend_key(database_url):
    if not database_url:
        return "sqlite"
    scheme = database_url.split("://")[0].split("+")[0]
    return {"postgresql": "postgres"}.get(scheme, scheme)


def _label(key, version):
    if key == "sqlite":
        return "SQLite %s" % sqlite3.sqlite_version
    if not version:
        return {"mysql": "MySQL/MariaDB", "postgres": "PostgreSQL"}.get(key, key)
    if key == "postgres":
        return "PostgreSQL %s" % version.split()[0]
    number = version.split("-")[0]
    return ("MariaDB %s" if "mariadb" in version.lower() else "MySQL %s") % number


def run_spawned(args, key, database_url, extra, scenarios):
    """Spawn a server on backend `key` (its own throw-away database), run the scenarios."""
    throwaway = server = None
    entry = {"backend": key, "workers": args.workers, "tool": args.tool}
    try:
        if key in ("mysql", "postgres") and not database_url:
            throwaway = _bench.ThrowawayDatabase(
                args.mysql_url if key == "mysql" else args.postgres_url
            )
            database_url = throwaway.create()
            entry["database"] = throwaway.name
        version = None
        if key != "sqlite":
            version = _bench.ThrowawayDatabase.version_of(database_url)
        entry["label"] = _label(key, version)
        entry["loadavg_before"] = _loadavg()
        entry["started_utc"] = _bench.machine_info()["date_utc"]
        server = _bench.SpawnedServer(database_url, workers=args.workers).start()
        print(
            "\n== %s: spawned server %s (workers=%d, reads by %s)"
            % (entry["label"], server.url, args.workers, args.tool)
        )
        host, port = _bench.split_url(server.url)
        bench = Bench(
            args,
            host,
            port,
            OurAuth(server.instance, extra),
            server.instance,
            key,
            server.process.pid,
        )
        for n in [int(x) for x in args.strategies.split(",")]:
            bench.run_n(n, scenarios)
    finally:
        if server is not None:
            server.stop()
        if throwaway is not None:
            throwaway.drop()
    entry["loadavg_after"] = _loadavg()
    entry["notes"] = bench.notes
    return entry, bench.rows


def run_url(args, extra, scenarios):
    host, port = _bench.split_url(args.url)
    if args.auth == "ours":
        instance = _bench.BenchInstance.open(args.instance)
        auth = OurAuth(instance, extra)
        key = _backend_key(instance.settings.database_url)
    else:
        instance = None
        auth = OriginalAuth(args.client_id, args.private_key, args.api_key, extra)
        key = "original"
    entry = {
        "backend": key,
        "label": "the original system" if key == "original" else _label(key, None),
        "url": args.url,
        "tool": args.tool,
        "loadavg_before": _loadavg(),
        "started_utc": _bench.machine_info()["date_utc"],
    }
    bench = Bench(args, host, port, auth, instance, key)
    try:
        for n in [int(x) for x in args.strategies.split(",")]:
            bench.run_n(n, scenarios)
    finally:
        if instance is not None:
            instance.close()
    entry["loadavg_after"] = _loadavg()
    entry["notes"] = bench.notes
    return entry, bench.rows


def _loadavg():
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


TEXT_COLUMNS = [
    "scenario",
    "strategies",
    "concurrency",
    "req_per_s",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "server_cpu_ms_per_req",
    "errors",
    "note",
]

_VARIANTS = {
    "upload": "signed upload, 30 positions",
    "mix_upload": "mix: 1 upload every 100 ms",
    "mix_poll": "mix: 20 pollers, If-None-Match",
}


def _number(value, digits=1):
    if value is None:
        return "-"
    if value >= 100 or digits == 0:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:,.1f}".rstrip("0").rstrip(".")
    return "{:.{}f}".format(value, max(digits, 2)).rstrip("0").rstrip(".")


def markdown_cell(row):
    if row.get("skipped"):
        return "n/a (%s)" % row["skipped"]
    if row.get("failed"):
        return "**error: %s**" % row["failed"]
    if not row["requests"]:
        return "**error: no answer**"
    cell = "%s / %s / %s / %s" % (
        _number(row["req_per_s"], 0),
        _number(row["p50_ms"]),
        _number(row["p99_ms"]),
        _number(row.get("server_cpu_ms_per_req"), 2),
    )
    if row["errors"]:
        cell += " **(%d errors of %d)**" % (row["errors"], row["requests"] + row["errors"])
    return cell


def markdown_table(entry, rows, command):
    """One backend's results: a row per route and variant, a column per N and c."""
    if entry.get("error"):
        return "### %s\n\n**Not measured: %s**" % (entry["label"], entry["error"])
    columns = []
    for row in rows:
        if row["scenario"].startswith("mix"):
            continue
        key = (row["strategies"], row["concurrency"])
        if key not in columns:
            columns.append(key)
    cells, order = {}, []
    for row in rows:
        scenario = row["scenario"]
        if scenario.startswith("mix"):
            first = [c for c in columns if c[0] == row["strategies"]]
            key = first[0] if first else (row["strategies"], row["concurrency"])
            if key not in columns:
                columns.append(key)
        else:
            key = (row["strategies"], row["concurrency"])
        if scenario in CONDITIONAL:
            label = ("", "304 (If-None-Match)", row["route"])
        elif scenario in _VARIANTS:
            route = "`%s`" % row["route"] if scenario == "upload" else ""
            label = (route, _VARIANTS[scenario], row["route"])
        else:
            label = ("`%s`" % row["route"], "200", row["route"])
        if label not in cells:
            cells[label] = {}
            order.append(label)
        cells[label][key] = markdown_cell(row)
    load = "load %s -> %s" % (
        " ".join(str(x) for x in entry.get("loadavg_before") or []),
        " ".join(str(x) for x in entry.get("loadavg_after") or []),
    )
    lines = [
        "### %s" % entry["label"],
        "",
        "%s UTC, commit %s, %s, %s. "
        "`%s`"
        % (
            entry.get("started_utc", "").replace("T", " ")[:16],
            entry.get("commit") or "?",
            load,
            "reads by wrk, uploads and mix by the Python client"
            if entry.get("tool") == "wrk"
            else "load from the Python client",
            command,
        ),
        "",
        "| route | answer | " + " | ".join("N=%d c=%d" % key for key in columns) + " |",
        "| --- | --- | " + " | ".join("---" for _ in columns) + " |",
    ]
    for label in order:
        lines.append(
            "| %s | %s | " % label[:2]
            + " | ".join(cells[label].get(key, "") for key in columns)
            + " |"
        )
    if entry.get("notes"):
        lines += ["", "Not measured: %s." % "; ".join(entry["notes"])]
    return "\n".join(lines)


def _command(argv):
    shown = []
    for arg in argv:
        shown.append("<password>" if shown and shown[-1] == "--admin-password" else arg)
    return " ".join(["python benchmarks/http_load.py"] + shown)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    info = _bench.machine_info()
    extra = {}
    for header in args.header:
        name, _, value = header.partition(":")
        extra[name.strip()] = value.strip()
    scenarios = args.scenario_list
    runs = []
    if args.backend_list:
        for key in args.backend_list:
            try:
                runs.append(run_spawned(args, key, None, extra, scenarios))
            except SystemExit as exc:
                # one backend failing (its database down, setup refused) leaves the
                # others' tables standing; the failure is printed and ends in exit 1
                print("\n%s failed: %s" % (key, exc), file=sys.stderr)
                runs.append(({"backend": key, "label": key, "error": str(exc)}, []))
    elif args.spawn:
        key = _backend_key(args.database_url)
        runs.append(run_spawned(args, key, args.database_url, extra, scenarios))
    else:
        runs.append(run_url(args, extra, scenarios))
    command = _command(argv)
    rows = []
    for entry, backend_rows in runs:
        entry["commit"] = info.get("commit")
        rows.extend(backend_rows)
        for row in backend_rows:
            if row.get("skipped"):
                row["note"] = "n/a: %s" % row["skipped"]
            elif row.get("failed"):
                row["note"] = row["failed"]
        print(
            "\n%s (%s)"
            % (
                entry["label"],
                "load %s -> %s" % (entry.get("loadavg_before"), entry.get("loadavg_after")),
            )
        )
        _bench.print_table(backend_rows, TEXT_COLUMNS)
    if args.markdown:
        print("\nreq/s / p50 ms / p99 ms / server CPU ms per request:\n")
        for entry, backend_rows in runs:
            print(markdown_table(entry, backend_rows, command))
            print()
    data = {
        "benchmark": "http_load",
        "machine": _bench.finish_machine_info(info),
        "command": command,
        "server": {
            "url": "spawned" if args.spawn else args.url,
            "auth": args.auth,
            "workers": args.workers,
            "tool": args.tool,
            "database": ",".join(entry["backend"] for entry, _ in runs),
        },
        "backends": [entry for entry, _ in runs],
        "parameters": {
            "strategies": args.strategies,
            "concurrency": args.concurrency,
            "seconds": args.seconds,
            "positions": POSITIONS,
            "quick": args.quick,
            "wrk_threads": args.wrk_threads if args.tool == "wrk" else None,
        },
        "results": rows,
    }
    _bench.write_json(args.out or _bench.default_out("http_load"), data)
    failed = any(r["errors"] for r in rows) or any(entry.get("error") for entry, _ in runs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
