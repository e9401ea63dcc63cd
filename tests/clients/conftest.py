"""Fixtures of the JoinQuant-side tests, over the pieces of jq_support.py."""

import pytest
from jq_support import HangingServer, KeyPair, UploadServer


@pytest.fixture(scope="module")
def keypair():
    """A real RSA key pair (written to disk with `.write(folder)`)."""
    return KeyPair()


@pytest.fixture
def upload_server(keypair):
    """A real HTTP server that checks each upload's signature with `keypair`."""
    server = UploadServer(keypair.public)
    yield server
    server.close()


@pytest.fixture
def hanging_server():
    """A server that accepts connections and never answers."""
    server = HangingServer()
    yield server
    server.close()
