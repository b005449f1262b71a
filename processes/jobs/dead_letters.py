"""Dead letters of intake: start requests that could not be processed are kept, never dropped.

A start that fails before an instance exists (unknown process key or version, variables that fail validation, an
unexpected error in the first engine step) is stored as it came: process key, version, business key, variables,
Idempotency-Key, the error. The caller still gets the error (with the dead letter's id). An operator replays it (with
corrected variables or process key if needed), which starts the instance, or discards it.

A first step that fails on the data inside the process (a script, a decision) is not a dead letter: the instance exists
in status `incident`, keeps the variables, and is retried or resolved from the incident list.

A replay starts with the request's Idempotency-Key (or one derived from the dead letter), so replaying twice, or after
the client itself succeeded with the same key, returns the instance already started instead of a second one. When the
client's own retry with the same key succeeds, its open dead letter is closed as replayed (`close_started`).

A flood of bad requests cannot fill the database: variables larger than any start accepts are kept as an excerpt with
their size and sha256 (they could never be replayed as they are), and at most `per_minute` dead letters are kept a
minute; beyond that the caller still gets the error, and nothing is written."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, update

from processes.core.engine import Engine
from processes.core.models import (
    DEAD_LETTER_DISCARDED,
    DEAD_LETTER_OPEN,
    DEAD_LETTER_REPLAYED,
    DeadLetter,
    new_id,
    utcnow,
)
from processes.core.pages import page_of
from processes.core.statements import Statement
from processes.errors import Conflict, InternalError, InvalidInput, NotFound, OrderflowError
from processes.instances import MAX_VARIABLES_BYTES, StartResult, iso, start_instance

log = logging.getLogger(__name__)

STATUSES = (DEAD_LETTER_OPEN, DEAD_LETTER_REPLAYED, DEAD_LETTER_DISCARDED)
_UNSET: Any = object()
EXCERPT_CHARACTERS = 4096
# Marks variables kept as an excerpt: "$" starts no variable name a start accepts, so no request can look like one.
_EXCERPT = "$excerpt"
DEFAULT_PER_MINUTE = 300


def kept_variables(variables: Any) -> Any:
    """The variables as stored: whole when a start could accept them, else an excerpt, the size and the sha256."""
    try:
        text = json.dumps(variables, sort_keys=True, default=str)
    except (TypeError, ValueError, RecursionError):
        text = repr(variables)[: MAX_VARIABLES_BYTES + 1]
    size = len(text.encode())
    if size <= MAX_VARIABLES_BYTES:
        return variables
    return {_EXCERPT: text[:EXCERPT_CHARACTERS], "$bytes": size, "$sha256": hashlib.sha256(text.encode()).hexdigest()}


def _excerpt(variables: Any) -> dict[str, Any] | None:
    if isinstance(variables, dict) and _EXCERPT in variables:
        return {"excerpt": variables[_EXCERPT], "bytes": variables["$bytes"], "sha256": variables["$sha256"]}
    return None


def error_text(error: BaseException) -> tuple[str, str]:
    """(error type, message) of a failed start, as stored."""
    if isinstance(error, OrderflowError) and error.status < 500:
        return error.__class__.__name__, error.detail
    return error.__class__.__name__, f"{error.__class__.__name__}: {error}"


def record_failed_start(
    engine: Engine,
    *,
    process_key: str,
    error: BaseException,
    variables: dict[str, Any] | None = None,
    business_key: str | None = None,
    version: int | None = None,
    idempotency_key: str | None = None,
    actor: str | None = None,
    per_minute: int = DEFAULT_PER_MINUTE,
) -> str | None:
    """Keep a start request that failed; returns the dead letter's id, or None when `per_minute` new dead letters
    were kept in the last minute already (a flood). A request repeated with the same Idempotency-Key while its
    dead letter is still open counts as another attempt of that one."""
    error_type, message = error_text(error)
    variables = kept_variables(variables)
    now = utcnow()
    with engine.write_session() as session:
        existing = None
        if idempotency_key:
            existing = session.scalars(
                select(DeadLetter)
                .where(
                    DeadLetter.idempotency_key == idempotency_key,
                    DeadLetter.process_key == process_key,
                    DeadLetter.status == DEAD_LETTER_OPEN,
                )
                .order_by(DeadLetter.created_at.desc())
                .limit(1)
            ).first()
        if existing is not None:
            existing.attempts += 1
            existing.variables = variables if variables is not None else {}
            existing.business_key, existing.version = business_key, version
            existing.error_type, existing.error, existing.updated_at = error_type, message, now
            dead_letter_id = existing.id
        else:
            recent = session.scalar(
                select(func.count()).select_from(DeadLetter).where(DeadLetter.created_at > now - timedelta(minutes=1))
            )
            if recent >= per_minute:
                log.warning(
                    "not kept as a dead letter (%s in the last minute): failed start of %s", recent, process_key
                )
                return None
            dead_letter_id = new_id()
            session.add(
                DeadLetter(
                    id=dead_letter_id,
                    process_key=process_key,
                    version=version,
                    business_key=business_key,
                    idempotency_key=idempotency_key,
                    variables=variables if variables is not None else {},
                    error_type=error_type,
                    error=message,
                    status=DEAD_LETTER_OPEN,
                    attempts=1,
                    created_at=now,
                    created_by=actor,
                    updated_at=now,
                )
            )
        session.commit()
    return dead_letter_id


def dead_letter_view(row: DeadLetter) -> dict[str, Any]:
    return {
        "id": row.id,
        "processKey": row.process_key,
        "version": row.version,
        "businessKey": row.business_key,
        "idempotencyKey": row.idempotency_key,
        "variables": {} if _excerpt(row.variables) else row.variables,
        "body": _excerpt(row.variables),
        "errorType": row.error_type,
        "error": row.error,
        "status": row.status,
        "attempts": row.attempts,
        "createdAt": iso(row.created_at),
        "createdBy": row.created_by,
        "updatedAt": iso(row.updated_at),
        "closedAt": iso(row.closed_at),
        "closedBy": row.closed_by,
        "comment": row.comment,
        "instanceId": row.instance_id,
    }


def list_dead_letters(
    engine: Engine,
    *,
    status: str | None = DEAD_LETTER_OPEN,
    process_key: str | None = None,
    business_key: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> dict[str, Any]:
    """Dead letters, oldest first (the order they should be worked in)."""
    query = select(DeadLetter)
    if status:
        if status not in STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
        query = query.where(DeadLetter.status == status)
    if process_key:
        query = query.where(DeadLetter.process_key == process_key)
    if business_key:
        query = query.where(DeadLetter.business_key == business_key)
    with engine.read_session() as session:
        return page_of(session, query, (DeadLetter.created_at, DeadLetter.id), page, per_page, dead_letter_view)


def get_dead_letter(engine: Engine, dead_letter_id: str) -> dict[str, Any]:
    with engine.read_session() as session:
        row = session.get(DeadLetter, dead_letter_id)
        if row is None:
            raise NotFound(f"dead letter {dead_letter_id} does not exist")
        return dead_letter_view(row)


def _open(engine: Engine, dead_letter_id: str) -> DeadLetter:
    with engine.read_session() as session:
        row = session.get(DeadLetter, dead_letter_id)
        if row is None:
            raise NotFound(f"dead letter {dead_letter_id} does not exist")
        if row.status != DEAD_LETTER_OPEN:
            raise Conflict(f"dead letter {dead_letter_id} is already {row.status}")
        session.expunge(row)
        return row


@dataclass
class ReplayResult:
    dead_letter: dict[str, Any]
    start: StartResult


class ReplayFailed(InternalError):
    """The replayed start failed again: `error` is why; the dead letter stays open with one more attempt."""

    def __init__(self, error: BaseException, dead_letter_id: str):
        super().__init__(str(error))
        self.error = error
        self.dead_letter_id = dead_letter_id


def replay(
    engine: Engine,
    dead_letter_id: str,
    *,
    variables: dict[str, Any] | None = None,
    process_key: str | None = None,
    version: int | None = _UNSET,
    business_key: str | None = _UNSET,
    actor: str | None = None,
) -> ReplayResult:
    """Start the request again, with corrections if given (a new process key starts its latest version unless a
    version is given). On success the dead letter is closed as replayed with the instance's id."""
    letter = _open(engine, dead_letter_id)
    body = _excerpt(letter.variables)
    if body is not None and variables is None:
        raise InvalidInput(
            f"the variables of dead letter {dead_letter_id} were too large to start ({body['bytes']} bytes) and only "
            "an excerpt was kept: replay it with corrected variables"
        )
    key = process_key or letter.process_key
    if version is _UNSET:
        version = letter.version if process_key is None else None
    if business_key is _UNSET:
        business_key = letter.business_key
    try:
        started = start_instance(
            engine,
            key,
            variables=letter.variables if variables is None else variables,
            business_key=business_key,
            version=version,
            idempotency_key=letter.idempotency_key or f"dead-letter:{letter.id}",
            actor=actor,
            same_request_only=False,
        )
    except Exception as exc:
        error_type, message = error_text(exc)
        with engine.write_session() as session:
            session.execute(
                update(DeadLetter)
                .where(DeadLetter.id == dead_letter_id)
                .values(attempts=DeadLetter.attempts + 1, error_type=error_type, error=message, updated_at=utcnow())
            )
            session.commit()
        raise ReplayFailed(exc, dead_letter_id) from exc
    now = utcnow()
    with engine.write_session() as session:
        # Only an open letter is closed: a concurrent replay found the same instance (same idempotency key).
        session.execute(
            update(DeadLetter)
            .where(DeadLetter.id == dead_letter_id, DeadLetter.status == DEAD_LETTER_OPEN)
            .values(
                status=DEAD_LETTER_REPLAYED,
                instance_id=started.instance["id"],
                closed_at=now,
                closed_by=actor,
                updated_at=now,
            )
        )
        session.commit()
    return ReplayResult(get_dead_letter(engine, dead_letter_id), started)


