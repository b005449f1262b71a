"""People: users, groups, roles and API tokens, and the caller a request acts as.

Passwords are hashed with werkzeug's scrypt; API tokens are 256-bit random strings of which only a sha256 is kept
(they are not guessable, so a slow hash would only slow every request down).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from processes.core.engine import Engine
from processes.core.models import ROLES, ApiToken, Group, Membership, PageSession, User, iso, utcnow
from processes.errors import Conflict, InvalidInput, NotFound

TOKEN_PREFIX = "of_"
MIN_PASSWORD_LENGTH = 8
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,149}$")
# Checked against when the user does not exist, so a wrong username takes as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not a password", method="scrypt")


@dataclass(frozen=True)
class Caller:
    """Who a request acts as: a user with roles and groups. Admins may do everything."""

    name: str
    roles: frozenset[str] = field(default_factory=frozenset)
    groups: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def has_role(self, *roles: str) -> bool:
        return self.is_admin or bool(self.roles.intersection(roles))


def _check_name(kind: str, name: str) -> str:
    if not _NAME.match(name or ""):
        raise InvalidInput(f"{kind} {name!r}: use letters, digits and . _ @ - (at most 150 characters)")
    return name


def _check_roles(roles: Iterable[str]) -> list[str]:
    roles = sorted(set(roles))
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise InvalidInput(f"unknown role(s) {', '.join(unknown)}; roles are {', '.join(ROLES)}")
    return roles


def _check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return password


def _groups_of(session: Session, user_id: str) -> list[str]:
    return sorted(session.scalars(select(Membership.group_id).where(Membership.user_id == user_id)))


def _set_groups(session: Session, user: User, groups: Iterable[str]) -> None:
    wanted = {_check_name("group", g) for g in groups}
    for group_id in wanted:
        if session.get(Group, group_id) is None:
            session.add(Group(id=group_id, name=group_id))
    session.flush()
    session.execute(delete(Membership).where(Membership.user_id == user.id))
    session.add_all(Membership(user_id=user.id, group_id=g) for g in sorted(wanted))


def user_view(session: Session, user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "displayName": user.display_name,
        "email": user.email,
        "roles": list(user.roles or []),
        "groups": _groups_of(session, user.id),
        "service": user.service,
        "active": user.active,
        "createdAt": iso(user.created_at),
    }


def add_user(
    engine: Engine,
    username: str,
    *,
    password: str | None = None,
    roles: Iterable[str] = (),
    groups: Iterable[str] = (),
    display_name: str | None = None,
    email: str | None = None,
    service: bool = False,
) -> dict[str, Any]:
    """A person (with a password, to log in to the pages) or a service account (no password, API tokens only)."""
    _check_name("username", username)
    roles = _check_roles(roles)
    if not service:
        _check_password(password or "")
    elif password:
        raise InvalidInput("a service account has no password: create an API token for it")
    with engine.write_session() as session:
        if session.scalar(select(User.id).where(User.username == username)):
            raise Conflict(f"user {username} already exists")
        user = User(
            username=username,
            display_name=display_name or username,
            email=email,
            password_hash=generate_password_hash(password, method="scrypt") if password else None,
            roles=roles,
            service=service,
        )
        session.add(user)
        session.flush()
        _set_groups(session, user, groups)
        session.commit()
        return user_view(session, user)


def update_user(
    engine: Engine,
    username: str,
    *,
    password: str | None = None,
    roles: Iterable[str] | None = None,
    groups: Iterable[str] | None = None,
    active: bool | None = None,
) -> dict[str, Any]:
    with engine.write_session() as session:
        user = _user(session, username)
        if password is not None:
            if user.service:
                raise InvalidInput("a service account has no password: create an API token for it")
            user.password_hash = generate_password_hash(_check_password(password), method="scrypt")
        if roles is not None:
            user.roles = _check_roles(roles)
        if groups is not None:
            _set_groups(session, user, groups)
        if active is not None:
            user.active = active
        session.commit()
        return user_view(session, user)


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"user {username} does not exist")
    return user


def get_user(engine: Engine, username: str) -> dict[str, Any]:
    with engine.read_session() as session:
        return user_view(session, _user(session, username))


def list_users(engine: Engine) -> list[dict[str, Any]]:
    with engine.read_session() as session:
        return [user_view(session, u) for u in session.scalars(select(User).order_by(User.username))]


def list_groups(engine: Engine) -> list[dict[str, Any]]:
    with engine.read_session() as session:
        members: dict[str, list[str]] = {}
        rows = session.execute(select(Membership.group_id, User.username).join(User, User.id == Membership.user_id))
        for group_id, username in rows:
            members.setdefault(group_id, []).append(username)
        return [
            {"id": g.id, "name": g.name, "members": sorted(members.get(g.id, []))}
            for g in session.scalars(select(Group).order_by(Group.id))
        ]


def has_users(engine: Engine) -> bool:
    with engine.read_session() as session:
        return session.scalar(select(User.id).limit(1)) is not None


def _caller(session: Session, user: User) -> Caller:
    return Caller(user.username, frozenset(user.roles or []), frozenset(_groups_of(session, user.id)))


def login(engine: Engine, username: str, password: str) -> Caller | None:
    """The caller for a username and password, or None (same time spent whether the user exists or not)."""
    with engine.read_session() as session:
        user = session.scalar(select(User).where(User.username == username))
        stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
        if not check_password_hash(stored, password or "") or user is None or not user.active or not user.password_hash:
            return None
        return _caller(session, user)


def caller_named(engine: Engine, username: str) -> Caller | None:
    """The caller for a logged-in session's user, or None when the user is gone or deactivated."""
    with engine.read_session() as session:
        user = session.scalar(select(User).where(User.username == username))
        return _caller(session, user) if user is not None and user.active else None


