"""Shared helpers of the benchmark scripts (not a test module, not part of the package).

- `HttpConnection`: a minimal asyncio HTTP/1.1 keep-alive client (stdlib only, so the
  benchmarks run after a plain `pip install .`, and cheap enough per request that the
  load generator does not hide the server's speed on a 2-core machine).
- `run_load`: N workers (one connection each) send requests until a count or a time
  budget is used up; latencies in ms.
- `summary`: req/s, p50/p90/p99, status counts.
- `SpawnedServer`: a throw-away instance (temporary SQLite file, or `--database-url`)
  served by `python -m jq2qmt serve` in a child process on 127.0.0.1.
- `ThrowawayDatabase`: a MySQL/MariaDB or PostgreSQL database created for one run and
  dropped after it (only one this process created).
- `machine_info`, `code_version`, `write_json`, `print_table`, `codes`, `positions_for`.

Every load loop stops by itself (count and time bounded); every server is 127.0.0.1.
"""

import asyncio
import datetime
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"

# Code blocks that are ordinary tradable stocks (board prefixes of jq2qmt.rules.codes).
_BLOCKS = [
    ("600", "XSHG"),
    ("601", "XSHG"),
    ("603", "XSHG"),
    ("605", "XSHG"),
    ("000", "XSHE"),
    ("001", "XSHE"),
    ("002", "XSHE"),
    ("003", "XSHE"),
    ("300", "XSHE"),
    ("301", "XSHE"),
]


def codes(count, form="jq"):
    """`count` distinct tradable stock codes (JoinQuant form, or QMT with form="qmt")."""
    result = []
    for prefix, suffix in _BLOCKS:
        for n in range(1000):
            if len(result) >= count:
                return result
            if prefix == "000" and n == 0:
                continue
            suffix_text = suffix if form == "jq" else {"XSHG": "SH", "XSHE": "SZ"}[suffix]
            result.append("%s%03d.%s" % (prefix, n, suffix_text))
    if len(result) < count:
        raise ValueError("at most %d codes" % len(result))
    return result


def positions_for(index, count, universe, version=0):
    """`count` positions of strategy `index`, drawn from `universe` (overlapping
    between strategies, as real strategies hold many of the same stocks)."""
    start = (index * 7) % max(1, len(universe) - count)
    return [
        {
            "code": code,
            "volume": 100 * (1 + (index + i + version) % 50),
            "cost": 10.0 + (i % 17) * 0.37,
            "name": "股票%d" % i,
        }
        for i, code in enumerate(universe[start : start + count])
    ]


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def summary(latencies_ms, elapsed_s, statuses=None, errors=0):
    """req/s and latency percentiles (ms) of one measured run."""
    values = sorted(latencies_ms)
    result = {
        "requests": len(values),
        "errors": errors,
        "seconds": round(elapsed_s, 3),
        "req_per_s": round(len(values) / elapsed_s, 1) if elapsed_s > 0 else None,
        "p50_ms": _round(percentile(values, 0.50)),
        "p90_ms": _round(percentile(values, 0.90)),
        "p99_ms": _round(percentile(values, 0.99)),
        "max_ms": _round(values[-1] if values else None),
    }
    if statuses is not None:
        result["statuses"] = dict((str(k), v) for k, v in sorted(statuses.items()))
    return result


def _round(value, digits=2):
    return None if value is None else round(value, digits)


# ---- a small HTTP/1.1 client --------------------------------------------------------------


class HttpError(Exception):
    pass


