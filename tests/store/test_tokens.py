"""On-call tokens and failed sign-ins on SQLite and PostgreSQL: expiry, revocation, the one first token, the
sign-in buckets every process shares."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from threading import Barrier

import pytest
from sqlalchemy import update

from producers.oncall.signin import SignIn, Throttled
from producers.oncall.tokens import Actor, Forbidden, NotEmpty, Role, Tokens, Unauthenticated, hash_token, token_id
from runtime.audit import AuditLog
from runtime.settings import OncallSettings
from runtime.store import Ledger
from runtime.store.tables import api_tokens


def test_a_token_expires(ledger: Ledger) -> None:
    tokens = Tokens(ledger, timedelta(days=30))
    token = tokens.create("alice", Role.RESPONDER)
    assert tokens.identify(token) == Actor("alice", Role.RESPONDER)
    [info] = tokens.list(Actor("root", Role.ADMIN))
    assert timedelta(days=29, hours=23) < info.expires_at - info.created_at <= timedelta(days=30)  # type: ignore[operator]
    with ledger.engine.begin() as conn:
        conn.execute(update(api_tokens).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    with pytest.raises(Unauthenticated, match="the token expired at"):
        tokens.identify(token)


def test_revoking_by_name_or_id_is_for_admins_and_audited(ledger: Ledger) -> None:
    tokens = Tokens(ledger)
    admin = Actor("root", Role.ADMIN)
    alice, bob = tokens.create("alice", Role.APPROVER), tokens.create("bob", Role.RESPONDER)
    with pytest.raises(Forbidden):
        tokens.revoke(Actor("alice", Role.APPROVER), "bob")
    [revoked] = tokens.revoke(admin, token_id(hash_token(bob)))
    assert revoked.name == "bob"
    with pytest.raises(Unauthenticated, match="the token was revoked at"):
        tokens.identify(bob)
    assert tokens.identify(alice).name == "alice"
    assert [i.name for i in tokens.revoke(admin, "alice")] == ["alice"]
    assert tokens.revoke(admin, "alice") == []  # nothing active left
    assert tokens.revoke(admin, "a") == []  # too short an id to stand for a hash
    entries = [e for e in AuditLog(ledger).entries() if e.kind == "token_revoked"]
    assert [(e.actor, e.data["name"]) for e in entries] == [("root", "bob"), ("root", "alice")]
    assert bob not in str([e.data for e in entries])


def test_making_a_token_needs_an_admin(ledger: Ledger) -> None:
    tokens = Tokens(ledger)
    with pytest.raises(Forbidden, match="may not manage tokens"):
        tokens.issue(Actor("a", Role.APPROVER), "b", Role.RESPONDER)
    token = tokens.issue(Actor("root", Role.ADMIN), "b", Role.RESPONDER, timedelta(hours=1))
    assert tokens.identify(token).role is Role.RESPONDER
    [created] = [e for e in AuditLog(ledger).entries() if e.kind == "token_created"]
    assert created.actor == "root" and created.data["name"] == "b"


def test_the_first_token_only_on_an_empty_ledger(ledger: Ledger) -> None:
    tokens = Tokens(ledger)
    first = tokens.bootstrap("root")
    assert tokens.identify(first) == Actor("root", Role.ADMIN)
    [made] = AuditLog(ledger).entries()
    assert made.kind == "token_created" and made.actor == "root (first token, made without one)"
    assert made.data["role"] == "admin" and first not in str(made.data)
    with pytest.raises(NotEmpty):
        tokens.bootstrap("again")
    tokens.revoke(Actor("root", Role.ADMIN), "root")
    with pytest.raises(NotEmpty):  # revoking every token does not open the door again
        tokens.bootstrap("again")


def test_two_first_tokens_at_once_one_wins(ledger_url: str) -> None:
    ledgers = [Ledger.connect(ledger_url) for _ in range(6)]
    start = Barrier(len(ledgers))

    def first(n: int) -> str | None:
        start.wait()
        try:
            return Tokens(ledgers[n]).bootstrap(f"root-{n}")
        except NotEmpty:
            return None

    try:
        with ThreadPoolExecutor(len(ledgers)) as pool:
            made = [t for t in pool.map(first, range(len(ledgers))) if t is not None]
        assert len(made) == 1
        assert len(ledgers[0].tokens.tokens()) == 1
    finally:
        for one in ledgers:
            one.close()


def test_failed_sign_ins_are_throttled_per_address_then_overall(ledger: Ledger) -> None:
    now = [1_000_000.0]
    settings = OncallSettings(
        signin_failures_per_minute=6,
        signin_failure_burst=3,
        signin_failures_overall_per_minute=6,
        signin_failure_overall_burst=5,
    )
    tokens = Tokens(ledger)
    good = tokens.create("alice", Role.RESPONDER)
    signin = SignIn(tokens, ledger, settings, clock=lambda: now[0])
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            signin.identify("bw_guess", "10.0.0.1")
    assert signin.identify(good, "10.0.0.1").name == "alice"  # a good token is never counted
    with pytest.raises(Unauthenticated):
        signin.identify("bw_guess", "10.0.0.1")  # the burst's third
    with pytest.raises(Throttled) as throttled:
        signin.identify("bw_guess", "10.0.0.1")
    assert throttled.value.retry_after == 10  # one failure per 10 s once the burst is spent
    with pytest.raises(Throttled):
        signin.identify(good, "10.0.0.1")  # throttled addresses are not told which tokens are good
    assert signin.identify(good, "10.0.0.2").name == "alice"
    now[0] += 10
    with pytest.raises(Unauthenticated):
        signin.identify("bw_guess", "10.0.0.1")
    for _ in range(2):  # overall: 4 failures so far, a burst of 5
        with pytest.raises(Unauthenticated):
            signin.identify("bw_guess", "10.0.0.3")
    with pytest.raises(Throttled):
        signin.identify("bw_guess", "10.0.0.4")
    now[0] += 120
    assert signin.identify(good, "10.0.0.4").name == "alice"
    with pytest.raises(Unauthenticated, match="a bearer token is required"):
        signin.identify(None, "10.0.0.5")


def test_a_ledger_made_before_tokens_expired_gets_the_column(ledger_url: str) -> None:
    old = Ledger.connect(ledger_url)
    with old.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE api_tokens DROP COLUMN expires_at")
    old.close()
    ledger = Ledger.connect(ledger_url)
    try:
        token = Tokens(ledger).create("alice", Role.RESPONDER)
        assert Tokens(ledger).identify(token).name == "alice"
    finally:
        ledger.close()
