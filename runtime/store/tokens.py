"""On-call API tokens (kept as sha256 hashes) and failed sign-ins (a token bucket per key, kept in
the ledger so that every process counts the same failures)."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, update

from runtime.store.db import Store, dialect_insert
from runtime.store.tables import api_tokens, signin_buckets


class TokenStore(Store):
    def add_token(
        self, token_hash: str, *, name: str, role: str, at: datetime, expires_at: datetime | None = None
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                api_tokens.insert().values(
                    token_hash=token_hash, name=name, role=role, created_at=at, expires_at=expires_at
                )
            )

    def add_first_token(
        self, token_hash: str, *, name: str, role: str, at: datetime, expires_at: datetime | None = None
    ) -> bool:
        """Add a token only when there is none at all (ever made, revoked or not); False when there is one.
        Two callers racing: one INSERT ... WHERE NOT EXISTS wins. SQLite runs the statement under its one write
        lock; PostgreSQL's read-committed snapshot would let both in, so the table is locked against itself."""
        values = {"token_hash": token_hash, "name": name, "role": role, "created_at": at, "expires_at": expires_at}
        source = select(*(bindparam(k, v, type_=api_tokens.c[k].type) for k, v in values.items())).where(
            ~select(api_tokens.c.token_hash).exists()
        )
        with self.engine.begin() as conn:
            if self.engine.dialect.name == "postgresql":
                conn.exec_driver_sql("LOCK TABLE api_tokens IN SHARE ROW EXCLUSIVE MODE")
            stmt = api_tokens.insert().from_select(list(values), source).returning(api_tokens.c.token_hash)
            return conn.execute(stmt).first() is not None  # rowcount of INSERT ... SELECT is not reliable

    def token(self, token_hash: str) -> Any:
        """The token's row (revoked or expired ones too), or None."""
        with self.engine.connect() as conn:
            return conn.execute(select(api_tokens).where(api_tokens.c.token_hash == token_hash)).first()

    def tokens(self) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(api_tokens).order_by(api_tokens.c.created_at, api_tokens.c.name)))

    def revoke_tokens(self, name_or_hash_prefix: str, at: datetime) -> list[Any]:
        """Revoke the active tokens with this name, or whose hash starts with this id; the rows revoked."""
        which = api_tokens.c.name == name_or_hash_prefix
        if len(name_or_hash_prefix) >= 8:  # a shorter id could match many tokens' hashes
            which = or_(which, api_tokens.c.token_hash.startswith(name_or_hash_prefix.lower(), autoescape=True))
        with self.engine.begin() as conn:
            rows = list(conn.execute(select(api_tokens).where(which, api_tokens.c.revoked_at.is_(None))))
            if rows:
                conn.execute(
                    update(api_tokens)
                    .where(api_tokens.c.token_hash.in_([r.token_hash for r in rows]))
                    .values(revoked_at=at)
                )
        return rows

    def signin_tats(self, keys: Sequence[str]) -> dict[str, float]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(signin_buckets).where(signin_buckets.c.key.in_(keys)))
            return {row.key: row.tat for row in rows}

    def signin_failed(self, key: str, now: float, interval: float) -> None:
        """Count one failure: the bucket's full-again time moves ``interval`` on from itself or now, whichever is
        later, in one statement (no read-then-write race between processes); buckets full again are dropped."""
        with self.engine.begin() as conn:
            greatest = func.greatest if conn.dialect.name == "postgresql" else func.max
            stmt = dialect_insert(conn, signin_buckets).values(key=key, tat=now + interval)
            stmt = stmt.on_conflict_do_update(
                index_elements=[signin_buckets.c.key], set_={"tat": greatest(signin_buckets.c.tat, now) + interval}
            )
            conn.execute(stmt)
            conn.execute(delete(signin_buckets).where(signin_buckets.c.tat < now))
