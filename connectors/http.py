"""The shared JSON-over-HTTP client every connector uses.

One ``JsonClient`` per external system, built once and shared by all worker threads.
It never retries by itself: retries belong to the job layer, which knows the
task's retry cycle and keeps the same idempotency key across attempts. It asks the
system's circuit breaker before each call and tells it (and the health monitor) how
the call went, so every connector gets both without doing anything.

It sends through a transport (connectors/transports.py): libcurl by default, urllib3's pool where pycurl is not
installed. Either way no call looks at the environment: the proxy settings are read once, when the client is built
(a call through ``requests`` cost about twice the CPU, as it merged sessions, settings and hooks and read proxies,
``~/.netrc`` and CA bundles on every call, and the server runs four calls per order on the cores the engine needs).
"""

from __future__ import annotations

import json as jsonlib
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from connectors.circuit import CircuitBreaker, Permit
from connectors.errors import BusinessError, CircuitOpenError, ConfigurationError, ConnectorError, TransientError
from connectors.monitor import CallMonitor
from connectors.transports import Response, Timeout, Transport, transport_for
from observability import tracing

DEFAULT_TIMEOUT: Timeout = (2.0, 10.0)
USER_AGENT = "orderflow-connectors/0.1"


class JsonClient:
    """JSON POST/GET against one system's base URL, with errors mapped to the connector hierarchy.

    Thread safety: the transport is configured here and never changed afterwards; per-call
    data (headers, timeout) is passed per request, each transport is safe to share between
    threads, and no cookies are kept, so nothing carries state between orders.
    """

    def __init__(
        self,
        base_url: str,
        *,
        system: str,
        timeout: Timeout = DEFAULT_TIMEOUT,
        pool_size: int = 32,
        circuit: CircuitBreaker | None = None,
        monitor: CallMonitor | None = None,
        transport: str | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"{system}: base URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.system = system
        self.timeout = timeout
        self.circuit = circuit
        self.monitor = monitor or CallMonitor()
        self.headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        # `transport`: "curl" (None: the default where pycurl is installed) or "urllib3" (ORDERFLOW_HTTP_TRANSPORT).
        self.transport: Transport = transport_for(self.base_url, _proxy_for(self.base_url), pool_size, transport)

    def post(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        timeout: Timeout | None = None,
    ) -> dict[str, Any]:
        return self.request("POST", path, json=body, idempotency_key=idempotency_key, timeout=timeout)

    def get(
        self, path: str, *, params: Mapping[str, str] | None = None, timeout: Timeout | None = None
    ) -> dict[str, Any]:
        return self.request("GET", path, params=params, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout | None = None,
    ) -> dict[str, Any]:
        url = f"{self.base_url}/{path.lstrip('/')}"
        headers = dict(self.headers)
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if not tracing.ON:
            return self._call(method, url, json, params, headers, timeout)
        # A span per call, whose traceparent goes to the system: its own traces join the order's.
        with tracing.span(
            f"{self.system} {method}",
            kind=tracing.SpanKind.CLIENT,
            attributes={"orderflow.system": self.system, "http.request.method": method, "url.full": url},
        ):
            tracing.inject(headers)
            return self._call(method, url, json, params, headers, timeout)

    def _call(
        self,
        method: str,
        url: str,
        json: Mapping[str, Any] | None,
        params: Mapping[str, str] | None,
        headers: dict[str, str],
        timeout: Timeout | None,
    ) -> dict[str, Any]:
        what = f"{self.system} {method} {url}"
        if params:
            query = urlencode([(k, v) for k, v in params.items() if v is not None], doseq=True)
            url = f"{url}{'&' if '?' in url else '?'}{query}" if query else url
        permit = self._permit()
        outcome: BaseException | None = None
        try:
            response = self._send(method, url, what, json=json, headers=headers, timeout=timeout or self.timeout)
            if tracing.ON:
                tracing.annotate(**{"http.response.status_code": response.status})
            return _parse(response, what)
        except BaseException as exc:
            outcome = exc
            raise
        finally:
            self._settle(permit, outcome)

    def _permit(self) -> Permit | None:
        if self.circuit is None:
            return None
        try:
            return self.circuit.acquire()
        except CircuitOpenError:
            self.monitor.refused()
            raise

    def _settle(self, permit: Permit | None, outcome: BaseException | None) -> None:
        if outcome is not None and not isinstance(outcome, ConnectorError):
            # Interrupted or a bug of ours: nothing learnt about the system. An unsettled trial is
            # handed to the next caller after one cool-down.
            return
        if permit is not None and self.circuit is not None:
            # Any answer, a business refusal included, proves the system is up; only transient failures count.
            if isinstance(outcome, TransientError):
                self.circuit.failed(permit)
            else:
                self.circuit.succeeded(permit)
        self.monitor.record(error=outcome is not None and not isinstance(outcome, BusinessError))

    def _send(
        self,
        method: str,
        url: str,
        what: str,
        *,
        json: Mapping[str, Any] | None,
        headers: dict[str, str],
        timeout: Timeout,
    ) -> Response:
        body = None
        if json is not None:
            try:
                body = jsonlib.dumps(json, allow_nan=False).encode()  # NaN is not JSON: no system could read it
            except ValueError as exc:
                raise ConnectorError(f"{what}: the request is not valid JSON: {exc}") from exc
            headers["Content-Type"] = "application/json"
        return self.transport.send(method, url, body, headers, timeout, what)


def _proxy_for(base_url: str) -> str | None:
    """The proxy the environment names for this system (HTTP_PROXY, HTTPS_PROXY, NO_PROXY), read once."""
    parts = urlsplit(base_url)
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def _text(response: Response) -> str:
    return response.data.decode("utf-8", "replace")


def _parse(response: Response, what: str) -> dict[str, Any]:
    status = response.status
    # 408 is a timeout reported by the server, so it is as retryable as one of ours.
    if status >= 500 or status in (408, 429):
        raise TransientError(f"{what}: HTTP {status}", status=status, retry_after=_retry_after(response.headers))
    body = _json_or_none(response)
    if 400 <= status < 500:
        if isinstance(body, dict) and isinstance(body.get("code"), str) and body["code"]:
            details = {k: v for k, v in body.items() if k not in ("code", "message")}
            raise BusinessError(body["code"], str(body.get("message") or ""), status=status, details=details)
        raise ConnectorError(f"{what}: HTTP {status}: {_text(response)[:200]}", status=status)
    if not 200 <= status < 300:
        raise ConnectorError(f"{what}: unexpected HTTP {status}", status=status)
    if status == 204 or not response.data:
        return {}
    if not isinstance(body, dict):
        # Do not guess what happened remotely; an incident lets a human look.
        raise ConnectorError(f"{what}: expected a JSON object, got {_text(response)[:200]!r}", status=status)
    return body


def _json_or_none(response: Response) -> Any:
    try:
        return jsonlib.loads(response.data)
    except ValueError:  # also not UTF-8 (UnicodeDecodeError is a ValueError)
        return None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    # Only the delta-seconds form; an HTTP-date is rare from APIs and the job backoff still applies.
    try:
        return max(0.0, float(headers.get("retry-after", "")))
    except ValueError:
        return None
