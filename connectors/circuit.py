"""Circuit breaker per external system: stop calling a system that keeps failing, try again after a cool-down.

  closed     calls go through; consecutive transient failures are counted, any answer resets the count
  open       ``threshold`` consecutive transient failures: calls fail fast with CircuitOpenError, no network
  half-open  the cool-down has passed: the next caller makes the one trial call; an answer closes the
             circuit, a transient failure opens it for another cool-down

Only transient failures count: a business refusal or a 4xx is an answer, so the system is up.
The state is a small record (failures, opened_at, trial) kept in a store: in-process by default,
in Redis when several processes should trip and recover together. Both stores apply the same
transitions, atomically (a lock here, Lua scripts there).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from connectors.errors import CircuitOpenError

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
DEFAULT_THRESHOLD = 5
DEFAULT_COOLDOWN = 30.0
DEFAULT_REDIS_PREFIX = "orderflow:circuit:"

# Wall-clock seconds: with Redis the timestamps are compared across machines, so not time.monotonic.
Clock = Callable[[], float]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CircuitRecord:
    failures: int = 0  # consecutive transient failures while closed
    opened_at: float | None = None  # when it opened, or when the current trial was handed out
    trial: bool = False  # a half-open trial call has been handed out and has not reported yet

    def state(self, now: float, cooldown: float) -> str:
        if self.opened_at is None:
            return CLOSED
        if self.trial or now >= self.opened_at + cooldown:
            return HALF_OPEN
        return OPEN


@dataclass(frozen=True)
class Admission:
    allowed: bool
    trial: bool = False  # this call is the half-open trial: its outcome decides the circuit
    wait: float = 0.0  # when refused: seconds until a trial call will be let through
    # The store held nothing for the circuit (closed, no failure counted): an answer to this call has nothing to
    # reset, so it is not reported (with Redis, one round trip less per call).
    clean: bool = False


class CircuitStore(Protocol):
    def acquire(self, key: str, now: float, cooldown: float) -> Admission: ...

    def succeeded(self, key: str, trial: bool) -> None: ...

    def failed(self, key: str, now: float, threshold: int, trial: bool) -> None: ...

    def read(self, key: str) -> CircuitRecord: ...


# --- transitions (pure; the Lua scripts below mirror them) -------------------------------------------


def admit(record: CircuitRecord, now: float, cooldown: float) -> tuple[CircuitRecord, Admission]:
    if record.opened_at is None:
        return record, Admission(allowed=True, clean=record == CircuitRecord())
    wait = record.opened_at + cooldown - now
    if wait > 0:
        return record, Admission(allowed=False, wait=wait)
    # Cool-down over (or the previous trial never reported within one): this caller is the trial.
    # Re-arming opened_at makes everybody else wait another cool-down for its outcome.
    return replace(record, opened_at=now, trial=True), Admission(allowed=True, trial=True)


def on_success(record: CircuitRecord, trial: bool) -> CircuitRecord:
    if record.opened_at is not None and not trial:
        # A late answer to a call made before the circuit opened says little about the system now.
        return record
    return CircuitRecord()


def on_failure(record: CircuitRecord, now: float, threshold: int, trial: bool) -> CircuitRecord:
    if record.opened_at is not None:
        # Already open: only the trial's failure re-opens it; late failures of older calls change nothing.
        return replace(record, opened_at=now, trial=False) if trial else record
    failures = record.failures + 1
    return CircuitRecord(failures=failures, opened_at=now if failures >= threshold else None)


# --- stores ---------------------------------------------------------------------------------------------


class MemoryCircuitStore:
    """Per-process state; one lock makes each transition atomic across worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, CircuitRecord] = {}

    def acquire(self, key: str, now: float, cooldown: float) -> Admission:
        with self._lock:
            record, admission = admit(self._records.get(key, CircuitRecord()), now, cooldown)
            self._records[key] = record
            return admission

    def succeeded(self, key: str, trial: bool) -> None:
        with self._lock:
            self._records[key] = on_success(self._records.get(key, CircuitRecord()), trial)

    def failed(self, key: str, now: float, threshold: int, trial: bool) -> None:
        with self._lock:
            self._records[key] = on_failure(self._records.get(key, CircuitRecord()), now, threshold, trial)

    def read(self, key: str) -> CircuitRecord:
        with self._lock:
            return self._records.get(key, CircuitRecord())


# Each script is one atomic step on a hash {failures, opened_at, trial}. Floats travel as strings:
# Redis would truncate a Lua number in a reply to an integer.
_ACQUIRE = """
local opened = redis.call('HGET', KEYS[1], 'opened_at')
if not opened then return {1, 0, '0', redis.call('EXISTS', KEYS[1])} end
local wait = tonumber(opened) + tonumber(ARGV[2]) - tonumber(ARGV[1])
if wait > 0 then return {0, 0, tostring(wait)} end
redis.call('HSET', KEYS[1], 'opened_at', ARGV[1], 'trial', '1')
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {1, 1, '0'}
"""
_SUCCEEDED = """
local opened = redis.call('HGET', KEYS[1], 'opened_at')
if opened and ARGV[1] ~= '1' then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""
_FAILED = """
local opened = redis.call('HGET', KEYS[1], 'opened_at')
if opened then
  if ARGV[3] == '1' then
    redis.call('HSET', KEYS[1], 'opened_at', ARGV[1], 'trial', '0')
    redis.call('EXPIRE', KEYS[1], ARGV[4])
  end
  return 0
