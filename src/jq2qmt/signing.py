"""Signed upload requests: the one definition shared by the server and the clients.

A JoinQuant client signs every upload with its private key. The signature covers the
HTTP method, the path with its query string, a timestamp, a random nonce and the
SHA-256 of the exact body bytes, so a captured request can neither be replayed nor be
reused with another body or path.

Canonical string (UTF-8, lines joined by a single "\\n", no trailing newline)::

    JQ2QMT-SIG-V1
    POST
    /api/v1/positions/update
    1732492800
    8f14e45fceea167a5a36dedd4bea2543
    <lowercase hex SHA-256 of the body bytes>

Headers sent with the request::

    X-JQ2QMT-Client:    the registered client id
    X-JQ2QMT-Timestamp: Unix time in whole seconds
    X-JQ2QMT-Nonce:     16-64 characters of [A-Za-z0-9_-], never reused
    X-JQ2QMT-Signature: base64 of the signature of the canonical string

Signature algorithms: RSA keys sign with RSA-PSS, MGF1-SHA256, SHA-256, salt length
32 bytes; Ed25519 keys sign the canonical string directly.

This module is bundled into the exported JoinQuant file, so it keeps to Python 3.6
syntax and imports `cryptography` only inside the functions that need it. It uses only
calls that exist unchanged from cryptography 3.0 to today (the range tested on CPython
3.6 and on the package's own Python): keys are loaded with an explicit backend.
"""

import base64
import hashlib
import os
import re
import time

SCHEME = "JQ2QMT-SIG-V1"
HEADER_CLIENT = "X-JQ2QMT-Client"
HEADER_TIMESTAMP = "X-JQ2QMT-Timestamp"
HEADER_NONCE = "X-JQ2QMT-Nonce"
HEADER_SIGNATURE = "X-JQ2QMT-Signature"
PSS_SALT_LENGTH = 32
NONCE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def body_digest(body):
    """Lowercase hex SHA-256 of the body bytes (an empty body hashes b"")."""
    if body is None:
        body = b""
    if not isinstance(body, bytes):
        body = body.encode("utf-8")
    return hashlib.sha256(body).hexdigest()


def canonical_string(method, path_and_query, timestamp, nonce, body):
    """The exact bytes that are signed; see the module docstring."""
    parts = [SCHEME, method.upper(), path_and_query, str(timestamp), nonce, body_digest(body)]
    return "\n".join(parts).encode("utf-8")


def new_nonce():
    """A fresh random nonce (32 hex characters)."""
    return base64.b16encode(os.urandom(16)).decode("ascii").lower()


def _backend():
    """The ``backend`` argument: required by cryptography before 3.1 (JoinQuant's Python
    3.6 may carry 3.0), accepted and ignored by every later release."""
    from cryptography.hazmat.backends import default_backend

    return default_backend()


def load_private_key(pem_bytes):
    from cryptography.hazmat.primitives import serialization

    if not isinstance(pem_bytes, bytes):
        pem_bytes = pem_bytes.encode("ascii")
    return serialization.load_pem_private_key(pem_bytes, password=None, backend=_backend())


def load_public_key(pem_bytes):
    from cryptography.hazmat.primitives import serialization

    if not isinstance(pem_bytes, bytes):
        pem_bytes = pem_bytes.encode("ascii")
    return serialization.load_pem_public_key(pem_bytes, backend=_backend())


def _is_ed25519(key):
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:  # very old cryptography: RSA only
        return False
    return isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey))


def sign_message(private_key, message):
    """Sign `message` bytes with an RSA (PSS) or Ed25519 private key object."""
    if _is_ed25519(private_key):
        return private_key.sign(message)
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT_LENGTH)
    return private_key.sign(message, pss, hashes.SHA256())


def verify_message(public_key, message, signature):
    """True when `signature` is a valid signature of `message` for `public_key`."""
    from cryptography.exceptions import InvalidSignature

    try:
        if _is_ed25519(public_key):
            public_key.verify(signature, message)
        else:
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.asymmetric import padding

            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT_LENGTH)
            public_key.verify(signature, message, pss, hashes.SHA256())
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def signed_headers(
    private_key, client_id, method, path_and_query, body, timestamp=None, nonce=None
):
    """Headers that authenticate one request; `private_key` is a key object."""
    if timestamp is None:
        timestamp = int(time.time())
    if nonce is None:
        nonce = new_nonce()
    message = canonical_string(method, path_and_query, timestamp, nonce, body)
    signature = base64.b64encode(sign_message(private_key, message)).decode("ascii")
    return {
        HEADER_CLIENT: client_id,
        HEADER_TIMESTAMP: str(int(timestamp)),
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: signature,
    }