class HttpConnection:
    """One keep-alive connection to host:port; `request` returns (status, headers, body)."""

    def __init__(self, host, port, timeout=30.0):
        self.host = host
        self.port = port
        self.timeout = timeout
        self._reader = None
        self._writer = None

    async def _connect(self):
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), self.timeout
        )

    async def request(self, method, target, headers=None, body=b""):
        for attempt in (0, 1):
            if self._writer is None:
                await self._connect()
            try:
                return await asyncio.wait_for(
                    self._exchange(method, target, headers or {}, body), self.timeout
                )
            except (ConnectionError, asyncio.IncompleteReadError, HttpError):
                self.close()
                if attempt:
                    raise
        raise HttpError("unreachable")

    async def _exchange(self, method, target, headers, body):
        lines = ["%s %s HTTP/1.1" % (method, target), "Host: %s:%d" % (self.host, self.port)]
        for name, value in headers.items():
            lines.append("%s: %s" % (name, value))
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append("Content-Length: %d" % len(body))
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + (body or b""))
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, _, rest = head.decode("latin-1").partition("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise HttpError("bad status line %r" % status_line)
        status = int(parts[1])
        response_headers = {}
        for line in rest.split("\r\n"):
            if ":" in line:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "set-cookie" and name in response_headers:
                    # one cookie per line: Expires dates hold commas
                    value = response_headers[name] + "\n" + value.strip()
                response_headers[name] = value.strip()
        if status in (204, 304) or method == "HEAD":
            data = b""
        elif "content-length" in response_headers:
            data = await self._reader.readexactly(int(response_headers["content-length"]))
        elif response_headers.get("transfer-encoding", "").lower() == "chunked":
            data = await self._read_chunked()
        else:
            raise HttpError("response without length")
        if response_headers.get("connection", "").lower() == "close":
            self.close()
        return status, response_headers, data

    async def _read_chunked(self):
        chunks = []
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")
                return b"".join(chunks)
            chunks.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)

    def close(self):
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:
                pass
        self._reader = self._writer = None


def split_url(url):
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme != "http":
        raise SystemExit("only http:// URLs are supported by the load generator: %s" % url)
    host = parts.hostname or "127.0.0.1"
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("benchmarks load only 127.0.0.1 (got %s)" % host)
    return "127.0.0.1" if host == "localhost" else host, parts.port or 80


