"""Console sign-in: an on-call token (``producers.oncall.tokens``) exchanged for a server-side session.

The browser holds only a random session id (HttpOnly, SameSite=Strict, Secure over https); the ledger keeps its
sha256, the hash of the token it was opened with, a CSRF token and when it expires. Every request looks the token
up again, so a revoked token ends its sessions at once, and the role is the token's, enforced as the API does.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update

from producers.oncall.signin import SignIn
from producers.oncall.tokens import Actor, Tokens, Unauthenticated, hash_token
from runtime.settings import ConsoleSettings, OncallSettings
from runtime.store import Ledger
from runtime.store.tables import console_codes, console_sessions

CODE_PREFIX = "bwc_"  # a one-time sign-in code, told apart from a token at a glance


@dataclass(frozen=True)
class Session:
    actor: Actor
    csrf: str


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def same(given: str | None, expected: str) -> bool:
    """A constant-time comparison of a submitted CSRF token."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class Sessions:
    def __init__(self, ledger: Ledger, settings: ConsoleSettings, oncall: OncallSettings | None = None) -> None:
        self._ledger = ledger
        self._engine = ledger.engine
        self._tokens = Tokens(ledger)
        self._signin = SignIn(self._tokens, ledger, oncall or OncallSettings())
        self._settings = settings

    def one_time_code(self, token: str, ttl_s: int = 86_400, now: datetime | None = None) -> str:
        """A code that opens one session with ``token``'s role, once, within ``ttl_s``: what a demo or a
        hand-over prints instead of the token itself."""
        self._tokens.identify(token)  # (a live token, or Unauthenticated)
        code = CODE_PREFIX + secrets.token_urlsafe(32)
        at = now or datetime.now(UTC)
        with self._engine.begin() as conn:
            conn.execute(
                console_codes.insert().values(
                    code_hash=_hash(code), token_hash=hash_token(token), expires_at=at + timedelta(seconds=ttl_s)
                )
            )
        return code

    def _redeem(self, code: str, at: datetime) -> str | None:
        """The token hash of an unused, unexpired one-time code, which is used up by this call."""
        key = console_codes.c.code_hash == _hash(code)
        with self._engine.begin() as conn:
            taken = conn.execute(
                update(console_codes)
                .where(key, console_codes.c.used_at.is_(None), console_codes.c.expires_at > at)
                .values(used_at=at)
            )
            if taken.rowcount != 1:
                return None
            return str(conn.execute(select(console_codes.c.token_hash).where(key)).scalar_one())

    def _identify(self, token: str, at: datetime) -> tuple[Actor, str]:
        if token.startswith(CODE_PREFIX):
            token_hash = self._redeem(token, at)
            if token_hash is None:
                raise Unauthenticated("unknown, used or expired sign-in code")
            return self._tokens.identify_hash(token_hash), token_hash
        return self._tokens.identify(token), hash_token(token)

    def open(self, token: str, now: datetime | None = None, client: str = "unknown") -> tuple[str, Session]:
        """A new session for a valid token or one-time code: (the cookie's session id, the session). Raises
        Unauthenticated, or Throttled after too many failed sign-ins (counted with the API's and the CLI's)."""
        token, at = token.strip(), now or datetime.now(UTC)
        actor, token_hash = self._signin.guarded(client, lambda: self._identify(token, at))
        session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self._engine.begin() as conn:
            conn.execute(delete(console_sessions).where(console_sessions.c.expires_at < at))
            conn.execute(
                console_sessions.insert().values(
                    session_hash=_hash(session_id),
                    token_hash=token_hash,
                    csrf=csrf,
                    created_at=at,
                    seen_at=at,
                    expires_at=at + timedelta(seconds=self._settings.session_ttl_s),
                )
            )
        return session_id, Session(actor, csrf)

    def find(self, session_id: str | None, now: datetime | None = None) -> Session | None:
        """The live session of a cookie: None when unknown, expired, idle too long or its token revoked."""
        if not session_id:
            return None
        at = now or datetime.now(UTC)
        key = console_sessions.c.session_hash == _hash(session_id)
        with self._engine.connect() as conn:
            row = conn.execute(select(console_sessions).where(key)).first()
        if row is None:
            return None
        idle_until = row.seen_at + timedelta(seconds=self._settings.idle_timeout_s)
        try:
            actor = self._tokens.identify_hash(row.token_hash)  # revoked or expired: the session ends
        except Unauthenticated:
            actor = None
        if at >= row.expires_at or at >= idle_until or actor is None:
            self.close(session_id)
            return None
        if at - row.seen_at > timedelta(seconds=30):  # (not a write on every request)
            with self._engine.begin() as conn:
                conn.execute(update(console_sessions).where(key).values(seen_at=at))
        return Session(actor, row.csrf)

    def close(self, session_id: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(console_sessions).where(console_sessions.c.session_hash == _hash(session_id)))
