"""Route-independent response headers (server/secure_headers.py), the absent /docs
page, and query masking in the console access log format."""

import dataclasses
import logging

from fastapi.testclient import TestClient

from jq2qmt.logging_setup import AccessQueryFilter, mask_query
from jq2qmt.server.app import create_app
from jq2qmt.server.secure_headers import relative_location


def test_trailing_slash_redirect_does_not_echo_the_host_header(app_client):
    response = app_client.get(
        "/api/v1/positions/strategy/s1/?x=1",
        headers={"Host": "evil.example"},
        follow_redirects=False,
    )
    assert response.status_code == 307
    assert response.headers["location"] == "/api/v1/positions/strategy/s1?x=1"


def test_relative_location_keeps_other_hosts_and_never_yields_a_scheme_relative_url():
    assert relative_location(b"http://h:1//evil.example/x?a=1", b"h:1") == b"/evil.example/x?a=1"
    assert relative_location(b"https://H:1", b"h:1") == b"/"
    assert relative_location(b"https://other.example/x", b"h:1") == b"https://other.example/x"
    assert relative_location(b"/already/relative", b"h:1") == b"/already/relative"


def test_hsts_only_when_serving_tls_directly(instance):
    settings = dataclasses.replace(instance.settings, certfile="cert.pem", keyfile="key.pem")
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        for path in ("/healthz", "/login", "/openapi.json", "/api/v1/positions/total"):
            assert client.get(path).headers["strict-transport-security"] == "max-age=31536000", path
    with TestClient(create_app(instance.settings), base_url="https://testserver") as client:
        assert (
            "strict-transport-security" not in client.get("/healthz").headers
        )  # TLS ends at a proxy
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        assert "strict-transport-security" not in client.get("/healthz").headers


def test_no_swagger_or_redoc_page_but_the_schema_is_served(app_client):
    assert app_client.get("/docs").status_code == 404
    assert app_client.get("/redoc").status_code == 404
    assert app_client.get("/docs/oauth2-redirect").status_code == 404
    assert "/api/v1/positions/update" in app_client.get("/openapi.json").json()["paths"]


def test_mask_query_hides_every_value():
    assert (
        mask_query("/p?password=s3cret&wait=30&token=&x") == "/p?password=***&wait=***&token=&***"
    )
    assert mask_query("/plain/path") == "/plain/path"


def test_uvicorn_access_record_is_masked():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/a?token=abc", "1.1", 401),
        None,
    )
    assert AccessQueryFilter().filter(record)
    assert "abc" not in record.getMessage() and "/a?token=***" in record.getMessage()