PAGE_SESSION_HOURS = 12


def open_page_session(engine: Engine, username: str, hours: float = PAGE_SESSION_HOURS) -> str:
    """A new login to the pages; returns the secret the session cookie carries (only its sha256 is kept)."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    with engine.write_session() as session:
        user = _user(session, username)
        session.add(
            PageSession(id=_digest(secret), user_id=user.id, created_at=now, expires_at=now + timedelta(hours=hours))
        )
        session.commit()
    return secret


def caller_for_page_session(engine: Engine, secret: str) -> Caller | None:
    """The caller of a page session that is neither ended nor expired, whose user is still active."""
    with engine.read_session() as session:
        row = session.get(PageSession, _digest(secret or ""))
        if row is None or row.ended_at is not None or row.expires_at <= utcnow():
            return None
        user = session.get(User, row.user_id)
        return _caller(session, user) if user is not None and user.active else None


def end_page_session(engine: Engine, secret: str) -> None:
    """Log out: the session's cookie no longer works, wherever a copy of it is."""
    with engine.write_session() as session:
        row = session.get(PageSession, _digest(secret or ""))
        if row is not None and row.ended_at is None:
            row.ended_at = utcnow()
        session.commit()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(engine: Engine, username: str, name: str, *, days: int | None = None) -> dict[str, Any]:
    """A new API token for a user; the token itself is in the answer and never again."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with engine.write_session() as session:
        user = _user(session, username)
        row = ApiToken(
            user_id=user.id,
            name=name or "token",
            token_hash=_digest(token),
            prefix=token[:10],
            expires_at=utcnow() + timedelta(days=days) if days else None,
        )
        session.add(row)
        session.commit()
        return {**_token_view(row, username), "token": token}


def _token_view(row: ApiToken, username: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "username": username,
        "name": row.name,
        "prefix": row.prefix,
        "createdAt": iso(row.created_at),
        "expiresAt": iso(row.expires_at),
        "revokedAt": iso(row.revoked_at),
    }


def list_tokens(engine: Engine, username: str) -> list[dict[str, Any]]:
    with engine.read_session() as session:
        user = _user(session, username)
        rows = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at))
        return [_token_view(row, username) for row in rows]


def revoke_token(engine: Engine, token_id: str) -> dict[str, Any]:
    with engine.write_session() as session:
        row = session.get(ApiToken, token_id)
        if row is None:
            raise NotFound(f"token {token_id} does not exist")
        row.revoked_at = row.revoked_at or utcnow()
        username = session.get(User, row.user_id).username
        session.commit()
        return _token_view(row, username)


# Every REST call with a per-user token asks this: one Core query on a plain connection, a row per group of the
# user (ORM entities, a session and a second query made it about 1.8 ms of CPU per call, ten times the rest of a
# small request).
_TOKEN_CALLER = (
    select(ApiToken.revoked_at, ApiToken.expires_at, User.username, User.roles, User.active, Membership.group_id)
    .join(User, User.id == ApiToken.user_id)
    .outerjoin(Membership, Membership.user_id == User.id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)


def caller_for_token(engine: Engine, token: str, now: datetime | None = None) -> Caller | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    now = now or utcnow()
    with engine.read_connection() as connection:
        rows = connection.execute(_TOKEN_CALLER, {"token_hash": _digest(token)}).all()
    if not rows:
        return None
    row = rows[0]
    if row.revoked_at or (row.expires_at and row.expires_at <= now) or not row.active:
        return None
    groups = frozenset(r.group_id for r in rows if r.group_id is not None)
    return Caller(row.username, frozenset(row.roles or []), groups)


# The demo people `make run` creates on an empty database (listed in the README). Never on by default.
DEMO_PASSWORD = "orderflow-demo"
DEMO_USERS: tuple[tuple[str, list[str], list[str], str], ...] = (
    ("admin", ["admin"], [], "Ada Admin"),
    ("anna", ["analyst"], [], "Anna Analyst"),
    ("sam", ["approver"], ["sales"], "Sam Sales"),
    ("fiona", ["approver"], ["finance"], "Fiona Finance"),
    ("mike", ["approver"], ["management"], "Mike Manager"),
    ("olga", ["operator", "approver"], ["operations", "reviewers"], "Olga Operations"),
    ("ivan", ["integrator"], [], "Ivan Integrator"),
)


def add_demo_users(engine: Engine) -> list[str]:
    """Create the demo people when nobody exists yet; returns who was created."""
    if has_users(engine):
        return []
    for username, roles, groups, display_name in DEMO_USERS:
        add_user(engine, username, password=DEMO_PASSWORD, roles=roles, groups=groups, display_name=display_name)
    return [u[0] for u in DEMO_USERS]
