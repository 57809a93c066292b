"""A local Apache Kafka broker (KRaft, broker and controller in one process), or a cluster of such nodes, run
from the jars that Maven Central serves, so that the demo and the tests talk to the real thing without Docker.

``fetch`` copies ``org.apache.kafka:kafka_2.13`` and its runtime dependencies (plus a log4j2 SLF4J binding)
into a cache folder with ``mvn dependency:copy-dependencies``; ``start`` formats the data folder once, starts
``kafka.Kafka`` with a bounded heap and waits until the broker serves metadata; a broker already listening on
the port is reused.

With ``BrokerSettings.brokers`` above one, ``start`` runs that many nodes, each its own process with its own ports
(node N: ``port + 2(N-1)``, ``controller_port + 2(N-1)``) and data folder (``cluster_data_dir/node-N``), all of
them voters of one controller quorum (``controller.quorum.voters``, formatted with one cluster id); the internal
topics are replicated to three nodes with ``min.insync.replicas`` 2, as ``runtime.kafka.ensure_topics`` makes
breachwire's own.

With ``BrokerSettings.auth`` the broker runs on its own ports and data folder and serves clients only over
SASL_SSL: TLS with a certificate from a CA made once (with the JDK's keytool) into the data folder, and a
SCRAM-SHA-512 sign-in whose users are written into the metadata log when the folder is formatted. How a client
reaches it (address, user, password, CA) is written to ``client.toml`` there, a settings file ``--config`` takes.
"""

import base64
import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import time
import tomllib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kafka.errors import KafkaError

from runtime.kafka import is_answering, make_admin, min_insync_replicas
from runtime.settings import BrokerSettings, KafkaSettings

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>breachwire.local</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>{version}</version>
    </dependency>
    <!-- Kafka logs through SLF4J; this binds it to log4j2, whose file appender writes server.log. -->
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>2.25.3</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.25.3</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>2.0.17</version>
    </dependency>
  </dependencies>
</project>
"""

SERVER_PROPERTIES = """# written by breachwire: a KRaft node (broker and controller) for the demo and the tests
process.roles=broker,controller
node.id={node_id}
controller.quorum.voters={voters}
controller.listener.names=CONTROLLER
{listeners}
log.dirs={log_dir}
num.partitions=1
default.replication.factor={replicas}
min.insync.replicas={min_insync}
offsets.topic.replication.factor={replicas}
offsets.topic.num.partitions=6
transaction.state.log.replication.factor={replicas}
transaction.state.log.min.isr={min_insync}
share.coordinator.state.topic.replication.factor={replicas}
share.coordinator.state.topic.min.isr={min_insync}
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
"""

PLAINTEXT_LISTENERS = """listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=PLAINTEXT://{host}:{port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT"""

# Clients, and the broker itself, sign in with SCRAM-SHA-512 over TLS. The controller listener stays PLAINTEXT on
# the loopback address: only this machine reaches it (SCRAM cannot guard it: KRaft controllers read the SCRAM
# credentials from the very metadata log they serve).
AUTH_LISTENERS = """listeners=CLIENT://{host}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=CLIENT://{host}:{port}
listener.security.protocol.map=CLIENT:SASL_SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=CLIENT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule \
  required username="{broker_user}" password="{broker_password}";
ssl.keystore.type=PKCS12
ssl.keystore.location={keystore}
ssl.keystore.password={store_password}
ssl.truststore.type=PKCS12
ssl.truststore.location={truststore}
ssl.truststore.password={store_password}
ssl.client.auth=none"""

# keytool runs eight times, each a short-lived JVM: it starts faster without the optimising compiler
KEYTOOL_JVM = ("-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC")
STORE_PASSWORD_VAR = "BREACHWIRE_KEYSTORE_PASSWORD"  # noqa: S105 - the name of a variable, not a password

BROKER_USER = "broker"
CLIENT_USER = "breachwire"
SCRAM = "SCRAM-SHA-512"

LOG4J2 = """status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
"""


class BrokerError(RuntimeError):
    """The local broker could not be fetched or started; the message says what to look at."""


