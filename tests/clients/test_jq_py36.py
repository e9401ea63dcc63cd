"""The exported JoinQuant uploader on CPython 3.6, JoinQuant's Python.

JoinQuant does not publish its library versions, so the files from `jq2qmt export jq`
run under the oldest and the newest `cryptography`/`requests` pair that installs on
Python 3.6 (CI builds one virtualenv per pair: JQ2QMT_PY36_JQ_OLD, JQ2QMT_PY36_JQ_NEW;
see .ci/run), inside the package's JoinQuant simulator, and upload to a live jq2qmt
server. Without the variables these tests skip; with JQ2QMT_TEST_REQUIRE_PY36=1 they fail.
"""

import json
import subprocess

import pytest
import requests
from click.testing import CliRunner

import testkit
from jq2qmt.cli import main
from jq2qmt.clients import bundle
from jq2qmt.sim import joinquant

# variable -> (cryptography, requests) installed in that 3.6 virtualenv by .ci/run
LIBRARY_SETS = {
    "JQ2QMT_PY36_JQ_OLD": ("3.0", "2.18.4"),
    "JQ2QMT_PY36_JQ_NEW": ("40.0.2", "2.27.1"),
}

# Runs under CPython 3.6: the simulator file is loaded by path (the package itself
# needs a newer Python), the exported uploader is imported from the research root.
HARNESS = r"""
import importlib.util
import json
import sys
import warnings

warnings.simplefilter("ignore")  # cryptography 40 warns that it deprecates Python 3.6
sim_path, research, name = sys.argv[1:4]
spec = importlib.util.spec_from_file_location("jq_sim", sim_path)
jq = importlib.util.module_from_spec(spec)
sys.modules["jq_sim"] = jq
spec.loader.exec_module(jq)

result = {"python": list(sys.version_info[:3])}
for lib in ("cryptography", "requests"):
    try:
        result[lib] = __import__(lib).__version__
    except ImportError:
        result[lib] = None
sim = jq.JoinQuantSim(prices={"600000.XSHG": 10.0, "000001.XSHE": 12.5}, research_dir=research)
with sim.installed():
    from jq_qmt_api import JQQMTAPI

    api = JQQMTAPI()
    sim.order_target("600000.XSHG", 1000)
    sim.order_target("000001.XSHE", 500)
    sim.run_day()
    sim.order("600000.XSHG", -400, jq.LimitOrderStyle(11.0))  # above the price: stays open
    pos = sim.context.portfolio.positions["600000.XSHG"]
    result["amounts"] = [pos.total_amount, pos.locked_amount, pos.closeable_amount]
    result["versions"] = [api.sync_portfolio(sim.context, name)]
    sim.set_price("600000.XSHG", 11.0)  # the sell fills
    result["versions"].append(api.sync_portfolio(sim.context, name))
result["log"] = sim.log.records
print(json.dumps(result))
"""


def _export(tmp_path, server, *extra):
    out = tmp_path / "research"
    result = CliRunner().invoke(
        main,
        [
            "export",
            "jq",
            "--instance",
            str(server.instance.path),
            "--out",
            str(out),
            "--url",
            server.url,
        ]
        + list(extra),
    )
    assert result.exit_code == 0, result.output
    return out


def _run_harness(python, tmp_path, research, name):
    script = tmp_path / "harness.py"
    script.write_text(HARNESS, encoding="utf-8")
    run = subprocess.run(
        [python, str(script), joinquant.__file__, str(research), name],
        cwd=str(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def _stored(server, name, version):
    token = server.instance.reader_token()
    response = requests.get(
        "%s/api/v1/strategies/%s/versions/%d" % (server.url, name, version),
        headers={"Authorization": "Bearer " + token},
        timeout=10,
    )
    response.raise_for_status()
    return dict((p["code"], p["volume"]) for p in response.json()["positions"])


@pytest.mark.parametrize("key_kind", ["rsa", "ed25519"])
@pytest.mark.parametrize("library_set", sorted(LIBRARY_SETS))
def test_exported_uploader_on_python36_uploads_held_shares(
    tmp_path, live_server_factory, library_set, key_kind
):
    python = testkit.py36_python(library_set)
    if key_kind == "rsa":
        server = live_server_factory()
    else:
        server = live_server_factory(client_kind="ed25519", jq_private_key_pem=None)
    research = _export(tmp_path, server)
    with open(str(research / "jq_config.py"), "a", encoding="utf-8") as fh:
        fh.write("SKIP_WHEN_OPEN_ORDERS = False\n")  # upload while the sell is still open
    name = "py36-%s" % key_kind
    result = _run_harness(python, tmp_path, research, name)
    assert result["python"][:2] == [3, 6]
    assert (result["cryptography"], result["requests"]) == LIBRARY_SETS[library_set]
    errors = [text for level, text in result["log"] if level == "error"]
    assert result["versions"] == [1, 2], errors
    assert result["amounts"] == [600, 400, 600]  # JoinQuant's total_amount leaves out locked shares
    assert _stored(server, name, 1) == {"600000.SH": 1000, "000001.SZ": 500}
    assert _stored(server, name, 2) == {"600000.SH": 600, "000001.SZ": 500}


def test_bundled_sources_are_python36(tmp_path, live_server):
    research = _export(tmp_path, live_server)
    api_file = research / "jq_qmt_api.py"
    sources = bundle.extract_sources(api_file)
    assert sorted(sources) == ["_jq2qmt.clients.jq_api", "_jq2qmt.signing"]
    for name, source in sources.items():
        assert source == bundle.module_path("jq2qmt" + name[len("_jq2qmt") :]).read_text(
            encoding="utf-8"
        )
    assert bundle.py36_violations_of_bundle(api_file, tmp_path / "extracted") == ""
    # vermin reads syntax only; the real 3.6 compiler is the final word.
    python = testkit.py36_python()
    check = (
        "import sys\nfor path in sys.argv[1:]:\n"
        "    compile(open(path, encoding='utf-8').read(), path, 'exec')\n"
    )
    files = [str(api_file)] + sorted(str(p) for p in (tmp_path / "extracted").glob("*.py"))
    run = subprocess.run(
        [python, "-c", check] + files,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("client_kind, missing", [("rsa", "cryptography"), ("token", "requests")])
def test_bare_python36_imports_the_file_and_logs_the_missing_library(
    tmp_path, live_server_factory, client_kind, missing
):
    # A 3.6 without site-packages (-S) has neither library: importing the file needs only
    # the standard library; an upload fails softly and its log line names what is missing.
    python = testkit.py36_python()
    server = live_server_factory(client_kind=client_kind)
    extra = ["--upload-token", server.instance.upload_token] if client_kind == "token" else []
    research = _export(tmp_path, server, *extra)
    script = (
        "from jq_qmt_api import JQQMTAPI\n"
        "print(JQQMTAPI().update_positions('S', [{'code': '600000.XSHG', 'volume': 100, 'cost': 9.5}]))\n"
    )
    run = subprocess.run(
        [python, "-S", "-c", script],
        cwd=str(research),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert lines[-1] == "None"
    assert "上传失败" in lines[-2] and "No module named '%s'" % missing in lines[-2]
