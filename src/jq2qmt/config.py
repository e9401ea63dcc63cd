"""One Settings object for the server, read from the instance folder.

An instance folder holds everything one deployment needs::

    jq2qmt-instance/
      jq2qmt.ini                  settings (0600: may contain the database password)
      jq2qmt.sqlite3              the default database
      secret_key                  random key for web sessions (0600)
      keys/joinquant_private.pem  the JoinQuant client's private key (0600)
      keys/joinquant_public.pem

Precedence: keyword overrides > environment (``JQ2QMT_DATABASE_URL``) > jq2qmt.ini >
defaults. A relative SQLite path in the file is relative to the instance folder, so
the folder can be moved.
"""

import configparser
import io
import ipaddress
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Optional

from sqlalchemy.engine import make_url

CONFIG_FILE = "jq2qmt.ini"
DEFAULT_INSTANCE_DIR = "jq2qmt-instance"
DEFAULT_SQLITE_FILE = "jq2qmt.sqlite3"
DEFAULT_HOST = "0.0.0.0"
DEFAULT_PORT = 5366
DEFAULT_CLIENT_ID = "joinquant"
ENV_DATABASE_URL = "JQ2QMT_DATABASE_URL"
ENV_INSTANCE = "JQ2QMT_INSTANCE"

# ini section/option for each Settings field that lives in the file
_FILE_FIELDS = {
    "host": ("server", "host", str),
    "port": ("server", "port", int),
    "public_url": ("server", "public_url", str),
    "certfile": ("server", "certfile", str),
    "keyfile": ("server", "keyfile", str),
    "trusted_proxies": ("server", "trusted_proxies", str),
    "database_url": ("database", "url", str),
    "jq_client_id": ("security", "jq_client_id", str),
    "jq_private_key_path": ("security", "jq_private_key", str),
    "signature_window": ("security", "signature_window", int),
    "max_body_bytes": ("limits", "max_body_bytes", int),
    "max_positions": ("limits", "max_positions", int),
    # connection limits enforced by the server itself (server/transport.py)
    "max_header_bytes": ("limits", "max_header_bytes", int),
    "max_header_fields": ("limits", "max_header_fields", int),
    "max_request_line": ("limits", "max_request_line", int),
    "header_timeout": ("limits", "header_timeout", int),
    "body_timeout": ("limits", "body_timeout", int),
    "keep_alive_timeout": ("limits", "keep_alive_timeout", int),
    "max_connections": ("limits", "max_connections", int),
    "admin_max_failures": ("security", "admin_max_failures", int),
    "admin_failure_window": ("security", "admin_failure_window", int),
}


class ConfigError(Exception):
    """The instance folder or its settings are missing or invalid."""


@dataclass(frozen=True)
class Settings:
    instance_dir: Path
    database_url: str = ""
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    public_url: str = ""
    certfile: Optional[str] = None
    keyfile: Optional[str] = None
    # Peers (IP addresses or networks, comma-separated) whose X-Forwarded-For is
    # believed. Empty: the socket peer is the client (a direct deployment).
    trusted_proxies: str = ""
    jq_client_id: str = DEFAULT_CLIENT_ID
    jq_private_key_path: Optional[Path] = None
    signature_window: int = 300
    max_body_bytes: int = 1024 * 1024
    max_positions: int = 5000
    max_header_bytes: int = 16 * 1024
    max_header_fields: int = 100
    max_request_line: int = 8 * 1024
    header_timeout: int = 10
    body_timeout: int = 30
    keep_alive_timeout: int = 5
    max_connections: int = 500
    admin_max_failures: int = 10
    admin_failure_window: int = 300

    @property
    def config_path(self):
        return self.instance_dir / CONFIG_FILE

    @property
    def secret_key_path(self):
        return self.instance_dir / "secret_key"

    def secret_key(self):
        """The web-session signing key (bytes), or None if the file is missing."""
        try:
            return self.secret_key_path.read_bytes().strip()
        except FileNotFoundError:
            return None


def default_instance_dir():
    return Path(os.environ.get(ENV_INSTANCE) or DEFAULT_INSTANCE_DIR)


def default_database_url(instance_dir):
    return "sqlite:///" + (Path(instance_dir).resolve() / DEFAULT_SQLITE_FILE).as_posix()


def resolve_database_url(url, instance_dir):
    """Make a relative SQLite path absolute against the instance folder."""
    parsed = make_url(url)
    if (
        parsed.get_backend_name() != "sqlite"
        or not parsed.database
        or parsed.database == ":memory:"
    ):
        return url
    path = Path(parsed.database)
    if not path.is_absolute():
        path = Path(instance_dir).resolve() / path
    return parsed.set(database=path.as_posix()).render_as_string(hide_password=False)


