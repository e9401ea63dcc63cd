"""A client written only from the signature's description in docs/api.md (it does not
import jq2qmt) is accepted by a real server, and its replay is refused; the example
client printed there runs as written."""

import re
import subprocess
import sys
from pathlib import Path

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"

# Follows the section "签名上传（JQ2QMT-SIG-V1）" of docs/api.md only: stdlib + cryptography.
INDEPENDENT_CLIENT = r"""
import base64, hashlib, json, os, sys, time, urllib.error, urllib.request
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

url, key_file, client = sys.argv[1], sys.argv[2], sys.argv[3]
key = serialization.load_pem_private_key(open(key_file, "rb").read(), password=None)
body = json.dumps({"strategy_name": "readme", "positions": [{"code": "000001.XSHE", "volume": 300, "cost": 9.5}]}).encode()
path = "/api/v1/positions/update"
timestamp = str(int(time.time()))
nonce = base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
lines = ["JQ2QMT-SIG-V1", "POST", path, timestamp, nonce, hashlib.sha256(body).hexdigest()]
signature = key.sign("\n".join(lines).encode("utf-8"),
                     padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
headers = {"Content-Type": "application/json", "X-JQ2QMT-Client": client, "X-JQ2QMT-Timestamp": timestamp,
           "X-JQ2QMT-Nonce": nonce, "X-JQ2QMT-Signature": base64.b64encode(signature).decode()}
for attempt in ("first", "replay"):
    request = urllib.request.Request(url + path, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request) as response:
            print(attempt, response.status, response.read().decode())
    except urllib.error.HTTPError as error:
        print(attempt, error.code, error.read().decode())
"""


def test_independent_client_is_accepted_and_its_replay_refused(live_server, tmp_path):
    instance = live_server.instance
    script = tmp_path / "client.py"
    script.write_text(INDEPENDENT_CLIENT, encoding="utf-8")
    output = subprocess.run(
        [
            sys.executable,
            str(script),
            live_server.url,
            str(instance.jq_private_key_path),
            instance.jq_client_id,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    first, replay = output.strip().splitlines()
    assert first.startswith("first 200 ") and '"version":1' in first.replace(" ", "")
    assert replay.startswith("replay 401 ") and "nonce_reused" in replay


def test_the_documented_example_client_runs_as_written(live_server, tmp_path):
    text = API_DOC.read_text(encoding="utf-8")
    section = text[text.index("\n## 签名上传") : text.index("\n## 持仓与策略")]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "import jq2qmt" not in code and "from jq2qmt" not in code
    code = code.replace(
        '"joinquant_private.pem"', repr(str(live_server.instance.jq_private_key_path))
    )
    code = code.replace('"https://你的服务器"', repr(live_server.url))
    script = tmp_path / "documented_example.py"
    script.write_text(code, encoding="utf-8")
    output = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "'success': True" in output and "'version': 1" in output
