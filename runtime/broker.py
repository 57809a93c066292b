"""A local single-node Apache Kafka broker (KRaft, broker and controller in one process) run from the jars
that Maven Central serves, so that the demo and the tests talk to the real thing without Docker.

``fetch`` copies ``org.apache.kafka:kafka_2.13`` and its runtime dependencies (plus a log4j2 SLF4J binding)
into a cache folder with ``mvn dependency:copy-dependencies``; ``start`` formats the data folder once, starts
``kafka.Kafka`` with a bounded heap and waits until the broker serves metadata; a broker already listening on
the port is reused.
"""

import base64
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from runtime.settings import BrokerSettings

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
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=PLAINTEXT://{host}:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
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

    @property
    def fetched(self) -> Path:
        """Written once every jar is in ``libs``: a fetch cut short leaves no marker and runs again."""
        return self.libs / ".complete"

    @classmethod
    def of(cls, settings: BrokerSettings) -> "BrokerPaths":
        data = settings.data_dir
        return cls(
            libs=settings.cache_dir / f"kafka-{settings.version}" / "libs",
            data=data,
            log_dir=data / "log",
            properties=data / "server.properties",
            log4j=data / "log4j2.properties",
            log_file=data / "server.log",
            pid_file=data / "broker.pid",
        )


def address(settings: BrokerSettings) -> str:
    return f"{settings.host}:{settings.port}"


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


def is_serving_address(bootstrap: str, timeout_s: float = 3.0) -> bool:
    """True when a broker at ``host:port`` (the first of a list) answers a metadata request."""
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            pass
    except (OSError, ValueError):
        return False
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000), client_id="probe"
        )
    except KafkaError:
        return False
    try:
        admin.list_topics()
        return True
    except KafkaError:
        return False
    finally:
        admin.close()


def is_serving(settings: BrokerSettings, timeout_s: float = 3.0) -> bool:
    return is_serving_address(address(settings), timeout_s)


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise BrokerError("java is not on PATH; Kafka needs Java 17 or newer")
    return java


def _format(settings: BrokerSettings, paths: BrokerPaths) -> None:
    paths.data.mkdir(parents=True, exist_ok=True)
    paths.properties.write_text(
        SERVER_PROPERTIES.format(
            host=settings.host,
            port=settings.port,
            controller_port=settings.controller_port,
            log_dir=paths.log_dir,
        ),
        encoding="utf-8",
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
