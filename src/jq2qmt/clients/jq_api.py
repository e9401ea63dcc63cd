"""The JoinQuant uploader: ``JQQMTAPI`` as exported in ``jq_qmt_api.py``.

It keeps the original call ``update_positions(strategy_name, positions)`` and adds
``sync_portfolio(context, strategy_name, subportfolio=None)``, which builds the snapshot
from the strategy's own portfolio. Rules it follows:

- A running strategy is never broken by an upload: failures are logged with
  JoinQuant's ``log`` (``print`` elsewhere) and never raised, unless
  ``raise_errors=True``.
- Every request is signed as ``signing.py`` defines (fresh nonce per attempt).
- Each upload has a total time budget; network errors, timeouts, 5xx and 429 are
  retried with exponential back-off inside it; any other 4xx is final and its
  server reason is logged.
- A position's volume is ``total_amount + locked_amount``: JoinQuant's ``total_amount``
  excludes the shares frozen by open sell orders, which are still held.
- ``sync_portfolio`` sends nothing outside simulated trading (``sim_trade``) unless
  ``allow_backtest=True``: a backtest must never overwrite live targets. It skips while
  the strategy has open orders (a half-filled rebalance is not a target) and when the
  positions equal the last accepted upload of that strategy. Every skip is logged.
- The private key is never logged.

This module is bundled into the exported file: Python 3.6 syntax, stdlib only at
import time; ``requests`` and ``cryptography`` are imported when first needed.
"""

import hashlib
import importlib
import json
import math
import os
import sys
import time
from urllib.parse import urlsplit

from .. import signing

UPLOAD_PATH = "/api/v1/positions/update"
HEADER_UPLOAD_TOKEN = "X-JQ2QMT-Upload-Token"
LOG_PREFIX = "[jq2qmt] "

# option name -> (jq_config name, default)
OPTIONS = {
    "api_url": ("API_URL", None),
    "client_id": ("CLIENT_ID", None),
    "private_key_file": ("PRIVATE_KEY_FILE", "jq2qmt_private_key.pem"),
    "upload_token": ("UPLOAD_TOKEN", None),  # servers set up with `init --key-type token`
    "connect_timeout": ("CONNECT_TIMEOUT", 3.0),
    "timeout": ("TIMEOUT", 5.0),
    "total_timeout": ("TOTAL_TIMEOUT", 10.0),
    "max_retries": ("MAX_RETRIES", 3),
    "backoff": ("BACKOFF", 0.5),
    "allow_backtest": ("ALLOW_BACKTEST", False),
    "raise_errors": ("RAISE_ERRORS", False),
    "skip_when_open_orders": ("SKIP_WHEN_OPEN_ORDERS", True),
    "skip_unchanged": ("SKIP_UNCHANGED", True),
    "verify_tls": ("VERIFY_TLS", True),
}
# JoinQuant functions the uploader uses when the strategy environment has them.
PLATFORM_FUNCTIONS = ("log", "get_security_info", "get_open_orders")


class UploadError(Exception):
    """An upload was not accepted (raised only with ``raise_errors=True``)."""


class _Attempt(object):
    def __init__(self, retry, message, status=None):
        self.retry = retry
        self.message = message
        self.status = status