@dataclass(frozen=True)
class BrokerPaths:
    libs: Path
    data: Path
    log_dir: Path
    properties: Path
    log4j: Path
    log_file: Path
    pid_file: Path
    tls: Path
    secrets: Path
    client: Path

    @property
    def fetched(self) -> Path:
        """Written once every jar is in ``libs``: a fetch cut short leaves no marker and runs again."""
        return self.libs / ".complete"

    @classmethod
    def of(cls, settings: BrokerSettings) -> "BrokerPaths":
        """The single broker's (the auth broker's with ``settings.auth``)."""
        return cls.at(settings, settings.auth_data_dir if settings.auth else settings.data_dir)

    @classmethod
    def at(cls, settings: BrokerSettings, data: Path) -> "BrokerPaths":
        return cls(
            libs=settings.cache_dir / f"kafka-{settings.version}" / "libs",
            data=data,
            log_dir=data / "log",
            properties=data / "server.properties",
            log4j=data / "log4j2.properties",
            log_file=data / "server.log",
            pid_file=data / "broker.pid",
            tls=data / "tls",
            secrets=data / "secrets.json",
            client=data / "client.toml",
        )


def _ports(settings: BrokerSettings) -> tuple[int, int]:
    """The client and controller ports: the auth broker has its own, so it runs beside the plain one."""
    if settings.auth:
        return settings.auth_port, settings.auth_controller_port
    return settings.port, settings.controller_port


@dataclass(frozen=True)
class Node:
    """One process of the local broker or cluster: a broker and a voter of the controller quorum."""

    id: int
    host: str
    port: int
    controller_port: int
    paths: BrokerPaths

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def nodes(settings: BrokerSettings) -> list[Node]:
    """The single broker, or the ``settings.brokers`` nodes of the local cluster."""
    if settings.brokers == 1:
        port, controller_port = _ports(settings)
        return [Node(1, settings.host, port, controller_port, BrokerPaths.of(settings))]
    if settings.auth:
        raise BrokerError(
            "--auth runs a single broker: a local cluster serves PLAINTEXT only "
            "(docker-compose.yml shows a SASL_SSL cluster); drop --auth or --brokers"
        )
    members = [
        Node(
            n,
            settings.host,
            settings.port + 2 * (n - 1),
            settings.controller_port + 2 * (n - 1),
            BrokerPaths.at(settings, settings.cluster_data_dir / f"node-{n}"),
        )
        for n in range(1, settings.brokers + 1)
    ]
    ports = [port for node in members for port in (node.port, node.controller_port)]
    if len(set(ports)) != len(ports):
        raise BrokerError(
            f"broker.port {settings.port} and broker.controller_port {settings.controller_port} give "
            f"{settings.brokers} nodes overlapping ports (node N takes port + 2(N-1) and controller_port + 2(N-1))"
        )
    return members


def address(settings: BrokerSettings) -> str:
    """The bootstrap servers: every node's client address."""
    return ",".join(node.address for node in nodes(settings))


def credentials_file(settings: BrokerSettings) -> Path:
    """The settings file (``[kafka]``) naming the auth broker's address, client user, password and CA."""
    return BrokerPaths.of(settings).client


def client_settings(settings: BrokerSettings, base: KafkaSettings | None = None) -> KafkaSettings:
    """``base`` (topics, groups, timeouts) pointed at this broker, signed in when it is the auth broker.
    Raises BrokerError when the auth broker has not been set up yet (``start`` does that)."""
    base = base or KafkaSettings()
    update: dict[str, object] = {"bootstrap_servers": address(settings)}
    if settings.auth:
        path = credentials_file(settings)
        try:
            update = tomllib.loads(path.read_text(encoding="utf-8"))["kafka"]
        except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
            raise BrokerError(
                f"{path}: no client credentials ({exc}); `breachwire kafka up --auth` makes them"
            ) from exc
    return KafkaSettings.model_validate(base.model_dump() | update)


def is_fetched(settings: BrokerSettings) -> bool:
    return BrokerPaths.of(settings).fetched.exists()


def fetch(settings: BrokerSettings) -> Path:
    """The folder of jars, copied from Maven Central on first use."""
    paths = BrokerPaths.of(settings)
    if paths.fetched.exists():
        return paths.libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("Maven (mvn) is not on PATH; it fetches the Kafka jars from Maven Central")
    work = paths.libs.parent
    work.mkdir(parents=True, exist_ok=True)
    (work / "pom.xml").write_text(POM.format(version=settings.version), encoding="utf-8")
    result = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(work / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={paths.libs}",
            "-DincludeScope=runtime",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BrokerError(f"mvn could not fetch Kafka {settings.version}:\n{result.stdout[-3000:]}")
    paths.fetched.write_text(settings.version, encoding="utf-8")
    return paths.libs


def is_serving(settings: BrokerSettings, timeout_s: float = 3.0) -> bool:
    """True when every node answers a metadata request on its own address."""
    try:
        kafka = client_settings(settings)
    except BrokerError:  # an auth broker never set up: none of ours serves there
        return False
    return all(
        is_answering(kafka.model_copy(update={"bootstrap_servers": node.address}), timeout_s)
        for node in nodes(settings)
    )


def _jdk_tool(name: str) -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / name).exists():
        return str(Path(home) / "bin" / name)
    found = shutil.which(name)
    if found is None:
        raise BrokerError(f"{name} is not on PATH; Kafka needs Java 17 or newer")
    return found


