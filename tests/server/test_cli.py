"""CLI: init, serve (first run, schema check), db, keys, token, password."""

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from jq2qmt.cli import main
from jq2qmt.config import load_settings
from jq2qmt.store import migrate
from jq2qmt.store.db import Database

ROOT = Path(__file__).resolve().parents[2]


def run(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def test_every_command_has_bilingual_help():
    for command in ("init", "serve", "db", "keys", "token", "password"):
        result = run(command, "--help")
        assert result.exit_code == 0
        assert re.search(r"[\u4e00-\u9fff]", result.output) and " / " in result.output


def test_init_non_interactive_writes_a_working_instance(tmp_path):
    folder = tmp_path / "inst"
    result = run(
        "init",
        "--instance",
        str(folder),
        "--non-interactive",
        "--public-host",
        "203.0.113.5",
        "--public-port",
        "80",
        "--port",
        "6000",
    )
    assert result.exit_code == 0, result.output
    settings = load_settings(folder)
    assert (settings.port, settings.public_url) == (6000, "http://203.0.113.5")
    password = re.search(r"\n\s+(\S{20})\n", result.output).group(1)
    for path in (settings.config_path, settings.secret_key_path, settings.jq_private_key_path):
        assert str(path) in result.output
        if os.name == "posix":
            assert path.stat().st_mode & 0o777 == 0o600
    assert password not in settings.config_path.read_text(encoding="utf-8")
    again = run("init", "--instance", str(folder), "--non-interactive")
    assert again.exit_code == 1 and "--force" in again.output


def test_init_interactive_prompts(tmp_path):
    folder = tmp_path / "inst"
    answers = "\n".join(
        [
            "sqlite",
            "127.0.0.1",
            "5366",
            "example.org",
            "443",
            "jq",
            "ed25519",
            "a-good-admin-pw",
            "",
        ]
    )
    result = run("init", "--instance", str(folder), input=answers)
    assert result.exit_code == 0, result.output
    settings = load_settings(folder)
    assert (settings.host, settings.public_url, settings.jq_client_id) == (
        "127.0.0.1",
        "http://example.org:443",
        "jq",
    )
    assert "ed25519" in result.output and "a-good-admin-pw" not in result.output


def test_init_checks_the_database_before_writing(tmp_path):
    folder = tmp_path / "inst"
    result = run(
        "init",
        "--instance",
        str(folder),
        "--non-interactive",
        "--db-type",
        "mysql",
        "--db-host",
        "127.0.0.1",
        "--db-port",
        "1",
        "--db-user",
        "u",
        "--db-name",
        "x",
    )
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and len(result.output.strip().splitlines()) == 1
    assert not folder.exists()


def test_init_rejects_a_weak_admin_password(tmp_path):
    result = run(
        "init", "--instance", str(tmp_path / "i"), "--non-interactive", "--admin-password", "123"
    )
    assert result.exit_code == 1 and not (tmp_path / "i").exists()


@pytest.fixture
def folder(tmp_path):
    folder = tmp_path / "inst"
    assert run("init", "--instance", str(folder), "--non-interactive").exit_code == 0
    return folder


def test_db_current_and_upgrade(folder):
    settings = load_settings(folder)
    db = Database(settings.database_url)
    migrate.downgrade(db.engine, "base")
    behind = run("db", "current", "--instance", str(folder))
    assert "(empty)" in behind.output and "jq2qmt db upgrade" in behind.output
    refused = run("serve", "--instance", str(folder))
    assert refused.exit_code == 1 and "jq2qmt db upgrade" in refused.output
    assert "upgraded" in run("db", "upgrade", "--instance", str(folder)).output
    assert "up to date" in run("db", "current", "--instance", str(folder)).output
    db.dispose()


def test_keys_commands(folder, tmp_path):
    from jq2qmt.instance import generate_key_pair

    public = tmp_path / "pub.pem"
    public.write_bytes(generate_key_pair("ed25519")[1])
    assert (
        run(
            "keys", "add-client", "mine", "--public-key", str(public), "--instance", str(folder)
        ).exit_code
        == 0
    )
    duplicate = run(
        "keys", "add-client", "mine", "--public-key", str(public), "--instance", str(folder)
    )
    assert duplicate.exit_code == 1
    generated = run("keys", "generate", "second", "--instance", str(folder))
    assert generated.exit_code == 0 and (folder / "keys" / "second_private.pem").exists()
    token = run("keys", "generate", "plain", "--type", "token", "--instance", str(folder))
    assert re.search(r"jq2qmt_[A-Za-z0-9_-]{40,}", token.output)
    assert run("keys", "revoke", "mine", "--instance", str(folder)).exit_code == 0
    listing = run("keys", "list", "--instance", str(folder)).output
    assert re.search(r"mine\s+ed25519.*revoked", listing) and re.search(
        r"plain\s+token.*active", listing
    )
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    failed = run("keys", "add-client", "x", "--public-key", str(bad), "--instance", str(folder))
    assert failed.exit_code == 1 and "PEM" in failed.output


def test_token_commands_and_the_token_works(folder):
    from fastapi.testclient import TestClient

    from jq2qmt.server.app import create_app

    created = run("token", "create", "viewer", "--scope", "read", "--instance", str(folder))
    token = re.search(r"jq2qmt_\S+", created.output).group(0)
    with TestClient(create_app(load_settings(folder))) as client:
        assert (
            client.get(
                "/api/v1/positions/all", headers={"Authorization": "Bearer " + token}
            ).status_code
            == 200
        )
        assert token not in run("token", "list", "--instance", str(folder)).output
        assert run("token", "revoke", "viewer", "--instance", str(folder)).exit_code == 0
        assert (
            client.get(
                "/api/v1/positions/all", headers={"Authorization": "Bearer " + token}
            ).status_code
            == 401
        )
    assert run("token", "revoke", "viewer", "--instance", str(folder)).exit_code == 1
    assert run("token", "create", "x", "--scope", "write", "--instance", str(folder)).exit_code == 2


def test_password_set(folder):
    from fastapi.testclient import TestClient

    from jq2qmt.server.app import create_app

    assert (
        run(
            "password", "set", "--password-stdin", "--instance", str(folder), input="short\n"
        ).exit_code
        == 1
    )
    assert (
        run(
            "password",
            "set",
            "--password-stdin",
            "--instance",
            str(folder),
            input="new-admin-pass-1\n",
        ).exit_code
        == 0
    )
    with TestClient(create_app(load_settings(folder))) as client:
        ok = client.get(
            "/api/v1/internal/password/info", headers={"X-Internal-Password": "new-admin-pass-1"}
        )
        assert ok.status_code == 200


def test_missing_instance_is_one_clear_line(tmp_path):
    result = run("token", "list", "--instance", str(tmp_path / "nope"))
    assert result.exit_code == 1 and "jq2qmt init" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_init_project_alias_runs_init(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "init_project.py"),
            "--instance",
            str(tmp_path / "i"),
            "--non-interactive",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "i" / "jq2qmt.ini").exists()


