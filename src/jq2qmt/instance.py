"""Create and initialise an instance folder: settings, keys, database, admin password.

`init_instance` is what `jq2qmt init`, the first run of `jq2qmt serve` and the test
fixtures use. It checks the database connection before writing anything.
"""

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from jq2qmt.config import (
    CONFIG_FILE,
    DEFAULT_CLIENT_ID,
    DEFAULT_HOST,
    DEFAULT_PORT,
    ConfigError,
    build_settings,
    restrict_dir,
    write_config_file,
    write_secret_bytes,
)


@dataclass
class InitResult:
    settings: object
    admin_password: Optional[str]  # the generated or given password; None if kept
    password_generated: bool
    written: list[Path]  # paths written, for the "what I wrote" summary
    client_kind: str = "rsa"
    upload_token: Optional[str] = None  # only in token mode, shown once


def generate_password():
    """A random admin password that is easy to type (20 URL-safe characters)."""
    return secrets.token_urlsafe(15)


def generate_key_pair(kind="rsa"):
    """(private PEM, public PEM) bytes for a new RSA-2048 or Ed25519 key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    private: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
    if kind == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


def public_pem_of(private_pem):
    from cryptography.hazmat.primitives import serialization

    from jq2qmt import signing

    key = signing.load_private_key(private_pem)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def check_database(database_url):
    """Raise `ConfigError` with one clear line if the database does not answer."""
    from jq2qmt.store.db import Database

    try:
        db = Database(database_url)
    except Exception as exc:
        hint = ""
        if isinstance(exc, ImportError) or type(exc).__name__ == "NoSuchModuleError":
            hint = "（请用 sqlite:///、mysql+pymysql://、postgresql+psycopg:// / use sqlite:///, mysql+pymysql://, postgresql+psycopg://）"
        raise ConfigError(
            "数据库地址无效 / invalid database URL: %s%s" % (type(exc).__name__, hint)
        )
    try:
        db.ping()
    except Exception as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
        raise ConfigError("无法连接数据库 / cannot connect to the database: %s" % reason)
    finally:
        db.dispose()


def open_instance(instance_dir=None, database_url=None):
    """(settings, Database) of an existing instance; `database_url` overrides its DB.

    Without an instance folder, a `database_url` alone is enough for database-only
    commands (the folder path is still used for key files).
    """
    from jq2qmt.config import default_instance_dir, load_settings
    from jq2qmt.store.db import Database

    folder = Path(instance_dir) if instance_dir else default_instance_dir()
    try:
        settings = load_settings(folder, database_url=database_url)
    except ConfigError:
        if not database_url and not _env_database_url():
            raise ConfigError(
                "找不到实例 %s，先运行 jq2qmt init / no instance at %s, run: jq2qmt init"
                % (folder, folder)
            )
        settings = build_settings(folder, {"database_url": database_url or _env_database_url()})
    try:
        return settings, Database(settings.database_url)
    except Exception as exc:
        raise ConfigError("数据库地址无效 / invalid database URL (%s)" % type(exc).__name__)


def _env_database_url():
    import os

    from jq2qmt.config import ENV_DATABASE_URL

    return os.environ.get(ENV_DATABASE_URL)


def schema_problem(db):
    """None when the database schema is current; else one line saying what to do."""
    from jq2qmt.store import migrate

    try:
        current = migrate.current_revision(db.engine)
    except Exception as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
        return "无法连接数据库 / cannot connect to the database: %s" % reason
    head = migrate.head_revision()
    if current == head:
        return None
    if not migrate.is_known(current):
        return (
            "数据库结构版本 %s 比这个 jq2qmt 新，请升级 jq2qmt / database schema %s is newer than this jq2qmt, "
            "upgrade jq2qmt" % (current, current)
        )
    return (
        "数据库结构版本 %s 落后于 %s，请运行：jq2qmt db upgrade / database schema %s is behind %s, run: "
        "jq2qmt db upgrade" % (current or "(空 empty)", head, current or "(empty)", head)
    )


def init_instance(
    path,
    database_url=None,
    host=DEFAULT_HOST,
    port=DEFAULT_PORT,
    public_url=None,
    admin_password=None,
    jq_client_id=DEFAULT_CLIENT_ID,
    client_kind="rsa",
    jq_private_key_pem=None,
    overwrite=False,
    migrate=True,
    **settings_values,
):
    """Create the instance folder at `path` and prepare its database.

    - writes jq2qmt.ini (0600), secret_key (0600), the client's key pair (private 0600);
    - migrates the database to the newest schema;
    - registers the JoinQuant client `jq_client_id` (RSA by default; ``client_kind=
      "token"`` registers a plain upload token instead, less safe);
    - sets the admin password (generated when not given, returned once).

    Refuses an existing instance unless `overwrite`. The database is checked first,
    so nothing is written when it does not answer.
    """
    path = Path(path).resolve()
    if (path / CONFIG_FILE).exists() and not overwrite:
        raise ConfigError("实例已存在 / instance already exists: %s" % path)
    values = dict(settings_values, host=host, port=int(port), jq_client_id=jq_client_id)
    if database_url:
        values["database_url"] = database_url
    if public_url:
        values["public_url"] = public_url
    settings = build_settings(path, values)
    if not _sqlite_inside(settings.database_url, path):
        check_database(settings.database_url)
    written = []
    path.mkdir(parents=True, exist_ok=True)
    write_config_file(settings.config_path, _file_settings(settings, database_url))
    written.append(settings.config_path)
    write_secret_bytes(settings.secret_key_path, secrets.token_hex(32).encode("ascii"))
    written.append(settings.secret_key_path)

    from jq2qmt.store import credentials
    from jq2qmt.store import migrate as migrations
    from jq2qmt.store.db import Database

    db = Database(settings.database_url)
    try:
        if migrate:
            migrations.upgrade(db.engine)
        upload_token = None
        if client_kind == "token":
            upload_token = _register_token_client(db, jq_client_id)
        else:
            written += _write_client_keys(db, settings, client_kind, jq_private_key_pem)
        generated = admin_password is None
        password = generate_password() if generated else admin_password
        credentials.set_admin_password(db, password)
    finally:
        db.dispose()
    _restrict_sqlite_file(settings.database_url)
    return InitResult(settings, password, generated, written, client_kind, upload_token)


def _sqlite_inside(database_url, folder):
    """True for a SQLite file inside the (maybe not yet created) instance folder."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        return False
    try:
        Path(url.database).resolve().relative_to(folder)
    except ValueError:
        return False
    return True


