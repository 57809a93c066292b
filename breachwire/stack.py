"""The whole stack as child processes, one per service, as ``breachwire up`` and the demo run it."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

import httpx

from breachwire.services import SERVICES


class Stack:
    def __init__(
        self,
        env: Mapping[str, str],
        services: Sequence[str] = SERVICES,
        log_dir: Path | None = None,
    ) -> None:
        self._env = {**os.environ, **env}
        self._services = list(services)
        self._log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []

    def start(self, service: str | None = None) -> None:
        for name in [service] if service else self._services:
            output: IO[bytes] | None = None
            if self._log_dir is not None:
                self._log_dir.mkdir(parents=True, exist_ok=True)
                output = (self._log_dir / f"{name}.log").open("ab")
                self._logs.append(output)
            self.processes[name] = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "breachwire", "run", name],
                env=self._env,
                stdout=output,
                stderr=subprocess.STDOUT if output else None,
                stdin=subprocess.DEVNULL,
            )

    def kill(self, service: str) -> None:
        """SIGKILL one service, as a crash would."""
        process = self.processes[service]
        process.send_signal(signal.SIGKILL)
        process.wait()

    def exited(self) -> dict[str, int]:
        return {name: code for name, p in self.processes.items() if (code := p.poll()) is not None}

    def stop(self, timeout_s: float = 15.0) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self._logs:
            log.close()
        self._logs.clear()


def wait_for_http(url: str, timeout_s: float, stack: Stack | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if stack is not None and (dead := stack.exited()):
            raise RuntimeError(f"services exited while starting: {dead}")
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout_s:.0f} s")
