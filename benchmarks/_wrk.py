"""Read runs driven by wrk (https://github.com/wg/wrk; Debian: `apt-get install wrk`).

wrk is a C load generator, far cheaper per request than the Python one, so on a
machine whose cores the generator shares with the server it takes less from the
server. A generated Lua script cycles through the targets (with each target's
If-None-Match for conditional reads) and counts every answer whose status is not
the expected one, so a wrong status is an error here too, not only wrk's own
socket errors and statuses above 399. Runs are bounded by their duration.
"""

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

_SCRIPT = """
local targets = %(targets)s
local etags = %(etags)s
local base = %(headers)s
local expected = %(expected)d
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  wrong = 0
  k = 0
end

request = function()
  k = k %% #targets + 1
  local headers = {}
  for name, value in pairs(base) do headers[name] = value end
  if etags[k] then headers["If-None-Match"] = etags[k] end
  return wrk.format("GET", targets[k], headers)
end

response = function(status, headers, body)
  if status ~= expected then wrong = wrong + 1 end
end

done = function(summary, latency, requests)
  local wrong_total = 0
  for _, thread in ipairs(threads) do wrong_total = wrong_total + thread:get("wrong") end
  local e = summary.errors
  io.write(string.format(
    'WRK-JSON {"requests": %%d, "duration_us": %%d, "wrong_status": %%d, "connect": %%d, ' ..
    '"read": %%d, "write": %%d, "status": %%d, "timeout": %%d, "p50_us": %%d, "p90_us": %%d, ' ..
    '"p99_us": %%d, "max_us": %%d}\\n',
    summary.requests, summary.duration, wrong_total, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end
"""


def available():
    return shutil.which("wrk") is not None


def _lua_string(text):
    # a JSON string of ASCII text is a valid Lua string literal
    return json.dumps(str(text), ensure_ascii=True)


def _lua_list(values):
    return "{" + ", ".join("nil" if v is None else _lua_string(v) for v in values) + "}"


def _lua_table(mapping):
    return (
        "{"
        + ", ".join("[%s] = %s" % (_lua_string(k), _lua_string(v)) for k, v in mapping.items())
        + "}"
    )


def run(host, port, targets, headers, etags, concurrency, seconds, threads=2, expect=200):
    """One wrk run over `targets` (paths; `etags[i]` sent as If-None-Match of target i
    when given); returns the same fields as `_bench.summary` plus wrk's error counts."""
    threads = max(1, min(threads, concurrency))
    script = _SCRIPT % {
        "targets": _lua_list(targets),
        "etags": _lua_list(etags or [None] * len(targets)),
        "headers": _lua_table(headers),
        "expected": expect,
    }
    with tempfile.TemporaryDirectory(prefix="jq2qmt-wrk-") as folder:
        path = Path(folder) / "run.lua"
        path.write_text(script, encoding="utf-8")
        duration = max(1, int(round(seconds)))
        completed = subprocess.run(
            [
                "wrk",
                "-t%d" % threads,
                "-c%d" % concurrency,
                "-d%ds" % duration,
                "--timeout",
                "30s",
                "-s",
                str(path),
                "http://%s:%d%s" % (host, port, targets[0]),
            ],
            capture_output=True,
            text=True,
            timeout=duration + 60,
        )
    line = next((x for x in completed.stdout.splitlines() if x.startswith("WRK-JSON ")), None)
    if completed.returncode != 0 or line is None:
        raise SystemExit("wrk failed (%d): %s" % (completed.returncode, completed.stderr[-2000:]))
    raw = json.loads(line[len("WRK-JSON ") :])
    socket_errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    elapsed = raw["duration_us"] / 1e6
    requests = raw["requests"]
    return {
        "requests": requests,
        # statuses above 399 are also counted by wrk as "status"; the Lua check counts
        # every status other than the expected one, which includes those
        "errors": socket_errors + raw["wrong_status"],
        "seconds": round(elapsed, 3),
        "req_per_s": round(requests / elapsed, 1) if elapsed > 0 else None,
        "p50_ms": _ms(raw["p50_us"], requests),
        "p90_ms": _ms(raw["p90_us"], requests),
        "p99_ms": _ms(raw["p99_us"], requests),
        "max_ms": _ms(raw["max_us"], requests),
        "statuses": {str(expect): requests - raw["wrong_status"], "other": raw["wrong_status"]},
        "wrk_errors": dict((k, raw[k]) for k in ("connect", "read", "write", "timeout", "status")),
    }


def _ms(microseconds, requests):
    return round(microseconds / 1000.0, 2) if requests else None