def _java() -> str:
    return _jdk_tool("java")


def _keytool(password: str, *args: str) -> None:
    result = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [_jdk_tool("keytool"), *KEYTOOL_JVM, *args, "-storepass:env", STORE_PASSWORD_VAR],
        env={**os.environ, STORE_PASSWORD_VAR: password},  # not on the command line, where `ps` shows it
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BrokerError(f"keytool {args[0]} failed:\n{result.stdout}{result.stderr}")


def _make_tls(settings: BrokerSettings, tls: Path, password: str) -> None:
    """A CA, and a broker certificate it signs for the broker's address, as PKCS12 stores; the CA's certificate
    also as PEM for clients. Made once: clients keep trusting the same CA across restarts."""
    if (tls / "broker.p12").exists():
        return
    tls.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca, broker, csr = tls / "ca.p12", tls / "broker.p12", tls / "broker.csr"
    signed, ca_pem, trust = tls / "broker.pem", tls / "ca.pem", tls / "truststore.p12"
    for stale in (ca, broker, csr, signed, ca_pem, trust):  # left by a run cut short
        stale.unlink(missing_ok=True)

    def keytool(*args: str) -> None:
        _keytool(password, *args, "-storetype", "PKCS12")

    key = ["-keyalg", "EC", "-groupname", "secp256r1"]
    keytool("-genkeypair", "-keystore", str(ca), "-alias", "ca", *key, "-validity", "3650",
            "-dname", "CN=breachwire local Kafka CA", "-ext", "bc:c", "-ext", "KU:c=keyCertSign,cRLSign")  # fmt: skip
    keytool("-exportcert", "-keystore", str(ca), "-alias", "ca", "-rfc", "-file", str(ca_pem))
    keytool("-genkeypair", "-keystore", str(broker), "-alias", "broker", *key, "-validity", "825",
            "-dname", f"CN={settings.host}")  # fmt: skip
    keytool("-certreq", "-keystore", str(broker), "-alias", "broker", "-file", str(csr))
    names = f"ip:{settings.host}" if _is_ip(settings.host) else f"dns:{settings.host}"
    keytool("-gencert", "-keystore", str(ca), "-alias", "ca", "-infile", str(csr), "-outfile", str(signed),
            "-rfc", "-validity", "825", "-ext", f"SAN={names},dns:localhost",
            "-ext", "KU:c=digitalSignature", "-ext", "EKU=serverAuth,clientAuth")  # fmt: skip
    keytool("-importcert", "-keystore", str(broker), "-alias", "ca", "-file", str(ca_pem), "-noprompt")
    keytool("-importcert", "-keystore", str(broker), "-alias", "broker", "-file", str(signed))
    keytool("-importcert", "-keystore", str(trust), "-alias", "ca", "-file", str(ca_pem), "-noprompt")
    csr.unlink()


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True


def _secrets(paths: BrokerPaths) -> dict[str, str]:
    """The auth broker's passwords (key stores, the broker's own user, the client user), made once."""
    try:
        loaded: dict[str, str] = json.loads(paths.secrets.read_text(encoding="utf-8"))
        return loaded
    except (OSError, ValueError):
        if (paths.log_dir / "meta.properties").exists():
            raise BrokerError(
                f"{paths.data} is formatted but {paths.secrets.name} is missing: its users' passwords are lost; "
                "delete the folder to start afresh"
            ) from None
    made = {name: secrets.token_urlsafe(24) for name in ("store", BROKER_USER, CLIENT_USER)}
    _write_private(paths.secrets, json.dumps(made))
    return made


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read (it holds passwords)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)


