"""The bundler: exported files load the package's own modules, standalone."""

import subprocess
import sys

import pytest

from jq2qmt.clients import bundle


def _write_bundle(tmp_path, modules, tail, encoding="utf-8"):
    text = "# coding: %s\n" % encoding + bundle.bundle(modules, encoding=encoding) + tail
    path = tmp_path / "exported.py"
    path.write_bytes(text.encode(encoding))
    return path


def test_bundled_modules_are_loaded_when_the_file_runs(tmp_path):
    # every module is in sys.modules before the tail runs, and no import hook is left
    # behind (an import whitelist would refuse later imports, a hook could clash)
    tail = (
        "import sys\n"
        "hooks = [type(f).__name__ for f in sys.meta_path if 'jq2qmt' in type(f).__name__]\n"
        "print(sorted(n for n in sys.modules if n.startswith('_jq2qmt')), hooks)\n"
        "print(_jq2qmt_modules['_jq2qmt.signing'].body_digest(b'abc'))\n"
    )
    path = _write_bundle(tmp_path, ["jq2qmt.signing"], tail)
    out = subprocess.run(
        [sys.executable, "-I", str(path)], capture_output=True, text=True, check=True
    )
    loaded, digest = out.stdout.splitlines()
    assert loaded == "['_jq2qmt', '_jq2qmt.signing'] []"
    assert digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_modules_load_after_what_they_import():
    sources = {
        "_jq2qmt.a.x": "from . import y\nfrom ..b import z\n",
        "_jq2qmt.a.y": "",
        "_jq2qmt.b.z": "from ..a import y\n",
    }
    assert bundle.load_order(sources) == ["_jq2qmt.a.y", "_jq2qmt.b.z", "_jq2qmt.a.x"]
    sources["_jq2qmt.a.y"] = "from .x import f\n"
    with pytest.raises(ValueError, match="import cycle"):
        bundle.load_order(sources)


def test_gbk_file_keeps_chinese_text(tmp_path):
    tail = "import _jq2qmt.cli\nimport _jq2qmt\nprint(_jq2qmt.__path__ == [])\n"
    path = _write_bundle(tmp_path, ["jq2qmt.signing"], tail, encoding="gbk")
    path.read_bytes().decode("gbk")
    out = subprocess.run([sys.executable, "-I", str(path)], capture_output=True, text=True)
    # jq2qmt.cli was not bundled, so it must not be importable from the bundle.
    assert out.returncode != 0 and "_jq2qmt.cli" in out.stderr


def test_literal_falls_back_for_unencodable_or_quoted_source():
    for source in ["x = '''a'''\n", "emoji = '\U0001f600'\n", "s = 'a\\\\'\n", "t = 'q'"]:
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
