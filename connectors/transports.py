"""How a JsonClient's request reaches its system: one interface, two implementations side by side.

``CurlTransport`` (libcurl, through pycurl) is the default where pycurl is installed: it parses the answer in C, and
a call cost about 0.13 ms of CPU against 0.30 ms through urllib3 (measured in a loop against the sandbox), which
the server pays four times per order on the cores the engine needs. ``Urllib3Transport`` is the same contract on
urllib3's connection pool, for a platform without a pycurl wheel (`ORDERFLOW_HTTP_TRANSPORT=urllib3` picks it).

Both send exactly what they are given, never retry (a silent retry of a POST could charge twice without a key),
never follow a redirect (it would turn a POST into a GET; an API that redirects is misconfigured), take the proxy
the environment named when the client was built and nothing else, and map every failure to the connector errors:
no connection, a reset or a timeout is a TransientError, a URL that cannot be used a ConfigurationError, anything
else a ConnectorError. The timeout is (connect, read) seconds. libcurl knows only a connect and a total timeout, so
there the read timeout bounds the whole call, connecting included (an answer that trickles in byte by byte is cut
at the read timeout, where urllib3 would wait as long as each byte comes within it).
"""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import (
    HTTPError,
    LocationValueError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from connectors.errors import ConfigurationError, ConnectorError, TransientError

try:
    import pycurl
except ImportError:  # pragma: no cover - a platform without a wheel: urllib3 serves
    pycurl = None

Timeout = tuple[float, float]  # (connect, read) seconds


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]  # names in lower case
    data: bytes


class Transport(Protocol):
    def send(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str], timeout: Timeout, what: str
    ) -> Response:
        """One request to `url` (absolute), its answer whatever the status; `what` names the call in errors."""
        ...


def transport_for(base_url: str, proxy: str | None, pool_size: int, kind: str | None = None) -> Transport:
    """The transport a client of `base_url` uses: `kind` "curl" or "urllib3", by default curl where installed."""
    if kind not in (None, "", "curl", "urllib3"):
        raise ConfigurationError(f"HTTP transport must be 'curl' or 'urllib3', not {kind!r}")
    if kind == "curl" and pycurl is None:
        raise ConfigurationError("the curl HTTP transport needs pycurl, which is not installed")
    if pycurl is not None and kind != "urllib3":
        return CurlTransport(base_url, proxy)
    return Urllib3Transport(base_url, proxy, pool_size)


class Urllib3Transport:
    """urllib3's connection pool: without a proxy one host's pool taken straight (a PoolManager would parse the URL
    and look the pool up again on every call)."""

    def __init__(self, base_url: str, proxy: str | None, pool_size: int) -> None:
        self.pool: urllib3.PoolManager | urllib3.HTTPConnectionPool
        self._origin: int | None = None  # length of the base URL's scheme://host:port, when calls send the path
        if proxy:
            self.pool = urllib3.ProxyManager(proxy, num_pools=2, maxsize=pool_size)
        else:
            try:
                self.pool = urllib3.connection_from_url(base_url, maxsize=pool_size)
                self._origin = len(urlsplit(base_url)._replace(path="", query="", fragment="").geturl())
            except LocationValueError:  # no host: each call is a ConfigurationError, as it always was
                self.pool = urllib3.PoolManager(num_pools=2, maxsize=pool_size)
        self._timeouts: dict[Timeout, urllib3.Timeout] = {}

    def send(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str], timeout: Timeout, what: str
    ) -> Response:
        pool_timeout = self._timeouts.get(timeout)
        if pool_timeout is None:
            pool_timeout = self._timeouts[timeout] = urllib3.Timeout(connect=timeout[0], read=timeout[1])
        try:
            answer = self.pool.urlopen(
                method,
                url[self._origin :] if self._origin is not None else url,
                body=body,
                headers=dict(headers),
                timeout=pool_timeout,
                retries=False,
                redirect=False,
            )
        # NewConnectionError before timeouts: urllib3 derives it from ConnectTimeoutError.
        except (NewConnectionError, ProtocolError, ProxyError, SSLError) as exc:
            raise TransientError(f"{what}: connection failed: {exc}") from exc
        except Urllib3Timeout as exc:
            raise TransientError(f"{what}: timed out ({exc.__class__.__name__})") from exc
        except LocationValueError as exc:
            raise ConfigurationError(f"{what}: {exc}") from exc
        except HTTPError as exc:
            raise ConnectorError(f"{what}: {exc}") from exc
        return Response(answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.data)


