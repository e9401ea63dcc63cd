"""Response headers that do not depend on the route (installed last: outermost).

- Redirects never name a host taken from the request. Starlette's trailing-slash
  redirect (``/path/`` -> ``/path``) builds an absolute ``Location`` from the
  ``Host`` header, so a forged ``Host`` would be echoed back (and could be stored by
  a shared cache). Any ``Location`` whose host is the request's own ``Host`` is
  rewritten to the path and query alone, which browsers resolve against the URL
  they actually asked for.
- When the server itself terminates TLS (``serve --certfile/--keyfile``), every
  HTTPS response carries ``Strict-Transport-Security`` so browsers keep using HTTPS
  for this host. Behind a TLS-terminating proxy the proxy sets it.
"""

from urllib.parse import urlsplit

HSTS_VALUE = b"max-age=31536000"
_REDIRECTS = (301, 302, 303, 307, 308)


def relative_location(location, host):
    """`location` as path+query when it is absolute and names `host` (bytes in, bytes out)."""
    try:
        text = location.decode("latin-1")
        parts = urlsplit(text)
    except ValueError:
        return location
    if not parts.netloc or parts.netloc.lower() != host.decode("latin-1").lower():
        return location
    path = parts.path or "/"
    if path.startswith("//"):
        # "//x" would be read as another host; collapse to a single leading slash
        path = "/" + path.lstrip("/")
    return (path + ("?" + parts.query if parts.query else "")).encode("latin-1")


class SecureHeaders:
    """ASGI middleware: relative self-redirects, and HSTS over direct TLS."""

    def __init__(self, app, hsts):
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = b""
        for name, value in scope.get("headers") or ():
            if name == b"host":
                host = value
                break
        hsts = self.hsts and scope.get("scheme") == "https"

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or ())
                if message["status"] in _REDIRECTS:
                    headers = [
                        (
                            name,
                            relative_location(value, host)
                            if name.lower() == b"location"
                            else value,
                        )
                        for name, value in headers
                    ]
                if hsts and not any(
                    name.lower() == b"strict-transport-security" for name, _ in headers
                ):
                    headers.append((b"strict-transport-security", HSTS_VALUE))
                message = dict(message, headers=headers)
            await send(message)

        await self.app(scope, receive, send_wrapper)


def install(app):
    settings = app.state.settings
    app.add_middleware(SecureHeaders, hsts=bool(settings.certfile and settings.keyfile))