def _free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _read_until_running(process):
    """Output lines of a starting server up to uvicorn's "running" line (or its exit)."""
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "Uvicorn running on" in line:
            break
    return "".join(lines)


def test_serve_first_run_creates_the_instance_and_serves(tmp_path):
    """`jq2qmt serve` in an empty folder: instance created and migrated, admin
    password printed once, server healthy."""
    port = _free_port()
    env = dict(os.environ)
    env.pop("JQ2QMT_DATABASE_URL", None)
    env.pop("JQ2QMT_INSTANCE", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "jq2qmt", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=str(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        output = _read_until_running(process)
        assert (
            httpx.get("http://127.0.0.1:%d/healthz" % port, timeout=10).json()["status"] == "ok"
        ), output
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert "admin password" in output
    password = re.search(r"\n\s+(\S{20})\n", output).group(1)
    settings = load_settings(tmp_path / "jq2qmt-instance")
    db = Database(settings.database_url)
    from jq2qmt.store import credentials

    with db.read() as session:
        assert credentials.check_admin_password(session, password)
    db.dispose()


def _self_signed(tmp_path):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile


def test_serve_tls_directly(folder, tmp_path):
    certfile, keyfile = _self_signed(tmp_path)
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jq2qmt",
            "serve",
            "--instance",
            str(folder),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--certfile",
            str(certfile),
            "--keyfile",
            str(keyfile),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = _read_until_running(process)
        assert "https://" in output
        response = httpx.get("https://127.0.0.1:%d/healthz" % port, verify=False, timeout=10)
        assert response.json()["status"] == "ok"
    finally:
        process.terminate()
        process.communicate(timeout=30)
    only_cert = run("serve", "--instance", str(folder), "--certfile", str(certfile))
    assert only_cert.exit_code == 1 and "--keyfile" in only_cert.output