end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if failures >= tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'opened_at', ARGV[1], 'trial', '0')
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
return failures
"""


class RedisCircuitStore:
    """State shared by every process that uses the same Redis and prefix.

    Redis is a helper here, not a dependency of the call: when it cannot be reached the store
    uses its in-process fallback (each process then trips on its own) and tries Redis again after
    ``retry_redis_after`` seconds, so a Redis outage never adds more than one short timeout per call.
    """

    # Keys of systems nobody calls any more disappear; a day is far longer than any sane cool-down.
    TTL_SECONDS = 86_400

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_REDIS_PREFIX,
        timeout: float = 0.5,
        retry_redis_after: float = 5.0,
    ) -> None:
        import redis  # only processes configured for Redis pay for the import

        self.prefix = prefix
        self.client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._acquire = self.client.register_script(_ACQUIRE)
        self._succeeded = self.client.register_script(_SUCCEEDED)
        self._failed = self.client.register_script(_FAILED)
        self.fallback = MemoryCircuitStore()
        self._retry_redis_after = retry_redis_after
        self._redis_down_until = 0.0

    def acquire(self, key: str, now: float, cooldown: float) -> Admission:
        reply = self._call(self._acquire, key, [repr(now), repr(cooldown), self.TTL_SECONDS])
        if reply is None:
            return self.fallback.acquire(key, now, cooldown)
        allowed, trial, wait, *held = reply  # held: whether a record exists (said only when the circuit is closed)
        clean = bool(held) and not int(held[0])
        return Admission(allowed=bool(int(allowed)), trial=bool(int(trial)), wait=max(0.0, float(wait)), clean=clean)

    def succeeded(self, key: str, trial: bool) -> None:
        if self._call(self._succeeded, key, ["1" if trial else "0"]) is None:
            self.fallback.succeeded(key, trial)

    def failed(self, key: str, now: float, threshold: int, trial: bool) -> None:
        args = [repr(now), threshold, "1" if trial else "0", self.TTL_SECONDS]
        if self._call(self._failed, key, args) is None:
            self.fallback.failed(key, now, threshold, trial)

    def read(self, key: str) -> CircuitRecord:
        if time.monotonic() < self._redis_down_until:
            return self.fallback.read(key)
        try:
            raw = self.client.hgetall(self.prefix + key)
        except self._errors as exc:
            self._redis_failed(exc)
            return self.fallback.read(key)
        return _record_from_hash(raw)

    def _call(self, script: Any, key: str, args: list[Any]) -> Any:
        """The script's reply, or None when Redis is (recently) unreachable."""
        if time.monotonic() < self._redis_down_until:
            return None
        try:
            return script(keys=[self.prefix + key], args=args)
        except self._errors as exc:
            self._redis_failed(exc)
            return None

    def _redis_failed(self, exc: BaseException) -> None:
        log.warning(
            "circuit state: Redis unreachable (%s); using in-process state for %.0f s",
            exc,
            self._retry_redis_after,
        )
        self._redis_down_until = time.monotonic() + self._retry_redis_after


def _record_from_hash(raw: dict[bytes, bytes]) -> CircuitRecord:
    opened = raw.get(b"opened_at")
    return CircuitRecord(
        failures=int(raw.get(b"failures", b"0")),
        opened_at=float(opened) if opened is not None else None,
        trial=raw.get(b"trial") == b"1",
    )


# --- the breaker a client uses --------------------------------------------------------------------------


@dataclass(frozen=True)
class Permit:
    trial: bool
    clean: bool = False  # the circuit was closed with no failure counted when the call was admitted


class CircuitBreaker:
    """One per external system; ``key`` names its state in the store (system and base URL)."""

    def __init__(
        self,
        system: str,
        *,
        key: str,
        store: CircuitStore,
        threshold: int = DEFAULT_THRESHOLD,
        cooldown: float = DEFAULT_COOLDOWN,
        clock: Clock = time.time,
    ) -> None:
        self.system = system
        self.key = key
        self.store = store
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock

    def acquire(self) -> Permit:
        """Permission for one call; raises CircuitOpenError when the circuit refuses it."""
        admission = self.store.acquire(self.key, self.clock(), self.cooldown)
        if not admission.allowed:
            raise CircuitOpenError(self.system, retry_after=round(admission.wait, 3))
        return Permit(trial=admission.trial, clean=admission.clean)

    def succeeded(self, permit: Permit) -> None:
        if permit.clean:
            # Nothing to reset: the circuit was closed with no failure counted. A failure another process counted
            # during this call stays counted until the next answer (whose admission sees it) resets it.
            return
        self.store.succeeded(self.key, permit.trial)

    def failed(self, permit: Permit) -> None:
        self.store.failed(self.key, self.clock(), self.threshold, permit.trial)

    def state(self) -> str:
        return self.store.read(self.key).state(self.clock(), self.cooldown)
