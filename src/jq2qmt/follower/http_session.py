"""A small HTTP/1.1 client on the standard library: the two calls PlanClient makes.

Why not `requests` or urllib: QMT's embedded Python does not ship `requests`, and
urllib opens a new TCP/TLS connection per call and bounds neither the DNS lookup
nor the total time of a response that trickles in. This session:

- keeps one keep-alive connection per (scheme, host, port) and reconnects once when
  a kept-alive connection turns out to be closed by the server;
- resolves a host name once (first use) and connects to that address, sending the
  original name as Host header, SNI and certificate name, so a slow DNS is paid at
  most once; it resolves again only after `RERESOLVE_AFTER` connect failures in a row;
- bounds the connect and each read by the given timeouts and the whole request by
  connect + read timeout (a server sending one byte at a time cannot hold the
  caller past that);
- verifies TLS certificates (`ssl.create_default_context()`, or an explicit CA file).

One session serves one thread at a time. Bundled into the exported QMT file:
Python 3.6, stdlib only.
"""

import http.client
import io
import select
import socket
import ssl
import time
from urllib.parse import urlencode, urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
RERESOLVE_AFTER = 3  # connect failures in a row before the host name is resolved again

# Errors that mean "the server closed the kept-alive connection before our request".
_STALE_ERRORS = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
    http.client.BadStatusLine,
)


class HttpResponse(object):
    """`status_code`, `content` (bytes), `headers` (case-insensitive `.get`), `text`."""

    def __init__(self, status_code, content, headers, reason=""):
        self.status_code = status_code
        self.content = content
        self.headers = headers
        self.reason = reason

    @property
    def text(self):
        return self.content.decode("utf-8", "replace")


class Headers(object):
    """Response headers; names compare case-insensitively, repeated ones are joined."""

    def __init__(self, pairs):
        self._items = {}
        for name, value in pairs:
            key = name.lower()
            if key in self._items:
                self._items[key] = (self._items[key][0], self._items[key][1] + ", " + value)
            else:
                self._items[key] = (name, value)

    def get(self, name, default=None):
        item = self._items.get(name.lower())
        return default if item is None else item[1]

    def __getitem__(self, name):
        return self._items[name.lower()][1]

    def __contains__(self, name):
        return name.lower() in self._items

    def items(self):
        return [item for item in self._items.values()]

    def __repr__(self):
        return "Headers(%r)" % (self.items(),)


class _Budget(object):
    """The time limits of the request under way (real time: they bound socket waits)."""

    def __init__(self, connect_timeout, read_timeout):
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.deadline = time.monotonic() + connect_timeout + read_timeout

    def remaining(self, cap):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("请求超时 / request deadline passed")
        return min(cap, left)


class _DeadlineReader(io.RawIOBase):
    """Socket reads that each wait at most the read timeout and never past the deadline."""

    def __init__(self, guarded):
        io.RawIOBase.__init__(self)
        self._guarded = guarded

    def readable(self):
        return True

    def readinto(self, buffer):
        budget = self._guarded.budget
        self._guarded.sock.settimeout(budget.remaining(budget.read_timeout))
        return self._guarded.sock.recv_into(buffer)

    def close(self):
        if not self.closed:
            self._guarded.release()
        io.RawIOBase.close(self)


class _GuardedSocket(object):
    """What http.client sees as its socket: sends and reads obey the request budget.

    Like socket.makefile, an open reader keeps the socket open after close(): http.client
    closes the connection of a "Connection: close" answer before its body is read.
    """

    def __init__(self, sock, budget):
        self.sock = sock
        self.budget = budget
        self._readers = 0
        self._closing = False

    def makefile(self, mode="rb", *args, **kwargs):
        self._readers += 1
        return io.BufferedReader(_DeadlineReader(self))

    def release(self):
        self._readers -= 1
        if self._closing and self._readers <= 0:
            self.sock.close()

    def sendall(self, data):
        # since Python 3.5 a socket timeout bounds the whole sendall, not each chunk
        self.sock.settimeout(self.budget.remaining(self.budget.read_timeout))
        self.sock.sendall(data)

    def close(self):
        self._closing = True
        if self._readers <= 0:
            self.sock.close()

    def abort(self):
        """Close now, whatever still reads from it (after an error)."""
        self._closing = True
        self.sock.close()

    def closed_by_peer(self):
        """True when the idle connection is readable: the server closed it (or sent junk)."""
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def __getattr__(self, name):
        return getattr(self.sock, name)


class _Connection(http.client.HTTPConnection):
    """An HTTPConnection whose sockets the session opens (resolved address, TLS, budget)."""

    def __init__(self, session, scheme, host, port):
        http.client.HTTPConnection.__init__(self, host, port)
        self._session = session
        self.scheme = scheme
        self.budget = None
        self.used = False  # a request already went over the current socket

    def connect(self):
        self.used = False
        self.sock = self._session._open_socket(self.scheme, self.host, self.port, self.budget)

    def close(self):
        http.client.HTTPConnection.close(self)
        self.used = False


