"""Real server processes for the tests: `altaviz serve` in a process group of its own on a free port,
waited for until it listens, and stopped (the whole group: with --workers, the workers are children).

Ports come from the kernel (bind to port 0), so parallel test workers (pytest -n) never pick the same one
on purpose; a port is only free until someone binds it, which is why every start waits for the process
it launched to be the one listening (the process must still be alive).
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.api.world import AUTH_SECRET


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _output(process: "subprocess.Popen[str] | subprocess.Popen[bytes]") -> str:
    if process.stdout is None:
        return ""
    out = process.stdout.read()
    return out.decode(errors="replace") if isinstance(out, bytes) else out


def wait_for_port(
    port: int, process: "subprocess.Popen[str] | subprocess.Popen[bytes]", seconds: float = 60.0
) -> None:
    """Return once something listens on 127.0.0.1:port; fail with the process's output if it exits."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, _output(process)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listening on {port} after {seconds:.0f} s")


def stop(process: "subprocess.Popen[str] | subprocess.Popen[bytes]", grace: float = 0.0) -> None:
    """SIGTERM to the process group and up to `grace` seconds to finish (none: SIGKILL at once)."""
    if grace and process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def serve_env(database_url: str, data_dir: Path, **overrides: str) -> dict[str, str]:
    """The environment of a test `altaviz serve`: test settings, the tests' secret, quiet logs."""
    return {
        **os.environ,
        "ALTAVIZ_ENV": "test",
        "AUTH_SECRET": AUTH_SECRET,
        "DATABASE_URL": database_url,
        "ALTAVIZ_DATA_DIR": str(data_dir),
        "LOG_LEVEL": "WARNING",
        **overrides,
    }


@dataclass
class ServeProcesses:
    """The `altaviz serve` processes one test started; `stop_all` ends them (SIGTERM, then SIGKILL
    after `grace` seconds; 0 kills at once)."""

    grace: float = 15.0
    running: list["subprocess.Popen[str]"] = field(default_factory=list)

    def start(
        self, env: Mapping[str, str], port: int | None = None, workers: int = 1
    ) -> tuple["subprocess.Popen[str]", str]:
        """`altaviz serve` on `port` (a free one by default), once it listens: the process and its URL."""
        port = port or free_port()
        command = [sys.executable, "-m", "altaviz", "serve", "--port", str(port), "--workers", str(workers)]
        process = subprocess.Popen(
            command,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.running.append(process)
        wait_for_port(port, process)
        return process, f"http://127.0.0.1:{port}"

    def stop_all(self) -> None:
        while self.running:
            stop(self.running.pop(), self.grace)


@contextlib.contextmanager
def serve_processes(grace: float = 15.0) -> Iterator[ServeProcesses]:
    servers = ServeProcesses(grace)
    try:
        yield servers
    finally:
        servers.stop_all()
