"""Bearer tokens for on-call staff, each carrying one role; the ledger keeps only their sha256.

A token is 32 random bytes (``secrets.token_urlsafe``), so its hash cannot be reversed by guessing: a slow
password hash (bcrypt, argon2) protects low-entropy secrets people choose, and buys nothing here, while a fast
hash lets a request find its token by an indexed lookup. Whoever reads the ledger learns no usable token.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import SecretStr

from runtime.audit import AuditLog
from runtime.store import Ledger

TOKEN_PREFIX = "bw_"  # noqa: S105 - a marker that makes leaked tokens easy to find, not a secret


class Role(StrEnum):
    RESPONDER = "responder"  # runs incidents: declare, confirm, dismiss, update, resolve, release held notices
    APPROVER = "approver"  # also approves (or rejects) authority notices
    ADMIN = "admin"  # everything, including making tokens


class Action(StrEnum):
    READ = "read"
    DECLARE = "declare"
    CONFIRM = "confirm"
    DISMISS = "dismiss"
    UPDATE = "update"
    RESOLVE = "resolve"
    RELEASE = "release"
    APPROVE = "approve"
    REJECT = "reject"
    MANAGE_TOKENS = "manage_tokens"


_RESPONDER = {
    Action.READ,
    Action.DECLARE,
    Action.CONFIRM,
    Action.DISMISS,
    Action.UPDATE,
    Action.RESOLVE,
    Action.RELEASE,
}
ALLOWED: dict[Role, frozenset[Action]] = {
    Role.RESPONDER: frozenset(_RESPONDER),
    Role.APPROVER: frozenset(_RESPONDER | {Action.APPROVE, Action.REJECT}),
    Role.ADMIN: frozenset(Action),
}


class Unauthenticated(Exception):
    """No token, or one the ledger does not know, or one expired or revoked."""


class NotEmpty(Exception):
    """A first token without an admin token, on a ledger that has tokens already."""


class Forbidden(Exception):
    """The token's role does not allow the action."""


@dataclass(frozen=True)
class Actor:
    name: str
    role: Role

    def require(self, action: Action) -> None:
        if action not in ALLOWED[self.role]:
            raise Forbidden(f"{self.name} ({self.role.value}) may not {action.value.replace('_', ' ')}")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_id(token_hash: str) -> str:
    """How a token is named without being shown: the start of its hash (the hash is of 32 random bytes)."""
    return token_hash[:12]


@dataclass(frozen=True)
class TokenInfo:
    id: str
    name: str
    role: Role
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> "TokenInfo":
        return cls(token_id(row.token_hash), row.name, Role(row.role), row.created_at, row.expires_at, row.revoked_at)


class Tokens:
    def __init__(
        self, ledger: Ledger, expires_in: timedelta = timedelta(days=30), audit_key: SecretStr | None = None
    ) -> None:
        self._ledger = ledger
        self._expires_in = expires_in
        self._audit_key = audit_key  # settings.audit.key, for the entries of made and revoked tokens

    def create(self, name: str, role: Role, expires_in: timedelta | None = None) -> str:
        """A new token, without asking who wants it (the demo and tests); people go through ``issue``."""
        token, values = self._new(name, role, expires_in)
        self._ledger.tokens.add_token(**values)
        return token

    def bootstrap(self, name: str, expires_in: timedelta | None = None) -> str:
        """The first token, an admin, made without a token; NotEmpty once the ledger has any token (even revoked
        ones: revoking every token must not reopen the door)."""
        token, values = self._new(name, Role.ADMIN, expires_in)
        if not self._ledger.tokens.add_first_token(**values):
            raise NotEmpty("the ledger has tokens already: making one needs an admin token")
        self._audit("created", values, by=f"{name} (first token, made without one)")
        return token

    def issue(self, by: Actor, name: str, role: Role, expires_in: timedelta | None = None) -> str:
        by.require(Action.MANAGE_TOKENS)
        token, values = self._new(name, role, expires_in)
        self._ledger.tokens.add_token(**values)
        self._audit("created", values, by=by.name)
        return token

    def revoke(self, by: Actor, name_or_id: str) -> list[TokenInfo]:
        by.require(Action.MANAGE_TOKENS)
        now = datetime.now(UTC)
        revoked = [TokenInfo.of(row) for row in self._ledger.tokens.revoke_tokens(name_or_id, now)]
        for info in revoked:
            data = {"token_hash": info.id, "name": info.name, "role": info.role.value}
            self._audit("revoked", data, by=by.name)
        return revoked

    def list(self, by: Actor) -> list[TokenInfo]:
        by.require(Action.MANAGE_TOKENS)
        return [TokenInfo.of(row) for row in self._ledger.tokens.tokens()]

    def identify(self, token: str | None) -> Actor:
        if not token:
            raise Unauthenticated("a bearer token is required")
        return self.identify_hash(hash_token(token))

    def identify_hash(self, token_hash: str) -> Actor:
        """The actor of a token known by its hash (a console session's); Unauthenticated once it is gone."""
        found = self._ledger.tokens.token(token_hash)
        if found is None:
            raise Unauthenticated("unknown token")
        if found.revoked_at is not None:
            raise Unauthenticated(f"the token was revoked at {found.revoked_at:%Y-%m-%d %H:%M} UTC")
        if found.expires_at is not None and found.expires_at <= datetime.now(UTC):
            raise Unauthenticated(
                f"the token expired at {found.expires_at:%Y-%m-%d %H:%M} UTC; ask an admin for a new one"
            )
        return Actor(found.name, Role(found.role))

    def _new(self, name: str, role: Role, expires_in: timedelta | None) -> tuple[str, dict[str, Any]]:
        if not name.strip():
            raise ValueError("name: must not be empty")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        values = {
            "token_hash": hash_token(token),
            "name": name,
            "role": role.value,
            "at": now,
            "expires_at": now + (expires_in or self._expires_in),
        }
        return token, values

    def _audit(self, what: str, values: dict[str, Any], by: str) -> None:
        """Who made or revoked which token, in the audit chain; the token's id, never the token."""
        ident = token_id(values["token_hash"])
        data = {"token": ident, "name": values["name"], "role": values["role"]}
        if "expires_at" in values:
            data["expires_at"] = values["expires_at"].isoformat()
        AuditLog(self._ledger, self._audit_key).append(f"token:{ident}:{what}", f"token_{what}", actor=by, data=data)
