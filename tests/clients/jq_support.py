"""Shared pieces for the JoinQuant-side tests (their fixtures: tests/clients/conftest.py).

- `KeyPair`: a real RSA key pair written to disk, as an instance holds one.
- `UploadServer`: a small real HTTP server that checks each upload's signature with
  `jq2qmt.signing` and answers from a script of responses (status, JSON body) or hangs.
- `HangingServer`: accepts connections and never answers (a "slow" server).
- `exported_files`: runs the real exporter into a folder for a given URL.
"""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from jq2qmt import config, signing
from jq2qmt.clients import export_jq


class KeyPair:
    _cached = None

    def __init__(self):
        if KeyPair._cached is None:
            KeyPair._cached = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private = KeyPair._cached
        self.private_pem = self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self.public = self.private.public_key()

    def write(self, folder):
        path = Path(folder) / "joinquant_private.pem"
        path.write_bytes(self.private_pem)
        return path


class UploadServer:
    """Records uploads; answers each one with the next scripted response."""

    def __init__(self, public_key, client_id="jq-test"):
        self.public_key = public_key
        self.client_id = client_id
        self.requests = []
        self.script = []
        self.release = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                owner._handle(self, body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def _handle(self, handler, body):
        h = handler.headers
        message = signing.canonical_string(
            "POST",
            handler.path,
            h.get(signing.HEADER_TIMESTAMP, ""),
            h.get(signing.HEADER_NONCE, ""),
            body,
        )
        import base64

        valid = h.get(signing.HEADER_CLIENT) == self.client_id and signing.verify_message(
            self.public_key, message, base64.b64decode(h.get(signing.HEADER_SIGNATURE, ""))
        )
        record = {
            "path": handler.path,
            "headers": dict(h),
            "body": body,
            "valid": valid,
            "json": json.loads(body.decode("utf-8")),
        }
        self.requests.append(record)
        status, payload = (
            self.script.pop(0) if self.script else (200, {"version": len(self.requests)})
        )
        if not valid:
            status, payload = (
                401,
                {
                    "error": {
                        "code": "bad_signature",
                        "field": None,
                        "message": "签名无效 / bad signature",
                    }
                },
            )
        data = json.dumps(payload).encode("utf-8")
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class HangingServer:
    """Accepts TCP connections and never sends a byte back."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.accepted = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self):
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def closed_port_url():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return "http://127.0.0.1:%d" % port


def exported_files(folder, url, key_path, client_id="jq-test"):
    """Run the real exporter for an instance whose key is `key_path`."""
    settings = config.build_settings(
        Path(folder) / "instance",
        {"public_url": url, "jq_client_id": client_id, "jq_private_key_path": key_path},
    )
    return export_jq.export_jq(settings, Path(folder) / "research")


def set_config(research_dir, **values):
    """Append overrides to the exported jq_config.py, as a user would edit it."""
    path = Path(research_dir) / "jq_config.py"
    with open(str(path), "a", encoding="utf-8") as fh:
        for name, value in values.items():
            fh.write("%s = %r\n" % (name, value))