def run_async(coroutine):
    """Run the load generator's event loop: uvloop when installed (it is a server
    dependency), which halves the generator's own CPU per request; the generator
    shares the machine's cores with the server, so its cost lowers every figure."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


async def run_load(
    host,
    port,
    make_request,
    concurrency,
    max_requests,
    max_seconds,
    expect=(200,),
    connections=None,
):
    """Run `concurrency` workers until `max_requests` are done or `max_seconds` pass.

    `make_request(i)` returns (method, target, headers, body) for request number i, or
    None when there is nothing left to send. Returns the `summary` dict.
    """
    counter = {"next": 0}
    latencies = []
    statuses = {}
    errors = [0]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_seconds

    async def worker():
        conn = HttpConnection(host, port)
        try:
            while loop.time() < deadline and counter["next"] < max_requests:
                i = counter["next"]
                counter["next"] += 1
                spec = make_request(i)
                if spec is None:
                    return
                method, target, headers, body = spec
                started = time.perf_counter()
                try:
                    status, _headers, _data = await conn.request(method, target, headers, body)
                except (OSError, asyncio.TimeoutError, HttpError, asyncio.IncompleteReadError):
                    errors[0] += 1
                    continue
                latencies.append((time.perf_counter() - started) * 1000.0)
                statuses[status] = statuses.get(status, 0) + 1
                if status not in expect:
                    errors[0] += 1
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(concurrency)])
    return summary(latencies, time.perf_counter() - started, statuses, errors[0])


# ---- a spawned server -------------------------------------------------------------------------


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SpawnedServer:
    """A new instance served by `python -m jq2qmt serve` (a child process) on 127.0.0.1.

    The instance folder is temporary; its SQLite file lives in it unless
    `database_url` names another database (that database is used as it is, so give
    an empty throw-away one). `stop()` ends the child (only that process).
    """

    def __init__(self, database_url=None, workers=1, log_level="warning", client_kind="rsa"):
        self.database_url = database_url
        self.workers = workers
        self.log_level = log_level
        self.client_kind = client_kind
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self._tmp = None
        self.process = None
        self.instance = None

    def start(self):
        from jq2qmt.instance import init_instance

        self._tmp = tempfile.TemporaryDirectory(prefix="jq2qmt-bench-")
        folder = Path(self._tmp.name) / "instance"
        result = init_instance(
            folder,
            database_url=self.database_url,
            host="127.0.0.1",
            port=self.port,
            public_url=self.url,
            client_kind=self.client_kind,
            overwrite=True,
        )
        self.instance = BenchInstance(result.settings, result.admin_password)
        command = [
            sys.executable,
            "-m",
            "jq2qmt",
            "serve",
            "--instance",
            str(folder),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            self.log_level,
        ]
        if self.workers and self.workers > 1:
            command += ["--workers", str(self.workers)]
        self._log = open(str(Path(self._tmp.name) / "server.log"), "wb")
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout=60.0):
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit("server exited early:\n%s" % self.log_text())
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except Exception:
                time.sleep(0.1)
        raise SystemExit("server did not answer within %d s:\n%s" % (timeout, self.log_text()))

    def log_text(self):
        try:
            return (Path(self._tmp.name) / "server.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def db_size(self):
        path = self.instance.sqlite_path()
        if path is None:
            return None
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None
        if self.instance is not None:
            self.instance.close()
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None
        if self._tmp is not None:
            try:
                self._tmp.cleanup()
            except OSError:
                pass
            self._tmp = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


_DATABASE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class ThrowawayDatabase:
    """A new, empty database on the MySQL/MariaDB or PostgreSQL server of `server_url`.

    The URL's database name is the one created (a random `jq2qmt_bench_<hex>` when the
    URL names none); an existing database is refused, never reused, so `drop()` only
    ever drops what `create()` made.
    """

    def __init__(self, server_url):
        from sqlalchemy.engine import make_url

        url = make_url(server_url)
        if url.get_backend_name() not in ("mysql", "postgresql"):
            raise SystemExit("a throw-away database needs a mysql or postgresql URL: %s" % url)
        name = url.database or "jq2qmt_bench_%s" % os.urandom(4).hex()
        if not _DATABASE_NAME.match(name):
            raise SystemExit("database name must be lower-case letters, digits, _: %r" % name)
        self.url = url.set(database=name)
        self.name = name
        self.created = False

    def _admin_engine(self):
        from sqlalchemy import create_engine

        if self.url.get_backend_name() == "postgresql":
            return create_engine(self.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        return create_engine(self.url._replace(database=None))

    def _execute(self, statement):
        from sqlalchemy import text

        engine = self._admin_engine()
        try:
            with engine.connect() as conn:
                conn.execute(text(statement))
                conn.commit()
        finally:
            engine.dispose()

    def create(self):
        if self.url.get_backend_name() == "postgresql":
            self._execute('CREATE DATABASE "%s"' % self.name)
        else:
            self._execute(
                "CREATE DATABASE `%s` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" % self.name
            )
        self.created = True
        return self.url.render_as_string(hide_password=False)

    @staticmethod
    def version_of(database_url):
        """The version text of the database server at `database_url`."""
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        url = make_url(database_url)
        postgres = url.get_backend_name() == "postgresql"
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                query = "SHOW server_version" if postgres else "SELECT VERSION()"
                return str(conn.execute(text(query)).scalar())
        finally:
            engine.dispose()

    def drop(self):
        if not self.created:
            return
        if self.url.get_backend_name() == "postgresql":
            # FORCE ends connections a stopped server may have left half-closed
            self._execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % self.name)
        else:
            self._execute("DROP DATABASE IF EXISTS `%s`" % self.name)
        self.created = False


class BenchInstance:
    """An instance's settings plus the credentials a benchmark needs."""

    def __init__(self, settings, admin_password=None):
        self.settings = settings
        self.admin_password = admin_password
        self._db = None
        self._key = None

    @classmethod
    def open(cls, folder):
        from jq2qmt.config import load_settings

        return cls(load_settings(Path(folder)))

    def db(self):
        if self._db is None:
            from jq2qmt.store.db import Database

            self._db = Database(self.settings.database_url)
        return self._db

    def sqlite_path(self):
        url = self.settings.database_url
        if url.startswith("sqlite:///"):
            return Path(url[len("sqlite:///") :])
        return None

    def token(self, scope="read", account_id=None):
        from jq2qmt.store import credentials

        name = "bench-%s-%s" % (scope, os.urandom(4).hex())
        return credentials.create_token(self.db(), name, scope, account_id)

    def private_key(self):
        if self._key is None:
            from jq2qmt import signing

            self._key = signing.load_private_key(
                Path(self.settings.jq_private_key_path).read_bytes()
            )
        return self._key

    def signed_headers(self, path, body):
        from jq2qmt import signing

        return signing.signed_headers(
            self.private_key(), self.settings.jq_client_id, "POST", path, body
        )

    def add_account(self, account_id, strategies, ratio=1.0):
        """A follower account following `strategies` (ratio mode); returns its token."""
        from jq2qmt.store import accounts

        accounts.add_account(self.db(), account_id, account_id, "ratio", {}, confirmed=True)
        for name in strategies:
            accounts.set_follow(self.db(), account_id, name, ratio=ratio)
        return accounts.create_follower_token(self.db(), account_id, rotate=True)

    def add_reports(self, account_id, count):
        """`count` round reports of `account_id`, as a follower sends them after a round."""
        from jq2qmt.store import accounts

        for k in range(count):
            accounts.save_report(
                self.db(),
                account_id,
                {
                    "kind": "round",
                    "status": "ok",
                    "round_id": "bench-%s-%d" % (account_id, k),
                    "placed": [
                        {"code": code, "side": "buy", "volume": 100 * (1 + k % 5), "price": 10.0}
                        for code in codes(5)
                    ],
                },
            )

    def close(self):
        if self._db is not None:
            self._db.dispose()
            self._db = None


