"""The bundler: exported files load the package's own modules, standalone."""

import subprocess
import sys

from jq2qmt.clients import bundle


def _write_bundle(tmp_path, modules, tail, encoding="utf-8"):
    text = "# coding: %s\n" % encoding + bundle.bundle(modules, encoding=encoding) + tail
    path = tmp_path / "exported.py"
    path.write_bytes(text.encode(encoding))
    return path


def test_bundled_module_loads_under_private_package(tmp_path):
    tail = (
        "import _jq2qmt.signing as s\n"
        "print(type(s.__spec__.loader).__name__)\n"
        "print(s.body_digest(b'abc'))\n"
    )
    path = _write_bundle(tmp_path, ["jq2qmt.signing"], tail)
    out = subprocess.run([sys.executable, "-I", str(path)], capture_output=True, text=True, check=True)
    loader, digest = out.stdout.split()
    assert loader == "_Jq2qmtBundleFinder"
    assert digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_gbk_file_keeps_chinese_text(tmp_path):
    tail = "import _jq2qmt.cli\nimport _jq2qmt\nprint(_jq2qmt.__path__ == [])\n"
    path = _write_bundle(tmp_path, ["jq2qmt.signing"], tail, encoding="gbk")
    path.read_bytes().decode("gbk")
    out = subprocess.run([sys.executable, "-I", str(path)], capture_output=True, text=True)
    # jq2qmt.cli was not bundled, so it must not be importable from the bundle.
    assert out.returncode != 0 and "_jq2qmt.cli" in out.stderr


def test_literal_falls_back_for_unencodable_or_quoted_source():
    for source in ["x = '''a'''\n", "emoji = '\U0001F600'\n", "s = 'a\\\\'\n", "t = 'q'"]:
        literal = bundle._literal(source, "gbk")
        literal.encode("gbk")
        assert eval(literal) == source


def test_only_package_modules_can_be_bundled():
    try:
        bundle.bundled_name("requests")
    except ValueError as exc:
        assert "jq2qmt" in str(exc)
    else:
        raise AssertionError("bundling a foreign module must fail")


def test_bundle_output_is_python36(tmp_path):
    path = _write_bundle(tmp_path, ["jq2qmt.signing"], "import _jq2qmt.signing\n")
    assert bundle.py36_violations([path]) == ""


def test_py36_check_can_fail(tmp_path):
    newer = tmp_path / "walrus.py"
    newer.write_text("if (n := 3):\n    pass\n")
    assert "3.8" in bundle.py36_violations([newer])
