"""A local single-node Apache Kafka broker (KRaft, broker and controller in one process) run from the jars
that Maven Central serves, so that the demo and the tests talk to the real thing without Docker.

``fetch`` copies ``org.apache.kafka:kafka_2.13`` and its runtime dependencies (plus a log4j2 SLF4J binding)
into a cache folder with ``mvn dependency:copy-dependencies``; ``start`` formats the data folder once, starts
``kafka.Kafka`` with a bounded heap and waits until the broker serves metadata; a broker already listening on
the port is reused.

With ``BrokerSettings.auth`` the broker runs on its own ports and data folder and serves clients only over
SASL_SSL: TLS with a certificate from a CA made once (with the JDK's keytool) into the data folder, and a
SCRAM-SHA-512 sign-in whose users are written into the metadata log when the folder is formatted. How a client
reaches it (address, user, password, CA) is written to ``client.toml`` there, a settings file ``--config`` takes.
"""

import base64
import contextlib
import json
import os
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

from runtime.kafka import is_answering
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

SERVER_PROPERTIES = """# written by breachwire: a single-node KRaft broker for the demo and the tests
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{host}:{controller_port}
controller.listener.names=CONTROLLER
{listeners}
log.dirs={log_dir}
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
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
        data = settings.auth_data_dir if settings.auth else settings.data_dir
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


def address(settings: BrokerSettings) -> str:
    return f"{settings.host}:{_ports(settings)[0]}"


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
    try:
        kafka = client_settings(settings)
    except BrokerError:  # an auth broker never set up: none of ours serves there
        return False
    return is_answering(kafka, timeout_s)


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


def _format(settings: BrokerSettings, paths: BrokerPaths) -> None:
    paths.data.mkdir(mode=0o700 if settings.auth else 0o777, parents=True, exist_ok=True)
    port, controller_port = _ports(settings)
    users: list[str] = []
    if settings.auth:
        passwords = _secrets(paths)
        _make_tls(settings, paths.tls, passwords["store"])
        listeners = AUTH_LISTENERS.format(
            host=settings.host,
            port=port,
            controller_port=controller_port,
            broker_user=BROKER_USER,
            broker_password=passwords[BROKER_USER],
            keystore=paths.tls / "broker.p12",
            truststore=paths.tls / "truststore.p12",
            store_password=passwords["store"],
        )
        users = [f"{SCRAM}=[name={user},password={passwords[user]}]" for user in (BROKER_USER, CLIENT_USER)]
        _write_client(settings, paths, passwords[CLIENT_USER])
    else:
        listeners = PLAINTEXT_LISTENERS.format(host=settings.host, port=port, controller_port=controller_port)
    _write_private(
        paths.properties,
        SERVER_PROPERTIES.format(
            host=settings.host, controller_port=controller_port, listeners=listeners, log_dir=paths.log_dir
        ),
    )
    paths.log4j.write_text(LOG4J2.format(log_file=paths.log_file), encoding="utf-8")
    if (paths.log_dir / "meta.properties").exists():
        return
    # Kafka's cluster ids are a random UUID in URL-safe base64 without padding.
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    result = subprocess.run(  # noqa: S603
        [
            _java(),
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
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BrokerError(f"formatting {paths.log_dir} failed:\n{result.stdout}{result.stderr}")


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


def start(settings: BrokerSettings) -> bool:
    """Make sure a broker serves on the configured address; returns False when one already did."""
    if is_serving(settings):
        return False
    paths = BrokerPaths.of(settings)
    fetch(settings)
    if _pid(paths) is None:
        _format(settings, paths)
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
    deadline = time.monotonic() + settings.start_timeout_s
    while time.monotonic() < deadline:
        if is_serving(settings):
            return True
        if _pid(paths) is None:
            raise BrokerError(f"the broker exited while starting; see {paths.log_file}")
        time.sleep(0.5)
    raise BrokerError(
        f"the broker did not serve metadata within {settings.start_timeout_s:.0f} s; see {paths.log_file}"
    )


def stop(settings: BrokerSettings, timeout_s: float = 30.0) -> bool:
    """Stop the broker this project started; returns False when none was running."""
    paths = BrokerPaths.of(settings)
    pid = _pid(paths)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _pid(paths) is not None:
        time.sleep(0.2)
    if _pid(paths) is not None:
        os.kill(pid, signal.SIGKILL)
    paths.pid_file.unlink(missing_ok=True)
    return True


def running_pid(settings: BrokerSettings) -> int | None:
    return _pid(BrokerPaths.of(settings))
