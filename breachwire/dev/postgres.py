"""A PostgreSQL server of one's own (initdb in a folder, pg_ctl on a port) that a fault run may stop and start
without disturbing anyone else's: Debian's binaries, run as the ``postgres`` user when we are root (PostgreSQL
refuses to run as root)."""

import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


class PostgresError(RuntimeError):
    pass


def _bin_dir() -> Path:
    # Debian keeps the server's tools per version, off the PATH; elsewhere they are on it.
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if versions:
        return versions[-1]
    found = shutil.which("initdb")
    if found is None:
        raise PostgresError("PostgreSQL's server binaries (initdb, pg_ctl) were not found: install postgresql")
    return Path(found).parent


@dataclass
class LocalPostgres:
    """One server: its data in ``folder``/data, listening on 127.0.0.1:``port``, database ``breachwire``."""

    folder: Path
    port: int
    user: str = "breachwire"
    password: str = "breachwire"  # noqa: S105 - a throwaway local server's

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}:{self.password}@127.0.0.1:{self.port}/breachwire"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(_bin_dir() / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        env = {**os.environ, "PGPASSWORD": self.password}
        result = subprocess.run(command, capture_output=True, text=True, check=False, env=env, cwd="/")  # noqa: S603
        if check and result.returncode != 0:
            raise PostgresError(f"{tool} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result

    def init(self) -> "LocalPostgres":
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        password_file = self.folder / "pw"
        password_file.write_text(self.password)
        if os.geteuid() == 0:
            os.chown(password_file, owner.pw_uid, owner.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", self.user, f"--pwfile={password_file}", "-A", "scram-sha-256")
        password_file.unlink()
        return self

    def start(self, timeout_s: float = 30.0) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-o", options, "-w", "start")
        deadline = time.monotonic() + timeout_s
        while self._run("pg_isready", "-h", "127.0.0.1", "-p", str(self.port), check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise PostgresError(f"PostgreSQL on port {self.port} did not answer within {timeout_s:.0f} s")
            time.sleep(0.2)

    def create_database(self) -> None:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "breachwire", check=False)

    def stop(self, mode: str = "fast") -> None:
        """``fast`` closes the connections and stops; ``immediate`` is a crash (recovery at the next start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)
