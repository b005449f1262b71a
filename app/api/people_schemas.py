"""Bodies of the people endpoints: users, groups and API tokens."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from .schemas import Strict

Role = Literal["admin", "analyst", "approver", "operator", "integrator"]


class UserIn(Strict):
    username: str = Field(min_length=1, max_length=150)
    password: str | None = Field(default=None, min_length=8, max_length=500, description="None for a service account")
    roles: list[Role] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    displayName: str | None = Field(default=None, max_length=255)
    email: str | None = Field(default=None, max_length=255)
    service: bool = Field(default=False, description="A service account: API tokens only, no login")


class UserPatch(Strict):
    password: str | None = Field(default=None, min_length=8, max_length=500)
    roles: list[Role] | None = None
    groups: list[str] | None = None
    active: bool | None = None


class User(BaseModel):
    username: str
    displayName: str | None
    email: str | None
    roles: list[str]
    groups: list[str]
    service: bool
    active: bool
    createdAt: str | None


class UserList(BaseModel):
    items: list[User]


class Me(BaseModel):
    username: str
    roles: list[str]
    groups: list[str]


class Group(BaseModel):
    id: str
    name: str | None
    members: list[str]


class GroupList(BaseModel):
    items: list[Group]


class TokenIn(Strict):
    name: str = Field(min_length=1, max_length=150, description="What the token is for, e.g. 'erp-integration'")
    days: int | None = Field(default=None, ge=1, le=3650, description="Expires after this many days (default: never)")


class Token(BaseModel):
    id: str
    username: str
    name: str
    prefix: str
    createdAt: str | None
    expiresAt: str | None
    revokedAt: str | None


class NewToken(Token):
    token: str = Field(description="The token itself: shown once, keep it secret")


class TokenList(BaseModel):
    items: list[Token]
