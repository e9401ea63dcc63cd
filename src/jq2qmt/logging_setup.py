"""Logging for server and follower processes: one line per event, rotated files.

Lines look like ``2026-11-25T05:31:00.123Z INFO jq2qmt.access event=request
method=GET route=/api/v1/accounts/{account_id}/plan status=304 ms=1.2``; newlines in
a message are escaped so one event is always one line. Files live in
``<instance>/logs/jq2qmt.log``, rotated at 10 MB, 5 kept.

Secrets never reach a log file: a filter masks anything that looks like a bearer
token, a password field, a signature header or a webhook key/secret, whatever
logger produced it.
"""

import logging
import logging.handlers
import re
import time
from pathlib import Path

LOG_DIR = "logs"
LOG_FILE = "jq2qmt.log"
MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5

_SECRET_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)((?:password|passwd|secret|token|sign|signature|access_token|key|sendkey)"
               r"[\"']?\s*[=:]\s*[\"']?)[^\s&\"',;]+"),
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
        return time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(record.created)) + ".%03dZ" % record.msecs


def setup_logging(instance_dir, level="info", console=True):
    """Send the `jq2qmt` loggers to <instance>/logs/jq2qmt.log (rotated) and stderr.

    Safe to call twice: handlers this function added before are replaced.
    Returns the log file path.
    """
    folder = Path(instance_dir) / LOG_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOG_FILE
    formatter = RedactingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    logger = logging.getLogger("jq2qmt")
    for handler in list(logger.handlers):
        if getattr(handler, "_jq2qmt", False):
            logger.removeHandler(handler)
            handler.close()
    handlers = [logging.handlers.RotatingFileHandler(str(path), maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                                     encoding="utf-8", delay=True)]
    if console:
        handlers.append(logging.StreamHandler())
    for handler in handlers:
        handler._jq2qmt = True
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    logger.setLevel(getattr(logging, str(level).upper(), logging.INFO))
    logger.propagate = False
    return path