def _write_client(settings: BrokerSettings, paths: BrokerPaths, password: str) -> None:
    kafka = {
        "bootstrap_servers": address(settings),
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": SCRAM,
        "username": CLIENT_USER,
        "password": password,
        "ssl_cafile": str(paths.tls / "ca.pem"),
    }
    # and which broker this is, so that `breachwire --config client.toml up` starts or reuses this one
    local = {
        "auth": True,
        "auth_port": settings.auth_port,
        "auth_controller_port": settings.auth_controller_port,
        "auth_data_dir": str(paths.data),
    }

    def table(values: Mapping[str, object]) -> str:
        return "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())  # JSON values are TOML

    _write_private(
        paths.client,
        "# written by `breachwire kafka up --auth`: how clients reach this broker (a settings file for --config)\n"
        f"[kafka]\n{table(kafka)}\n[broker]\n{table(local)}",
    )


def _cluster_id(members: list[Node]) -> str:
    """The id the nodes were formatted with (a node formatted earlier keeps it), else a new one: Kafka's cluster
    ids are a random UUID in URL-safe base64 without padding."""
    for node in members:
        with contextlib.suppress(OSError):
            for line in (node.paths.log_dir / "meta.properties").read_text(encoding="utf-8").splitlines():
                if line.startswith("cluster.id="):
                    return line.partition("=")[2].strip()
    return new_cluster_id()


def new_cluster_id() -> str:
    """A random UUID in URL-safe base64 without padding, never starting with "-" (the storage tool would read
    it as an option), as Kafka's own ``Uuid.randomUuid`` makes them."""
    while (cluster_id := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"):
        pass
    return cluster_id


def _format(settings: BrokerSettings, members: list[Node], node: Node, cluster_id: str) -> list[str] | None:
    """Write ``node``'s settings; the command that formats its data folder, or None when it is formatted."""
    paths = node.paths
    paths.data.mkdir(mode=0o700 if settings.auth else 0o777, parents=True, exist_ok=True)
    users: list[str] = []
    if settings.auth:
        passwords = _secrets(paths)
        _make_tls(settings, paths.tls, passwords["store"])
        listeners = AUTH_LISTENERS.format(
            host=node.host,
            port=node.port,
            controller_port=node.controller_port,
            broker_user=BROKER_USER,
            broker_password=passwords[BROKER_USER],
            keystore=paths.tls / "broker.p12",
            truststore=paths.tls / "truststore.p12",
            store_password=passwords["store"],
        )
        users = [f"{SCRAM}=[name={user},password={passwords[user]}]" for user in (BROKER_USER, CLIENT_USER)]
        _write_client(settings, paths, passwords[CLIENT_USER])
    else:
        listeners = PLAINTEXT_LISTENERS.format(host=node.host, port=node.port, controller_port=node.controller_port)
    replicas = min(3, len(members))
    _write_private(
        paths.properties,
        SERVER_PROPERTIES.format(
            node_id=node.id,
            # a static quorum: every node votes, and every node's settings name all of them
            voters=",".join(f"{member.id}@{member.host}:{member.controller_port}" for member in members),
            listeners=listeners,
            log_dir=paths.log_dir,
            replicas=replicas,
            min_insync=min_insync_replicas(replicas),
        ),
    )
    paths.log4j.write_text(LOG4J2.format(log_file=paths.log_file), encoding="utf-8")
    if (paths.log_dir / "meta.properties").exists():
        return None
    return [
        _java(),
        "-XX:TieredStopAtLevel=1",
        f"-Dlog4j2.configurationFile={paths.log4j}",
        "-cp",
        f"{paths.libs}/*",
        "kafka.tools.StorageTool",
        "format",
        "-t",
        cluster_id,
        "-c",
        str(paths.properties),
        # the SCRAM users go into the metadata log with the cluster itself: no broker runs unguarded meanwhile
        *(arg for user in users for arg in ("--add-scram", user)),
    ]


def _run_formats(commands: list[tuple[Node, list[str]]]) -> None:
    """Format the nodes' data folders side by side (each a JVM that takes seconds to start)."""
    running = [
        (node, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))  # noqa: S603
        for node, command in commands
    ]
    failed = []
    for node, process in running:
        output, _ = process.communicate()
        if process.returncode != 0:
            failed.append(f"formatting {node.paths.log_dir} failed:\n{output}")
    if failed:
        raise BrokerError("\n".join(failed))


