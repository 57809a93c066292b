"""Commands that run things: ``up``, ``demo``, ``kafka up|down|status``, ``run SERVICE``."""

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from breachwire.services import SERVICES
from runtime.settings import BrokerSettings, KafkaSettings, Settings


def cmd_kafka(args: argparse.Namespace, settings: Settings) -> int:
    from breachwire.dev.broker import BrokerError

    try:
        return _kafka(args, settings)
    except BrokerError as exc:
        print(f"breachwire: {exc}", file=sys.stderr)
        return 1


def _kafka(args: argparse.Namespace, settings: Settings) -> int:
    from breachwire.dev import broker
    from runtime.kafka import ensure_topics, min_insync_replicas
    from runtime.topics import topics_for

    local = settings.broker.model_copy(update={"auth": True}) if args.auth else settings.broker
    if args.brokers is not None:
        local = local.model_copy(update={"brokers": args.brokers})
    cluster = local.model_copy(update={"brokers": broker.cluster_size(local)})
    if args.action == "up":
        broker.nodes(local)  # refuses what it cannot run (--auth with --brokers above 1) before any download
        if not broker.is_fetched(local):
            print(f"fetching Kafka {local.version} into {local.cache_dir} (once)", flush=True)
        broker.fetch(local)
        started = broker.start(local)
        kafka = _clients(local, settings)
        made = ensure_topics(kafka, topics_for(kafka).partitions(kafka))
        state = "started" if started else "already running, reused"
        shape = f" ({local.brokers} nodes)" if local.brokers > 1 else ""
        print(f"Kafka {broker.address(local)}{shape}: {state}; {len(made)} topics created")
        if local.brokers > 1:
            replicas = kafka.replication_factor or min(3, local.brokers)
            print(
                f"Topics are replicated to {replicas} nodes, min.insync.replicas {min_insync_replicas(replicas)}. "
                f"Services reach the cluster with\n  BREACHWIRE_KAFKA__BOOTSTRAP_SERVERS={kafka.bootstrap_servers}"
            )
        if local.auth:
            print(_auth_instructions(broker.credentials_file(local)))
        return 0
    if args.action == "down":
        # every node breachwire started: the single broker (or the auth one) and the local cluster's nodes
        stopped = broker.stop(local.model_copy(update={"brokers": 1}))
        if cluster.brokers > 1 and not local.auth:
            stopped = broker.stop(cluster) or stopped
        print("Kafka stopped" if stopped else "no broker started by breachwire was running")
        return 0
    running = cluster.brokers > 1 and not local.auth and any(broker.node_pid(n) for n in broker.nodes(cluster))
    if args.brokers is None and running:  # status shows the local cluster when any of its nodes runs
        local = cluster
    return _status(local, settings)


def _clients(local: BrokerSettings, settings: Settings) -> KafkaSettings:
    """The settings' clients, pointed at the local cluster or auth broker (the single plain broker: as set)."""
    from breachwire.dev import broker

    return settings.kafka if local.brokers == 1 and not local.auth else broker.client_settings(local, settings.kafka)


def _status(local: BrokerSettings, settings: Settings) -> int:
    from kafka.errors import KafkaError

    from breachwire.dev import broker
    from runtime.kafka import is_answering, replicas_in_sync

    kafka = _clients(local, settings)
    if local.brokers == 1:
        if not is_answering(kafka):
            print(f"Kafka {kafka.bootstrap_servers}: not running")
            return 1
        pid = broker.running_pid(local)
        print(
            f"Kafka {kafka.bootstrap_servers} ({kafka.security_protocol}): running" + (f" (pid {pid})" if pid else "")
        )
    else:
        members = broker.nodes(local)
        answering: list[str] = []
        lines = []
        for node in members:
            up = is_answering(kafka.model_copy(update={"bootstrap_servers": node.address}))
            answering += [node.address] if up else []
            pid = broker.node_pid(node)
            state = "running" if up else "not answering" if pid else "not running"
            lines.append(f"  node {node.id} {node.address}: {state}" + (f" (pid {pid})" if pid else ""))
        print(f"Kafka cluster of {len(members)} nodes ({kafka.security_protocol}): {len(answering)} answering")
        print("\n".join(lines))
        if not answering:
            return 1
        # ask the nodes that answer: a client may otherwise try a node just gone first, and give up on it
        kafka = kafka.model_copy(update={"bootstrap_servers": ",".join(answering)})
    try:
        topics = replicas_in_sync(kafka)
    except KafkaError as exc:  # a node just gone may still be named in the metadata the client asks first
        print(f"topics: not listed ({exc})")
        return 1
    print("topics (replicas, fewest in sync of any partition):")
    width = max(map(len, topics), default=0)
    for topic, (replicas, in_sync) in sorted(topics.items()):
        lagging = "  under-replicated" if in_sync < replicas else ""
        print(f"  {topic:<{width}}  {replicas} replicas, {in_sync} in sync{lagging}")
    return 0 if local.brokers == 1 or len(answering) == len(members) else 1


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
    from breachwire.dev.demo import run_demo

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
    p.add_argument(
        "--brokers",
        type=int,
        choices=range(1, 10),
        metavar="N",
        help="how many nodes (broker and controller each, one process each): 3 runs a local cluster whose topics "
        "have 3 replicas and min.insync.replicas 2 (default: broker.brokers; status and down find a running one)",
    )
    p.set_defaults(func=cmd_kafka)

    p = sub.add_parser("run", help="run one service in the foreground (as containers do)")
    p.add_argument("service", choices=list(SERVICES))
    p.set_defaults(func=cmd_run)