def _restrict_sqlite_file(database_url):
    """The SQLite file holds password and token hashes: owner-only, like the keys."""
    import os

    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and Path(url.database).exists():
        os.chmod(url.database, 0o600)


def _file_settings(settings, database_url):
    """What goes into jq2qmt.ini: a default SQLite URL is kept relative."""
    from dataclasses import replace

    if not database_url:
        return replace(settings, database_url="sqlite:///jq2qmt.sqlite3")
    return settings


def _write_client_keys(db, settings, kind, private_pem):
    from jq2qmt.store import credentials

    if private_pem is None:
        private_pem, public_pem = generate_key_pair(kind)
    else:
        public_pem = public_pem_of(private_pem)
    _replace_client(db, settings.jq_client_id)
    credentials.add_key_client(db, settings.jq_client_id, public_pem)
    private_path = settings.jq_private_key_path
    public_path = private_path.with_name(private_path.name.replace("_private", "_public"))
    if public_path == private_path:
        public_path = private_path.with_suffix(".pub.pem")
    write_secret_bytes(private_path, private_pem)
    if private_path.parent != settings.instance_dir:
        restrict_dir(private_path.parent)  # keys/: 0700
    public_path.write_bytes(public_pem)
    return [private_path, public_path]


def _register_token_client(db, name):
    from jq2qmt.store import credentials

    _replace_client(db, name)
    return credentials.add_token_client(db, name)


def _replace_client(db, name):
    """Re-running init on an existing database replaces that client's key."""
    from jq2qmt.store import credentials

    with db.read() as session:
        row = credentials.get_client(session, name)
        active = row is not None and row.revoked_at is None
    if active:
        credentials.revoke_client(db, name)