class JQQMTAPI(object):
    """Uploads strategy positions to the jq2qmt server.

    ``JQQMTAPI()`` reads ``jq_config`` (next to this file in the research root);
    ``config`` may also be a module or dict with the same upper-case names, and any
    option can be given as a keyword (``api_url``, ``client_id``, ``private_key_file``,
    ``private_key`` (PEM bytes), ``timeout``, ``total_timeout``, ``max_retries``,
    ``allow_backtest``, ``raise_errors``, ``log``, ``get_security_info``,
    ``get_open_orders``...).
    """

    # Folders searched for the key file after JoinQuant's read_file (set by the
    # exported file to its own folder).
    key_dirs = ()

    def __init__(self, config=None, **options):
        self._config_source = config
        self._overrides = dict(options)
        self.last_result = None
        self._accepted = {}
        self._setup()

    # --- configuration ---------------------------------------------------------
    def _setup(self):
        config = self._load_config(self._config_source)
        unknown = set(self._overrides) - set(OPTIONS) - set(PLATFORM_FUNCTIONS) - {"private_key"}
        if unknown:
            raise TypeError("unknown JQQMTAPI options: %s" % ", ".join(sorted(unknown)))
        for name, (config_name, default) in OPTIONS.items():
            value = self._overrides.get(name, config.get(config_name, default))
            setattr(self, name, value)
        self._private_key_pem = self._overrides.get("private_key")
        self._platform = dict((n, self._overrides.get(n)) for n in PLATFORM_FUNCTIONS)
        self._key = None
        self._session = None
        self._names = {}

    @staticmethod
    def _load_config(source):
        if source is None:
            try:
                source = importlib.import_module("jq_config")
            except ImportError:  # reported when an upload is attempted
                source = {}
        if isinstance(source, dict):
            return dict(source)
        return dict((k, getattr(source, k)) for k in dir(source) if k.isupper())

    def __getstate__(self):
        # JoinQuant pickles g between runs: keep only what can be rebuilt from.
        return {
            "config": self._config_source if isinstance(self._config_source, dict) else None,
            "overrides": dict(
                (k, v)
                for k, v in self._overrides.items()
                if k not in PLATFORM_FUNCTIONS and k != "private_key"
            ),
            "accepted": dict(self._accepted),
        }

    def __setstate__(self, state):
        self._config_source = state["config"]
        self._overrides = state["overrides"]
        self.last_result = None
        self._setup()
        self._accepted = state["accepted"]

    # --- public calls ------------------------------------------------------------
    def update_positions(self, strategy_name, positions, as_of=None, portfolio=None):
        """Upload a full snapshot; returns the accepted version, or None.

        `positions`: list of ``{"code", "volume", "cost", "name"?}`` (the seed's call).
        """
        try:
            snapshot = _clean_positions(positions)
        except (TypeError, ValueError, KeyError) as exc:
            return self._fail(strategy_name, "持仓数据格式错误 / bad positions: %s" % exc)
        return self._send(strategy_name, snapshot, as_of, portfolio)

    def sync_portfolio(self, context, strategy_name, subportfolio=None):
        """Upload the strategy's current holdings (simulated trading only).

        `subportfolio`: None for ``context.portfolio``, an index into
        ``context.subportfolios``, or a subportfolio object.
        Returns the accepted version, or None (skipped or failed; see the log).
        """
        try:
            run_type = getattr(getattr(context, "run_params", None), "type", None)
            if run_type != "sim_trade" and not self.allow_backtest:
                return self._skip(
                    strategy_name,
                    "运行类型为 %s，不是模拟交易，不上传 / not sim_trade, "
                    "nothing sent (allow_backtest=True to send)" % run_type,
                )
            open_orders = self._open_orders()
            if open_orders and self.skip_when_open_orders:
                return self._skip(
                    strategy_name,
                    "还有 %d 笔未完成订单，本次不上传 / %d open orders, "
                    "upload skipped" % (len(open_orders), len(open_orders)),
                )
            portfolio = _select_portfolio(context, subportfolio)
            snapshot = self._snapshot(portfolio)
            summary = {
                "total_value": _number(portfolio.total_value),
                "cash": _number(portfolio.available_cash),
            }
            as_of = _iso_time(getattr(context, "current_dt", None))
        except Exception as exc:  # a strange context must not break the strategy
            return self._fail(strategy_name, "读取持仓失败 / cannot read portfolio: %r" % (exc,))
        if self.skip_unchanged and self._accepted.get(strategy_name) == _fingerprint(snapshot):
            return self._skip(
                strategy_name,
                "持仓与上次成功上传相同，不重复上传 / unchanged since the last accepted upload",
            )
        return self._send(strategy_name, snapshot, as_of, summary)

    # --- snapshot ----------------------------------------------------------------------
    def _snapshot(self, portfolio):
        rows = []
        for code, pos in list(portfolio.positions.items()):
            volume = _holding(pos)
            if volume <= 0:
                continue
            row = {
                "code": str(getattr(pos, "security", code) or code),
                "volume": volume,
                "cost": round(_number(getattr(pos, "avg_cost", 0.0)), 4),
            }
            name = self._display_name(row["code"])
            if name:
                row["name"] = name
            rows.append(row)
        rows.sort(key=lambda r: r["code"])
        return rows

    def _display_name(self, code):
        if code not in self._names:
            name = None
            lookup = self._platform_function("get_security_info")
            if lookup is not None:
                try:
                    name = getattr(lookup(code), "display_name", None)
                except Exception:
                    name = None
            self._names[code] = str(name) if name else None
        return self._names[code]

    def _open_orders(self):
        fetch = self._platform_function("get_open_orders")
        if fetch is None:
            return {}
        return fetch() or {}

    # --- sending -------------------------------------------------------------------------
    def _send(self, strategy_name, positions, as_of, portfolio):
        payload = {"strategy_name": strategy_name, "positions": positions}
        if as_of:
            payload["as_of"] = _iso_time(as_of) if not isinstance(as_of, str) else as_of
        if portfolio:
            payload["portfolio"] = portfolio
        try:
            body = json.dumps(
                payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
            ).encode("utf-8")
            key = self._private_key()
            session = self._requests_session()
        except Exception as exc:
            return self._fail(strategy_name, "无法准备上传 / cannot prepare upload: %s" % (exc,))
        deadline = time.monotonic() + float(self.total_timeout)
        attempts = 0
        while True:
            attempts += 1
            try:
                outcome = self._attempt(session, key, body, deadline)
            except Exception as exc:  # never let a surprise escape into the strategy
                outcome = _Attempt(False, "上传出错 / upload error: %s" % type(exc).__name__)
            if isinstance(outcome, dict):
                return self._accept(strategy_name, positions, outcome, attempts)
            delay = float(self.backoff) * (2 ** (attempts - 1))
            if (
                not outcome.retry
                or attempts > int(self.max_retries)
                or time.monotonic() + delay >= deadline
            ):
                return self._fail(
                    strategy_name,
                    "%s（共尝试 %d 次 / after %d attempt(s)）"
                    % (outcome.message, attempts, attempts),
                    outcome.status,
                    attempts,
                )
            self._log(
                "warn",
                "上传失败，%.1f 秒后重试 / retrying in %.1fs: %s" % (delay, delay, outcome.message),
            )
            time.sleep(delay)

    def _attempt(self, session, key, body, deadline):
        import requests

        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return _Attempt(False, "超出总时间预算 / total time budget used up")
        url = self.api_url.rstrip("/") + UPLOAD_PATH
        if key is None:  # token mode: no signature, the token authenticates
            headers = {
                signing.HEADER_CLIENT: self.client_id,
                HEADER_UPLOAD_TOKEN: self.upload_token,
            }
        else:
            path = urlsplit(url).path or UPLOAD_PATH
            headers = signing.signed_headers(key, self.client_id, "POST", path, body)
        headers["Content-Type"] = "application/json; charset=utf-8"
        timeout = (min(float(self.connect_timeout), remaining), min(float(self.timeout), remaining))
        try:
            response = session.post(
                url,
                data=body,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                verify=self.verify_tls,
            )
        except requests.exceptions.Timeout:
            return _Attempt(True, "服务器响应超时 / server timed out (%s)" % self.api_url)
        except requests.exceptions.RequestException as exc:
            return _Attempt(
                True,
                "无法连接服务器 / cannot reach server (%s): %s"
                % (self.api_url, type(exc).__name__),
            )
        status = response.status_code
        if 200 <= status < 300:
            try:
                data = response.json()
            except ValueError:
                data = None
            return data if isinstance(data, dict) else {}
        reason = _server_reason(response)
        retry = status == 429 or status >= 500
        return _Attempt(retry, "服务器拒绝 / server refused: HTTP %d %s" % (status, reason), status)

    def _accept(self, strategy_name, positions, data, attempts):
        version = data.get("version") if isinstance(data, dict) else None
        self._accepted[strategy_name] = _fingerprint(positions)
        self.last_result = {
            "status": "accepted",
            "strategy": strategy_name,
            "version": version,
            "attempts": attempts,
        }
        self._log(
            "info",
            "策略 %s 持仓已上传：%d 只证券，版本 %s / uploaded %d positions, version %s"
            % (strategy_name, len(positions), version, len(positions), version),
        )
        return version

    def _skip(self, strategy_name, reason):
        self.last_result = {"status": "skipped", "strategy": strategy_name, "reason": reason}
        self._log("info", "策略 %s：%s" % (strategy_name, reason))
        return None

    def _fail(self, strategy_name, reason, status=None, attempts=0):
        self.last_result = {
            "status": "failed",
            "strategy": strategy_name,
            "reason": reason,
            "http_status": status,
            "attempts": attempts,
        }
        message = "策略 %s 持仓上传失败 / upload failed: %s" % (strategy_name, reason)
        self._log("error", message)
        if self.raise_errors:
            raise UploadError(message)
        return None

    # --- resources -------------------------------------------------------------------------
    def _requests_session(self):
        if self._session is None:
            import requests

            self._session = requests.Session()
        return self._session

    def _private_key(self):
        if not self.api_url or not self.client_id:
            raise ValueError(
                "未配置 API_URL 或 CLIENT_ID：jq_config.py 是否已上传到研究根目录？/ "
                "API_URL or CLIENT_ID not set: is jq_config.py in the research root?"
            )
        if self.upload_token:
            return None
        if self._key is None:
            pem = self._private_key_pem or self._read_key_file(self.private_key_file)
            self._key = signing.load_private_key(pem)
        return self._key

    def _read_key_file(self, name):
        """JoinQuant research file first, then the disk (absolute, beside the files, cwd)."""
        if not os.path.isabs(name):
            try:
                from kuanke.user_space_api import read_file
            except ImportError:
                read_file = None
            if read_file is not None:
                try:
                    return read_file(name)
                except Exception:
                    pass
        candidates = (
            [name]
            if os.path.isabs(name)
            else [os.path.join(d, name) for d in self._key_search_dirs()]
        )
        for path in candidates:
            if os.path.isfile(path):
                with open(path, "rb") as fh:
                    return fh.read()
        raise IOError("找不到私钥文件 / private key file not found: %s" % name)

    def _key_search_dirs(self):
        dirs = list(self.key_dirs)
        config_module = sys.modules.get("jq_config")
        if getattr(config_module, "__file__", None):
            dirs.append(os.path.dirname(os.path.abspath(config_module.__file__)))
        dirs.append(os.getcwd())
        return dirs

    def _platform_function(self, name):
        """A JoinQuant function given as an option, or from the strategy API module."""
        func = self._platform.get(name)
        if func is not None:
            return func
        for module_name in ("kuanke.user_space_api", "jqdata"):
            module = sys.modules.get(module_name)
            if module is None:
                try:
                    module = importlib.import_module(module_name)
                except ImportError:
                    continue
            func = getattr(module, name, None)
            if func is not None:
                return func
        return None

    def _log(self, level, message):
        log = self._platform_function("log")
        text = LOG_PREFIX + message
        if log is None:
            print(text)
            return
        method = getattr(log, level, None) or getattr(log, "warning", None) or log.info
        try:
            method(text)
        except Exception:
            print(text)


