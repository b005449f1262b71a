"""The shared JSON-over-HTTP client every connector uses.

One ``JsonClient`` per external system, built once and shared by all worker threads.
It never retries by itself: retries belong to the job layer, which knows the
task's retry cycle and keeps the same idempotency key across attempts. It asks the
system's circuit breaker before each call and tells it (and the health monitor) how
the call went, so every connector gets both without doing anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from connectors.circuit import CircuitBreaker, Permit
from connectors.errors import BusinessError, CircuitOpenError, ConfigurationError, ConnectorError, TransientError
from connectors.monitor import CallMonitor
from observability import tracing

Timeout = tuple[float, float]  # (connect, read) seconds, as requests takes it
DEFAULT_TIMEOUT: Timeout = (2.0, 10.0)
USER_AGENT = "orderflow-connectors/0.1"


class JsonClient:
    """JSON POST/GET against one system's base URL, with errors mapped to the connector hierarchy.

    Thread safety: the session is configured here and never mutated afterwards; per-call
    data (headers, timeout) is passed per request, the urllib3 pool is thread-safe, and
    cookies are refused so the shared cookie jar never carries state between orders.
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
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"{system}: base URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.system = system
        self.timeout = timeout
        self.circuit = circuit
        self.monitor = monitor or CallMonitor()
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        self.session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        # max_retries=0: a silent urllib3 retry of a POST could charge twice without a key.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

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
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
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
        permit = self._permit()
        outcome: BaseException | None = None
        try:
            response = self._send(
                method, url, what, json=json, params=params, headers=headers, timeout=timeout or self.timeout
            )
            if tracing.ON:
                tracing.annotate(**{"http.response.status_code": response.status_code})
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
        params: Mapping[str, str] | None,
        headers: Mapping[str, str],
        timeout: Timeout,
    ) -> requests.Response:
        try:
            return self.session.request(
                method,
                url,
                json=json,
                params=params,
                headers=headers,
                timeout=timeout,
                # A redirect would turn a POST into a GET; an API that redirects is misconfigured.
                allow_redirects=False,
            )
        except requests.Timeout as exc:  # before ConnectionError: ConnectTimeout is both
            raise TransientError(f"{what}: timed out ({exc.__class__.__name__})") from exc
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise TransientError(f"{what}: connection failed: {exc}") from exc
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) as exc:
            raise ConfigurationError(f"{what}: {exc}") from exc
        except requests.RequestException as exc:
            raise ConnectorError(f"{what}: {exc}") from exc


def _parse(response: requests.Response, what: str) -> dict[str, Any]:
    status = response.status_code
    # 408 is a timeout reported by the server, so it is as retryable as one of ours.
    if status >= 500 or status in (408, 429):
        raise TransientError(f"{what}: HTTP {status}", status=status, retry_after=_retry_after(response.headers))
    body = _json_or_none(response)
    if 400 <= status < 500:
        if isinstance(body, dict) and isinstance(body.get("code"), str) and body["code"]:
            details = {k: v for k, v in body.items() if k not in ("code", "message")}
            raise BusinessError(body["code"], str(body.get("message") or ""), status=status, details=details)
        raise ConnectorError(f"{what}: HTTP {status}: {response.text[:200]}", status=status)
    if not 200 <= status < 300:
        raise ConnectorError(f"{what}: unexpected HTTP {status}", status=status)
    if status == 204 or not response.content:
        return {}
    if not isinstance(body, dict):
        # Do not guess what happened remotely; an incident lets a human look.
        raise ConnectorError(f"{what}: expected a JSON object, got {response.text[:200]!r}", status=status)
    return body


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    # Only the delta-seconds form; an HTTP-date is rare from APIs and the job backoff still applies.
    try:
        return max(0.0, float(headers.get("Retry-After", "")))
    except ValueError:
        return None