_OPEN_LETTER = Statement(
    select(DeadLetter.id)
    .where(
        DeadLetter.idempotency_key == bindparam("idempotency_key"),
        DeadLetter.process_key == bindparam("process_key"),
        DeadLetter.status == DEAD_LETTER_OPEN,
    )
    .limit(1)
)


def close_started(
    engine: Engine, *, process_key: str, idempotency_key: str, instance_id: str, actor: str | None
) -> None:
    """The client's retry with the same Idempotency-Key started the order: its open dead letters are done."""
    # The usual case, read only on a plain connection: no session, no write lock (it runs for every start with a key).
    with engine.read_connection() as connection:
        if _OPEN_LETTER.scalar(connection, {"idempotency_key": idempotency_key, "process_key": process_key}) is None:
            return
    now = utcnow()
    with engine.write_session() as session:
        session.execute(
            update(DeadLetter)
            .where(
                DeadLetter.idempotency_key == idempotency_key,
                DeadLetter.process_key == process_key,
                DeadLetter.status == DEAD_LETTER_OPEN,
            )
            .values(
                status=DEAD_LETTER_REPLAYED,
                instance_id=instance_id,
                closed_at=now,
                closed_by=actor,
                comment="started by the client's retry with the same Idempotency-Key",
                updated_at=now,
            )
        )
        session.commit()


def discard(engine: Engine, dead_letter_id: str, *, comment: str | None = None, actor: str | None = None) -> dict:
    """Close a dead letter without starting anything (a duplicate, a test order, handled elsewhere)."""
    now = utcnow()
    with engine.write_session() as session:
        changed = session.execute(
            update(DeadLetter)
            .where(DeadLetter.id == dead_letter_id, DeadLetter.status == DEAD_LETTER_OPEN)
            .values(status=DEAD_LETTER_DISCARDED, closed_at=now, closed_by=actor, comment=comment, updated_at=now)
        ).rowcount
        session.commit()
    if not changed:
        _open(engine, dead_letter_id)  # raises NotFound or Conflict with the reason
    return get_dead_letter(engine, dead_letter_id)