# libcurl's error codes (curl.h) by what they mean to a connector.
_CURL_TIMED_OUT = {28}  # CURLE_OPERATION_TIMEDOUT
_CURL_UNUSABLE_URL = {1, 3}  # CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT
# Could not resolve, connect, send or receive; the server closed or sent nothing or garbage; TLS failed.
_CURL_NO_CONNECTION = {5, 6, 7, 8, 16, 18, 35, 52, 53, 54, 55, 56, 58, 59, 60, 64, 66, 77, 80, 83, 90, 91, 92, 97}


class CurlTransport:
    """libcurl through pycurl. A libcurl handle serves one thread at a time, so each thread keeps its own, and with
    it the connections it opened (kept alive between calls, as urllib3's pool does)."""

    def __init__(self, base_url: str, proxy: str | None) -> None:
        # A base URL without a host makes every call a ConfigurationError (libcurl would take the path for a host).
        self._no_host = not urlsplit(base_url).hostname
        self.proxy = proxy or ""  # "": no proxy, and none taken from the environment behind our back
        # The certificates Python's ssl module trusts (SSL_CERT_FILE / SSL_CERT_DIR, else the system's), as
        # urllib3 does: the CA bundle compiled into a libcurl wheel may not be where this machine keeps it.
        paths = ssl.get_default_verify_paths()
        self.ca_file = paths.cafile if paths.cafile and os.path.isfile(paths.cafile) else None
        self.ca_dir = paths.capath if paths.capath and os.path.isdir(paths.capath) else None
        self._handles = threading.local()

    def _handle(self) -> pycurl.Curl:
        handle = getattr(self._handles, "handle", None)
        if handle is None:
            handle = self._handles.handle = pycurl.Curl()
            handle.setopt(pycurl.NOSIGNAL, 1)  # timeouts without SIGALRM: calls run on worker threads
            handle.setopt(pycurl.PROXY, self.proxy)
            handle.setopt(pycurl.FOLLOWLOCATION, 0)
            handle.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
            if self.ca_file:
                handle.setopt(pycurl.CAINFO, self.ca_file)
            if self.ca_dir:
                handle.setopt(pycurl.CAPATH, self.ca_dir)
        return handle

    def send(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str], timeout: Timeout, what: str
    ) -> Response:
        if self._no_host:
            raise ConfigurationError(f"{what}: no host in the system's URL")
        handle = self._handle()
        data: list[bytes] = []
        head: list[bytes] = []
        handle.setopt(pycurl.URL, url)
        if method == "GET":
            handle.setopt(pycurl.HTTPGET, 1)
        else:
            handle.setopt(pycurl.POSTFIELDS, body or b"")
            if method != "POST":
                handle.setopt(pycurl.CUSTOMREQUEST, method)
        # "Expect:" keeps libcurl from asking the server first (100-continue) before a body over 1 kB.
        handle.setopt(pycurl.HTTPHEADER, [f"{name}: {value}" for name, value in headers.items()] + ["Expect:"])
        handle.setopt(pycurl.CONNECTTIMEOUT_MS, max(1, int(min(timeout) * 1000)))
        handle.setopt(pycurl.TIMEOUT_MS, max(1, int(timeout[1] * 1000)))
        handle.setopt(pycurl.WRITEFUNCTION, data.append)
        handle.setopt(pycurl.HEADERFUNCTION, head.append)
        try:
            handle.perform()
        except pycurl.error as exc:
            code, message = exc.args[0], exc.args[1] if len(exc.args) > 1 else ""
            if code in _CURL_TIMED_OUT:
                raise TransientError(f"{what}: timed out ({message})") from exc
            if code in _CURL_NO_CONNECTION:
                raise TransientError(f"{what}: connection failed: {message}") from exc
            if code in _CURL_UNUSABLE_URL:
                raise ConfigurationError(f"{what}: {message}") from exc
            raise ConnectorError(f"{what}: {message}") from exc
        finally:
            if method not in ("GET", "POST"):
                handle.unsetopt(pycurl.CUSTOMREQUEST)
        return Response(handle.getinfo(pycurl.RESPONSE_CODE), _headers(head), b"".join(data))


def _headers(lines: list[bytes]) -> dict[str, str]:
    """The header fields of the last answer (lines of an earlier interim one, a 100 Continue, are dropped)."""
    found: dict[str, str] = {}
    for raw in lines:
        line = raw.decode("iso-8859-1").rstrip("\r\n")
        if line.startswith("HTTP/"):
            found = {}
        elif ":" in line:
            name, _, value = line.partition(":")
            found[name.strip().lower()] = value.strip()
    return found
