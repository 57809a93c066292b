"""Commands that run things: ``up``, ``demo``, ``kafka up|down|status``, ``run SERVICE``."""

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from breachwire.services import SERVICES
from runtime.settings import Settings


def cmd_kafka(args: argparse.Namespace, settings: Settings) -> int:
    from breachwire.dev.broker import BrokerError

    try:
        return _kafka(args, settings)
    except BrokerError as exc:
        print(f"breachwire: {exc}", file=sys.stderr)
        return 1


def _kafka(args: argparse.Namespace, settings: Settings) -> int:
    from breachwire.dev import broker
    from runtime.kafka import ensure_topics, is_answering, list_topics
    from runtime.topics import topics_for

    local = settings.broker.model_copy(update={"auth": True}) if args.auth else settings.broker
    if args.action == "up":
        if not broker.is_fetched(local):
            print(f"fetching Kafka {local.version} into {local.cache_dir} (once)", flush=True)
        broker.fetch(local)
        started = broker.start(local)
        kafka = broker.client_settings(local, settings.kafka) if local.auth else settings.kafka
        made = ensure_topics(kafka, topics_for(kafka).partitions(kafka))
        state = "started" if started else "already running, reused"
        print(f"Kafka {broker.address(local)}: {state}; {len(made)} topics created")
        if local.auth:
            print(_auth_instructions(broker.credentials_file(local)))
        return 0
    if args.action == "down":
        stopped = broker.stop(local)
        print("Kafka stopped" if stopped else "no broker started by breachwire was running")
        return 0
    kafka = broker.client_settings(local, settings.kafka) if local.auth else settings.kafka
    if not is_answering(kafka):
        print(f"Kafka {kafka.bootstrap_servers}: not running")
        return 1
    pid = broker.running_pid(local)
    print(f"Kafka {kafka.bootstrap_servers} ({kafka.security_protocol}): running" + (f" (pid {pid})" if pid else ""))
    for topic in list_topics(kafka):
        print(f"  {topic}")
    return 0


def _auth_instructions(credentials: Path) -> str:
    return (
        "Clients sign in with SCRAM-SHA-512 over TLS; the address, user, password and CA certificate are in\n"
        f"  {credentials}\n"
        f"Run the services on it with --config {credentials} (or copy its [kafka] lines into your settings file)."
    )


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from breachwire.services import run_service

    run_service(settings, args.service)
    return 0


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from breachwire.dev import broker
    from breachwire.stack import Stack, wait_for_http
    from runtime.datamap import load_datamap
    from runtime.kafka import ensure_topics
    from runtime.topics import topics_for

    if settings.signing.is_demo:
        # Whoever knows the key can put notices on Kafka that the notifier sends: the demo's is public.
        print(
            "breachwire: signing.notice_key is the demo key; set BREACHWIRE_SIGNING__NOTICE_KEY (for example to "
            "`openssl rand -hex 32`), see docs/operations.md",
            file=sys.stderr,
        )
        return 2
    datamap = load_datamap(settings.datamap_dir)
    started = broker.start(settings.broker)
    print(f"Kafka at {broker.address(settings.broker)} ({'started' if started else 'reused'})", flush=True)
    ensure_topics(settings.kafka, topics_for(settings.kafka).partitions(settings.kafka))
    env = {"BREACHWIRE_CONFIG": args.config} if args.config else {}
    stack = Stack(env)
    stack.start()
    base = f"http://{settings.intake.host}:{settings.intake.port}"
    try:
        wait_for_http(f"{base}/healthz", 60, stack)
        print(f"\nIntake listening on {base}")
        print("POST /v1/subprocessors/<id>/reports, signed per Standard Webhooks with the subprocessor's secret:")
        for sub in datamap.subprocessors.values():
            if sub.webhook_secrets:
                print(f"  {sub.id:<22} {sub.webhook_secrets[0].get_secret_value()}")
        console = f"http://{settings.console.host}:{settings.console.port}"
        wait_for_http(f"{console}/healthz", 60, stack)
        print(f"Console on {console}/ (a token to sign in: `breachwire incident token create --name N --role R`)")
        print(f"Ledger: {settings.ledger.url}\nCtrl-C stops everything.", flush=True)
        while not (dead := stack.exited()):
            time.sleep(0.5)
        print(f"services exited: {dead}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping…")
        return 0
    finally:
        stack.stop()
        if started:
            broker.stop(settings.broker)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from breachwire.demo import run_demo

    return run_demo(settings, Path(args.out))


def register(sub: "argparse._SubParsersAction[Any]") -> None:
    p = sub.add_parser("up", help="run the whole stack in the foreground on the embedded defaults")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("demo", help="run the end-to-end demo: a signed report in, every notice out")
    p.add_argument("--out", default="demo-output", help="where received emails and webhooks are written")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("kafka", help="the local Kafka broker: up, down, status")
    p.add_argument("action", choices=["up", "down", "status"])
    p.add_argument(
        "--auth",
        action="store_true",
        help="the broker that serves clients only over SASL_SSL (SCRAM-SHA-512), on its own ports and data folder",
    )
    p.set_defaults(func=cmd_kafka)

    p = sub.add_parser("run", help="run one service in the foreground (as containers do)")
    p.add_argument("service", choices=list(SERVICES))
    p.set_defaults(func=cmd_run)
