"""Dead notices: ``breachwire dlq list`` and ``breachwire dlq replay [--notice ID | --all]``.

The ledger is where a dead notice is kept whole; replaying one makes it requested again (attempts from zero)
and publishes it to its topic (``notices.requested``, or ``notices.alerts`` for a customer alert), so the
notifier delivers it as it would a new one. It goes out as it was signed: one whose signature does not verify (a
notice breachwire never made) is not replayed.
"""

import argparse
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from breachwire.progress import Progress
from runtime.settings import Settings

if TYPE_CHECKING:
    from runtime.notice_signing import NoticeSigner
    from runtime.store import Ledger
    from schemas import NoticeRequested


@dataclass
class Replay:
    """What a replay did: the notices requested again, and the one Kafka did not take (it stopped there)."""

    replayed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    failed: tuple[str, str] | None = None


def replay_dead(
    ledger: "Ledger",
    publish: "Callable[[NoticeRequested], None]",
    notice_ids: Iterable[str],
    *,
    signer: "NoticeSigner",
) -> Replay:
    """Request dead notices again: each made requested in the ledger, then published; one Kafka refuses is made
    dead again and ends the replay. ``publish`` raises ``runtime.kafka.PublishError`` when not acknowledged.
    A notice whose signature does not verify (one breachwire never made) stays dead, in ``refused``."""
    from runtime.kafka import PublishError
    from runtime.notice_signing import SignatureError

    outcome = Replay()
    for nid in notice_ids:
        notice = ledger.delivery.reset_for_replay(nid)
        if notice is None:
            outcome.skipped.append(nid)  # not dead (any more): replayed by someone else, or never dead
            continue
        try:
            signer.verify(notice)
        except SignatureError as exc:
            ledger.delivery.undo_replay(nid)
            outcome.refused.append((nid, str(exc)))
            continue
        try:
            publish(notice)
        except PublishError as exc:
            ledger.delivery.undo_replay(nid)
            outcome.failed = (nid, str(exc))
            return outcome
        outcome.replayed.append(nid)
    return outcome


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from runtime.store import Ledger

    ledger = Ledger.connect(settings.ledger.url)
    try:
        dead = ledger.delivery.dead_notices()
    finally:
        ledger.close()
    if not dead:
        print("no dead notices")
        return 0
    print(f"{'notice':<28} {'recipient':<24} {'channel':<8} {'tries':>5}  last error")
    for row in dead:
        error = " ".join((row.last_error or "").split())[:80]
        print(f"{row.notice_id:<28} {row.recipient_id[:24]:<24} {row.channel:<8} {row.attempts:>5}  {error}")
    print(f"{len(dead)} dead notice(s); `breachwire dlq replay --notice ID` or `--all` sends them again")
    return 0


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from kafka.errors import KafkaError

    from runtime.kafka import make_producer, publish
    from runtime.notice_signing import NoticeSigner
    from runtime.store import Ledger
    from runtime.topics import topics_for

    signer = NoticeSigner.from_settings(settings.signing)
    ledger = Ledger.connect(settings.ledger.url)
    producer = None
    try:
        ids = [row.notice_id for row in ledger.delivery.dead_notices()] if args.all else [args.notice]
        if not args.all and ids[0] not in {row.notice_id for row in ledger.delivery.dead_notices()}:
            print(f"breachwire: {args.notice}: no such dead notice (see `breachwire dlq list`)", file=sys.stderr)
            return 1
        if not ids:
            print("no dead notices")
            return 0
        try:
            producer = made = make_producer(settings.kafka)
        except KafkaError as exc:
            where = settings.kafka.bootstrap_servers
            print(f"breachwire: nothing replayed: no Kafka broker answers at {where}: {exc}", file=sys.stderr)
            return 1
        topics = topics_for(settings.kafka)

        def send(notice: "NoticeRequested") -> None:
            publish(made, topics.requested_for(notice), notice.recipient_id, notice, settings.kafka.ack_timeout_s)

        with Progress("replaying dead notices", len(ids)) as progress:
            outcome = replay_dead(ledger, send, progress.over(ids), signer=signer)
        for nid in outcome.replayed:
            print(f"replayed {nid}")
        for nid, reason in outcome.refused:
            print(f"breachwire: {nid}: not replayed, {reason} (it was not made by breachwire)", file=sys.stderr)
        if outcome.failed is not None:
            nid, error = outcome.failed
            print(f"breachwire: {nid}: not replayed, Kafka did not acknowledge: {error}", file=sys.stderr)
            return 1
        print(f"{len(outcome.replayed)} notice(s) requested again")
        return 1 if outcome.refused else 0
    finally:
        if producer is not None:
            producer.close()
        ledger.close()


def register(sub: "argparse._SubParsersAction[Any]") -> None:
    p = sub.add_parser("dlq", help="dead notices: list them, replay them")
    actions = p.add_subparsers(dest="dlq_action", required=True, metavar="ACTION")
    a = actions.add_parser("list", help="every dead notice with its last error")
    a.set_defaults(func=cmd_list)
    a = actions.add_parser("replay", help="request dead notices again")
    which = a.add_mutually_exclusive_group(required=True)
    which.add_argument("--notice", metavar="ID", help="one dead notice")
    which.add_argument("--all", action="store_true", help="every dead notice")
    a.set_defaults(func=cmd_replay)