class HttpSession(object):
    """`get(url, headers=, params=, timeout=(connect, read))` and `post(url, data=,
    headers=, timeout=)`, returning an HttpResponse; network errors raise OSError or
    http.client.HTTPException (socket.timeout when a limit passed).

    `cafile` or `context` replace the default TLS trust (system store); `resolver`
    is `getaddrinfo`-like: `resolver(host, port)` -> [(family, type, proto, name, addr)].
    """

    def __init__(self, cafile=None, context=None, resolver=None):
        self.cafile = cafile
        self._context = context  # made on first use: loading the trust store takes ~20 ms
        self.resolver = resolver or _getaddrinfo
        self._connections = {}  # (scheme, host, port) -> _Connection
        self._addresses = {}  # (host, port) -> resolved addresses, working one first
        self._connect_failures = {}  # (host, port) -> connect failures in a row
        self.connects = 0  # TCP connections opened (diagnostics)

    @property
    def context(self):
        """The TLS context, created at the first HTTPS connection (on the thread that
        makes it: never on QMT's thread when a background worker does the HTTP)."""
        if self._context is None:
            self._context = ssl.create_default_context(cafile=self.cafile)
        return self._context

    # ---- the two calls ------------------------------------------------------------------
    def get(self, url, headers=None, params=None, timeout=(1, 1)):
        if params:
            url = url + ("&" if "?" in url else "?") + urlencode(params)
        return self.request("GET", url, headers=headers, timeout=timeout)

    def post(self, url, data=None, headers=None, timeout=(1, 1)):
        return self.request("POST", url, headers=headers, body=data, timeout=timeout)

    def request(self, method, url, headers=None, body=None, timeout=(1, 1)):
        connect_timeout, read_timeout = _split_timeout(timeout)
        budget = _Budget(connect_timeout, read_timeout)
        scheme, host, port, target = _parse(url)
        if isinstance(body, str):
            body = body.encode("utf-8")
        key = (scheme, host, port)
        conn = self._connections.get(key)
        if conn is None:
            conn = self._connections[key] = _Connection(self, scheme, host, port)
        try:
            return self._exchange(conn, method, target, headers or {}, body, budget)
        except _STALE_ERRORS:
            if not conn.used:
                raise
            # the kept-alive connection was closed by the server: once more, freshly
            conn.close()
            return self._exchange(conn, method, target, headers or {}, body, budget)

    def close(self):
        for conn in self._connections.values():
            conn.close()
        self._connections.clear()

    # ---- internals ----------------------------------------------------------------------
    def _exchange(self, conn, method, target, headers, body, budget):
        conn.budget = budget
        if conn.sock is not None:
            conn.sock.budget = budget
            if conn.sock.closed_by_peer():
                conn.close()
        if conn.sock is None:
            conn.connect()
        reused = conn.used
        conn.used = True
        guarded = conn.sock
        try:
            conn.request(method, target, body=body, headers=headers)
            resp = conn.getresponse()
            content = resp.read()
        except Exception:
            guarded.abort()
            conn.close()
            conn.used = reused  # lets the caller tell a stale connection from a fresh one
            raise
        result = HttpResponse(resp.status, content, Headers(resp.getheaders()), resp.reason)
        if resp.will_close:
            conn.close()
        return result

    def _open_socket(self, scheme, host, port, budget):
        """A connected (and, for https, TLS-wrapped) socket to `host`, within `budget`."""
        key = (host, port)
        addresses = self._addresses.get(key)
        if addresses is None:
            addresses = list(self.resolver(host, port))
            if not addresses:
                raise socket.gaierror("no address for %s" % host)
            self._addresses[key] = addresses
        error = None
        for info in list(addresses):
            family, socktype, proto = info[0], info[1], info[2]
            sockaddr = info[4]
            sock = socket.socket(family, socktype or socket.SOCK_STREAM, proto)
            try:
                sock.settimeout(budget.remaining(budget.connect_timeout))
                sock.connect(sockaddr)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if scheme == "https":
                    sock.settimeout(budget.remaining(budget.connect_timeout))
                    sock = self.context.wrap_socket(sock, server_hostname=host)
            except Exception as exc:
                sock.close()
                error = exc
                if isinstance(exc, ssl.SSLError) or isinstance(exc, ssl.CertificateError):
                    break  # the address answered: its certificate is the problem
                continue
            self.connects += 1
            self._connect_failures[key] = 0
            if info is not addresses[0]:
                addresses.remove(info)
                addresses.insert(0, info)
            return _GuardedSocket(sock, budget)
        failures = self._connect_failures.get(key, 0) + 1
        self._connect_failures[key] = failures
        if failures >= RERESOLVE_AFTER:
            self._addresses.pop(key, None)  # the server may have moved: resolve again
            self._connect_failures[key] = 0
        raise error


def _getaddrinfo(host, port):
    return socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)


def _split_timeout(timeout):
    if isinstance(timeout, (tuple, list)):
        connect, read = timeout
    else:
        connect = read = timeout
    return float(connect), float(read)


def _parse(url):
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError("只支持 http/https 地址 / unsupported URL scheme: %s" % url)
    host = parts.hostname
    if not host:
        raise ValueError("地址缺少主机名 / URL without host: %s" % url)
    port = parts.port or DEFAULT_PORTS[scheme]
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return scheme, host, port, target