# ---- output ----------------------------------------------------------------------------------


def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info():
    """Where and when a figure was measured, and how busy the machine was."""
    info = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "commit": code_version(),
    }
    if hasattr(os, "getloadavg"):
        info["loadavg_before"] = [round(x, 2) for x in os.getloadavg()]
    return info


def code_version():
    """The commit the benchmarks ran on (short hash, `+dirty` with local changes), or None."""
    folder = str(Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=folder, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return None
    return (commit + ("+dirty" if dirty else "")) or None


def finish_machine_info(info):
    if hasattr(os, "getloadavg"):
        info["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    return info


def default_out(name):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return RESULTS_DIR / ("%s-%s.json" % (name, stamp))


def write_json(path, data):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print("JSON: %s" % path)
    return path


def print_table(rows, columns):
    """Print `rows` (dicts) as an aligned text table with the given columns."""
    if not rows:
        print("(no rows)")
        return
    header = [c for c in columns]
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)
    ]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


def _cell(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return "%.2f" % value
    return str(value)


def tree_cpu_seconds(pid):
    """CPU seconds (user + system) used so far by process `pid` and its descendants
    (Linux /proc; None elsewhere). Robust to a busy machine, unlike wall-clock req/s."""
    try:
        ticks = float(os.sysconf("SC_CLK_TCK"))
        parents, cpu = {}, {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
            cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    except (OSError, ValueError, AttributeError):
        return None
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(cpu.get(p, 0.0) for p in tree)


def rss_mb(pid=None):
    """Resident memory of a process in MiB (Linux /proc; None elsewhere)."""
    path = Path("/proc/%s/status" % (pid or "self"))
    try:
        for line in path.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024.0, 1)
    except OSError:
        return None
    return None


def peak_rss_mb():
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0), 1)