def _pid(paths: BrokerPaths) -> int | None:
    try:
        pid = int(paths.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    # A broker this very process started stays a zombie, which signal 0 still reaches, until it is reaped.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    return pid


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # SO_REUSEADDR: a port whose last connections linger in TIME_WAIT is free for a listener
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _launch(settings: BrokerSettings, node: Node) -> None:
    paths = node.paths
    with paths.log_file.with_suffix(".out").open("ab") as out:
        process = subprocess.Popen(  # noqa: S603
            [
                _java(),
                f"-Xms{settings.heap}",
                f"-Xmx{settings.heap}",
                "-XX:+UseG1GC",
                "-XX:TieredStopAtLevel=1",  # starts faster; a demo broker needs no peak throughput
                "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={paths.log4j}",
                "-cp",
                f"{paths.libs}/*",
                "kafka.Kafka",
                str(paths.properties),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    paths.pid_file.write_text(str(process.pid), encoding="utf-8")


def _registered(settings: BrokerSettings) -> int:
    """How many brokers the cluster's metadata names unfenced (ready to lead and follow partitions)."""
    try:
        admin = make_admin(client_settings(settings), client_id="probe")
    except (KafkaError, BrokerError):
        return 0
    try:
        return sum(1 for broker in admin.describe_cluster()["brokers"] if not broker.get("is_fenced"))
    except KafkaError:
        return 0
    finally:
        admin.close()


def start(settings: BrokerSettings) -> bool:
    """Make sure every node serves on its address, starting those of ours that do not run (a node killed is
    started again on its data folder); returns False when all of them already served."""
    if is_serving(settings):
        return False
    members = nodes(settings)
    fetch(settings)
    idle = [node for node in members if _pid(node.paths) is None]
    for node in idle:
        for port in (node.port, node.controller_port):
            if _port_taken(node.host, port):
                raise BrokerError(
                    f"{node.host}:{port} (node {node.id}) is taken by a process breachwire did not start here "
                    f"(another broker? `breachwire kafka down`), or choose other ports (broker.port, "
                    "broker.controller_port)"
                )
    cluster_id = _cluster_id(members)
    _run_formats([(node, command) for node in idle if (command := _format(settings, members, node, cluster_id))])
    for node in idle:
        _launch(settings, node)
    deadline = time.monotonic() + settings.start_timeout_s
    while time.monotonic() < deadline:
        if is_serving(settings) and _registered(settings) >= len(members):
            return True
        for node in members:
            if _pid(node.paths) is None:
                raise BrokerError(f"broker node {node.id} exited while starting; see {node.paths.log_file}")
        time.sleep(0.5)
    raise BrokerError(
        f"the broker{'s' if len(members) > 1 else ''} did not serve metadata within "
        f"{settings.start_timeout_s:.0f} s; see {', '.join(str(node.paths.log_file) for node in members)}"
    )


def stop(settings: BrokerSettings, timeout_s: float = 30.0) -> bool:
    """Stop the nodes this project started, all at once (a node left alone would wait for a quorum that is
    gone); returns False when none was running."""
    running = [(node, pid) for node in nodes(settings) if (pid := _pid(node.paths)) is not None]
    for _, pid in running:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(_pid(node.paths) is not None for node, _ in running):
        time.sleep(0.2)
    for node, pid in running:
        if _pid(node.paths) is not None:
            os.kill(pid, signal.SIGKILL)
        node.paths.pid_file.unlink(missing_ok=True)
    return bool(running)


def node_pid(node: Node) -> int | None:
    """The process id of a node this project started and that still runs."""
    return _pid(node.paths)


def running_pid(settings: BrokerSettings) -> int | None:
    """The first node's process id (the single broker's), when this project started it and it runs."""
    return node_pid(nodes(settings)[0])


def cluster_size(settings: BrokerSettings) -> int:
    """How many nodes the local cluster was made with (its node folders); 0 when none was."""
    folders = settings.cluster_data_dir.glob("node-*")
    return sum(1 for folder in folders if folder.name.removeprefix("node-").isdigit())


def free_port_run(count: int) -> int:
    """The first of ``count`` consecutive ports nothing listens on: a local cluster on ports of its own (node N
    takes base + 2(N-1) and the next), beside anything else running. Below the systems' ephemeral ranges (32768
    and up on Linux, 49152 and up elsewhere): a port from those can be taken by any outgoing connection, a Kafka
    client's or a database's, between the pick and the bind."""
    for _ in range(200):
        base = random.randrange(20_000, 32_000, 2)
        try:
            for port in range(base, base + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free run of ports")