def read_config_file(path):
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        raise ConfigError("配置文件不存在 / config file not found: %s" % path)
    except configparser.Error as exc:
        raise ConfigError("配置文件格式错误 / invalid config file %s: %s" % (path, exc.message))
    except UnicodeDecodeError:
        raise ConfigError("配置文件不是 UTF-8 文本 / config file is not UTF-8 text: %s" % path)
    values = {}
    for name, (section, option, kind) in _FILE_FIELDS.items():
        raw = parser.get(section, option, fallback="").strip()
        if raw == "":
            continue
        try:
            values[name] = kind(raw)
        except ValueError:
            raise ConfigError("配置项无效 / invalid value for [%s] %s: %r" % (section, option, raw))
    return values


def write_config_file(path, settings):
    """Write the file-backed fields of `settings` (mode 0600)."""
    parser = configparser.ConfigParser(interpolation=None)
    for name, (section, option, _kind) in _FILE_FIELDS.items():
        if not parser.has_section(section):
            parser.add_section(section)
        value = getattr(settings, name)
        if isinstance(value, Path):
            try:
                value = value.relative_to(settings.instance_dir).as_posix()
            except ValueError:
                value = value.as_posix()
        parser.set(section, option, "" if value is None else str(value))
    buffer = io.StringIO()
    buffer.write("# jq2qmt 实例配置 / instance settings (docs/operations.md: 配置)\n")
    parser.write(buffer)
    write_secret_bytes(Path(path), buffer.getvalue().encode("utf-8"))


def write_secret_bytes(path, data):
    """Create or replace a secret file readable by its owner only (0600).

    The file is created with 0600 before any byte is written, so the secret is
    never readable by others, even briefly. On Windows the mode is advisory.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(str(tmp), 0o600)
    os.replace(str(tmp), str(path))


def parse_trusted_proxies(text):
    """The networks of a ``trusted_proxies`` value ("10.0.0.5, 192.168.1.0/24");
    ValueError naming the entry that is not an IP address or network."""
    networks = []
    for entry in (text or "").replace(";", ",").split(","):
        entry = entry.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                "%r 不是 IP 地址或网段 / %r is not an IP address or network" % (entry, entry)
            )
    return tuple(networks)


def restrict_dir(path):
    """Make a folder owner-only (0700), creating it if needed. POSIX only: on
    Windows (or where chmod is refused) the folder is left as it is."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if os.name != "posix":
        return
    try:
        os.chmod(str(path), 0o700)
    except OSError:
        pass


def open_private(path, mode="w", **kwargs):
    """Open a file for writing that only its owner can read (0600), whatever the
    umask, including a file that already existed with a wider mode."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode.startswith("a") else os.O_TRUNC)
    fd = os.open(str(path), flags, 0o600)
    if os.name == "posix":
        try:
            os.fchmod(fd, 0o600)
        except OSError:
            pass
    return os.fdopen(fd, mode, **kwargs)


def load_settings(instance_dir=None, **overrides):
    """Settings of the instance at `instance_dir` (must have been initialised)."""
    instance_dir = Path(instance_dir) if instance_dir else default_instance_dir()
    instance_dir = instance_dir.resolve()
    values = read_config_file(instance_dir / CONFIG_FILE)
    env_url = os.environ.get(ENV_DATABASE_URL)
    if env_url:
        values["database_url"] = env_url
    values.update({k: v for k, v in overrides.items() if v is not None})
    return build_settings(instance_dir, values)


def build_settings(instance_dir, values):
    """Settings from a dict of field values, with defaults and paths resolved."""
    instance_dir = Path(instance_dir).resolve()
    known = {f.name for f in fields(Settings)}
    unknown = set(values) - known
    if unknown:
        raise TypeError("unknown settings: %s" % ", ".join(sorted(unknown)))
    settings = Settings(
        instance_dir=instance_dir, **{k: v for k, v in values.items() if k != "instance_dir"}
    )
    url = settings.database_url or default_database_url(instance_dir)
    try:
        url = resolve_database_url(url, instance_dir)
    except Exception:
        raise ConfigError("数据库地址无效 / invalid database URL")
    key_path = settings.jq_private_key_path or Path("keys") / (
        "%s_private.pem" % settings.jq_client_id
    )
    key_path = Path(key_path)
    if not key_path.is_absolute():
        key_path = instance_dir / key_path
    try:
        parse_trusted_proxies(settings.trusted_proxies)
    except ValueError as exc:
        raise ConfigError("配置项无效 / invalid value for [server] trusted_proxies: %s" % exc)
    public_url = settings.public_url or "http://127.0.0.1:%d" % settings.port
    return replace(
        settings,
        database_url=url,
        jq_private_key_path=key_path,
        public_url=public_url.rstrip("/"),
        certfile=settings.certfile or None,
        keyfile=settings.keyfile or None,
    )
