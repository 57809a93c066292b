"""Bearer tokens for on-call staff, each carrying one role; the ledger keeps only their sha256.

A token is 32 random bytes (``secrets.token_urlsafe``), so its hash cannot be reversed by guessing: a slow
password hash (bcrypt, argon2) protects low-entropy secrets people choose, and buys nothing here, while a fast
hash lets a request find its token by an indexed lookup. Whoever reads the ledger learns no usable token.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from runtime.ledger import Ledger

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
    """No token, or one the ledger does not know."""


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


class Tokens:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def create(self, name: str, role: Role) -> str:
        """A new token; it is shown once and only its hash is kept."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self._ledger.add_token(hash_token(token), name=name, role=role.value, at=datetime.now(UTC))
        return token

    def identify(self, token: str | None) -> Actor:
        if not token:
            raise Unauthenticated("a bearer token is required")
        found = self._ledger.token(hash_token(token))
        if found is None:
            raise Unauthenticated("unknown or revoked token")
        return Actor(found[0], Role(found[1]))
