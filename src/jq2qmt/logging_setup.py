"""Logging for server and follower processes: one line per event, rotated files.

Lines look like ``2026-11-25T05:31:00.123Z INFO jq2qmt.access event=request
method=GET route=/api/v1/accounts/{account_id}/plan status=304 ms=1.2``; newlines in
a message are escaped so one event is always one line. Files live in
``<instance>/logs/jq2qmt.log``, rotated at 10 MB, 5 kept.

Secrets never reach a log file: a filter masks anything that looks like a bearer
token, a password field, a signature header or a webhook key/secret, whatever
logger produced it. uvicorn's console access log (``access_log_config``) shows the
query string's names with every value masked (``?password=***&wait=***``): a
secret sent in a query string is refused by the API, and must not be kept by the
log either.
"""

import copy
import logging
import logging.handlers
import re
import time
from pathlib import Path

from jq2qmt.config import open_private, restrict_dir

LOG_DIR = "logs"
LOG_FILE = "jq2qmt.log"
MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5

_SECRET_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(
        r"(?i)((?:password|passwd|secret|token|sign|signature|access_token|key|sendkey)"
        r"[\"']?\s*[=:]\s*[\"']?)[^\s&\"',;]+"
    ),
    re.compile(r"(?i)(x-internal-password[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]+"),
    re.compile(r"(https?://sctapi\.ftqq\.com/)[^/\s]+"),
    re.compile(r"(/open-apis/bot/v2/hook/)[^\s?\"']+"),
)


def redact(text):
    """`text` with token, password, signature and webhook-key values masked."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "***", text)
    return text


class RedactingFormatter(logging.Formatter):
    """UTC ISO time, level, logger, message — one line, secrets masked."""

    converter = time.gmtime

    def format(self, record):
        line = logging.Formatter.format(self, record)
        return redact(line).replace("\r", "\\r").replace("\n", "\\n")

    def formatTime(self, record, datefmt=None):
        return (
            time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(record.created))
            + ".%03dZ" % record.msecs
        )


def mask_query(target):
    """`target` (path with optional query) with each query value replaced by ``***``.

    A parameter without ``=`` is masked whole, as it may itself be a secret.
    """
    path, sep, query = target.partition("?")
    if not sep:
        return target
    parts = []
    for part in query.split("&"):
        name, eq, value = part.partition("=")
        if eq:
            parts.append(name + "=" + ("***" if value else ""))
        else:
            parts.append("***" if part else "")
    return path + "?" + "&".join(parts)


class AccessQueryFilter(logging.Filter):
    """Masks query values in uvicorn access records (args: client, method, target, version, status)."""

    def filter(self, record):
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = args[:2] + (mask_query(args[2]),) + args[3:]
        return True


def access_log_config():
    """uvicorn's default ``log_config`` with query values masked in the access log."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["jq2qmt_mask_query"] = {
        "()": "jq2qmt.logging_setup.AccessQueryFilter"
    }
    for name in ("uvicorn.access",):
        config["loggers"].setdefault(name, {}).setdefault("filters", []).append("jq2qmt_mask_query")
    config["handlers"]["access"].setdefault("filters", []).append("jq2qmt_mask_query")
    return config


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log file readable by its owner only (0600), also after rotation."""

    def _open(self):
        return open_private(
            self.baseFilename, self.mode, encoding=self.encoding, errors=self.errors
        )


def setup_logging(instance_dir, level="info", console=True):
    """Send the `jq2qmt` loggers to <instance>/logs/jq2qmt.log (rotated) and stderr.

    Safe to call twice: handlers this function added before are replaced.
    Returns the log file path.
    """
    folder = Path(instance_dir) / LOG_DIR
    restrict_dir(folder)  # 0700: logs hold addresses, names and tracebacks
    path = folder / LOG_FILE
    formatter = RedactingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    logger = logging.getLogger("jq2qmt")
    for handler in list(logger.handlers):
        if getattr(handler, "_jq2qmt", False):
            logger.removeHandler(handler)
            handler.close()
    handlers = [
        PrivateRotatingFileHandler(
            str(path), maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True
        )
    ]
    if console:
        handlers.append(logging.StreamHandler())
    for handler in handlers:
        handler._jq2qmt = True
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    logger.setLevel(getattr(logging, str(level).upper(), logging.INFO))
    logger.propagate = False
    return path
