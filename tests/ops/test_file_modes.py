"""Files that hold secrets or operational detail are owner-only whatever the umask:
`jq2qmt db dump` output (webhook secrets, the admin hash, account ids, history) 0600,
log files 0600 (also after rotation), the logs/ and keys/ folders 0700. POSIX only."""

import logging
import os
import stat

import pytest
from click.testing import CliRunner

from jq2qmt.cli import main

pytestmark = pytest.mark.skipif(
    os.name != "posix", reason="file modes are POSIX; Windows skips chmod"
)


def mode(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


@pytest.fixture
def open_umask():
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def dump(instance, path):
    result = CliRunner().invoke(
        main, ["db", "dump", str(path), "--instance", str(instance.path)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return path


def test_a_dump_is_owner_only_with_any_umask(db_url, instance, tmp_path, open_umask):
    from jq2qmt.notify.settings import set_channel

    set_channel(
        instance.db(),
        "ding",
        "dingtalk",
        {
            "url": "https://oapi.dingtalk.com/robot/send?access_token=SEC-TOKEN-xyz",
            "secret": "SEC-DINGTALK-SECRET-abc123",
        },
    )
    fresh = dump(instance, tmp_path / "fresh.jsonl")
    assert mode(fresh) == 0o600
    assert "SEC-DINGTALK-SECRET-abc123" in fresh.read_text(
        encoding="utf-8"
    )  # what makes it sensitive
    existing = tmp_path / "existing.jsonl"
    existing.write_text("old")
    os.chmod(str(existing), 0o666)
    assert mode(dump(instance, existing)) == 0o600


def test_log_files_and_folders_are_owner_only(tmp_path, open_umask, monkeypatch):
    from jq2qmt import logging_setup

    monkeypatch.setattr(logging_setup, "MAX_BYTES", 2000)
    folder = tmp_path / "inst"
    folder.mkdir()
    (folder / "logs").mkdir(mode=0o777)
    os.chmod(str(folder / "logs"), 0o777)
    path = logging_setup.setup_logging(folder, console=False)
    try:
        log = logging.getLogger("jq2qmt.test_file_modes")
        for index in range(40):  # past MAX_BYTES a few times: the file rotates
            log.warning("line %d %s", index, "x" * 100)
        assert mode(folder / "logs") == 0o700
        files = sorted((folder / "logs").iterdir())
        assert path in files and len(files) > 1
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        logger = logging.getLogger("jq2qmt")
        for handler in list(logger.handlers):
            if getattr(handler, "_jq2qmt", False):
                logger.removeHandler(handler)
                handler.close()
        logger.propagate = True  # setup_logging stops it; later tests read records via caplog
        logger.setLevel(logging.NOTSET)


def test_init_makes_the_keys_folder_owner_only(tmp_path, open_umask, rsa_private_pem):
    from jq2qmt.instance import init_instance

    result = init_instance(
        tmp_path / "inst", admin_password="Correct-Horse-2026", jq_private_key_pem=rsa_private_pem
    )
    keys = result.settings.jq_private_key_path.parent
    assert keys.name == "keys" and mode(keys) == 0o700
    assert mode(result.settings.jq_private_key_path) == 0o600