# --- plain helpers ------------------------------------------------------------------------


def _select_portfolio(context, subportfolio):
    if subportfolio is None:
        return context.portfolio
    if isinstance(subportfolio, int):
        return context.subportfolios[subportfolio]
    return subportfolio


def _holding(pos):
    """Shares held: JoinQuant's ``total_amount`` leaves out the shares frozen by open sell
    orders (``locked_amount``), which are still held until the sell fills. Objects
    without ``locked_amount`` count as having none locked."""
    return int(getattr(pos, "total_amount", 0) or 0) + int(getattr(pos, "locked_amount", 0) or 0)


def _number(value):
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise ValueError("not a finite number: %r" % (value,))
    return number


def _clean_positions(positions):
    rows = []
    for item in positions:
        row = {
            "code": str(item["code"]),
            "volume": int(item["volume"]),
            "cost": round(_number(item.get("cost", 0.0)), 4),
        }
        if item.get("name"):
            row["name"] = str(item["name"])
        rows.append(row)
    return rows


def _fingerprint(positions):
    rows = sorted((r["code"], r["volume"], r["cost"]) for r in positions)
    return hashlib.sha256(json.dumps(rows).encode("utf-8")).hexdigest()


def _iso_time(value):
    """The strategy clock (Beijing time, naive on JoinQuant) as ISO 8601 with offset."""
    if value is None:
        return None
    text = value.isoformat()
    if getattr(value, "tzinfo", None) is None:
        text += "+08:00"
    return text


def _server_reason(response):
    """The server's JSON error reason (``{"error": {"code", "field", "message"}}``)."""
    try:
        data = response.json()
    except ValueError:
        return (response.text or "").strip()[:200]
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        parts = [str(error[k]) for k in ("code", "field") if error.get(k)]
        label = "[%s] " % " ".join(parts) if parts else ""
        return label + str(error.get("message", ""))
    if isinstance(data, dict) and data.get("detail"):
        return str(data["detail"])[:200]
    return json.dumps(data, ensure_ascii=False)[:200]
