"""A private PostgreSQL cluster for the chaos tests: initdb + pg_ctl in a temporary directory on a
free port, so that a test can crash and restart "the database" without touching the server that
everyone else on the machine uses.

As root (CI, this machine) the cluster runs as the ``postgres`` user through ``runuser``; as any
other user, as that user. ``fsync=off``: the tests crash the server process, not the machine, so
what a commit wrote to the kernel survives; it is several times faster.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from ingest.testing.utilities import free_port, wait_until


def _pg_bin() -> Path:
    """CHAOS_PG_BIN, else Debian's newest /usr/lib/postgresql/<version>/bin (15 on this project's machines)."""
    if os.environ.get("CHAOS_PG_BIN"):
        return Path(os.environ["CHAOS_PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()
RUN_AS = "postgres"


def available() -> str:
    """Empty when a private cluster can be started here, else why not."""
    if not (PG_BIN / "initdb").exists():
        return f"no PostgreSQL binaries in {PG_BIN} (set CHAOS_PG_BIN)"
    if os.geteuid() == 0 and not shutil.which("runuser"):
        return "running as root without runuser"
    return ""


class PrivatePostgres:
    """One cluster: ``init()``, ``start()``, ``crash()`` (SIGKILL), ``restart()``, ``destroy()``."""

    def __init__(self, *, port: int | None = None, user: str = RUN_AS) -> None:
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="chaos-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.url = ""  # of the database create_database made last
        self._as_root = os.geteuid() == 0
        self._user = user
        if self._as_root:
            shutil.chown(self.root, user, user)

    def _run(self, *argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        command = [str(PG_BIN / argv[0]), *argv[1:]]
        if self._as_root:
            command = ["runuser", "-u", self._user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=check, cwd=self.root)

    @property
    def url_base(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}"

    def init(self) -> PrivatePostgres:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = [
            f"port = {self.port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.root}'",
            "fsync = off",
            # Not synchronous_commit = off: a crash (pg_ctl -m immediate) would then lose the last
            # transactions it had reported committed, a loss no real server makes.
            "full_page_writes = off",
            "max_connections = 60",
            "shared_buffers = 32MB",
            "log_min_messages = warning",
        ]
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# chaos tests\n" + "\n".join(options) + "\n")
        return self

    def start(self, timeout: float = 30) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(int(timeout)), "start")
        wait_until(self.accepts, timeout, 0.05, "the private PostgreSQL to accept connections")

    def accepts(self) -> bool:
        done = self._run("pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-q", check=False, timeout=10)
        return done.returncode == 0

    def crash(self) -> None:
        """SIGKILL to the postmaster and every backend, as the OOM killer or a dead host would: no
        checkpoint, every connection cut, crash recovery at the next start."""
        import psutil

        try:
            postmaster = psutil.Process(int((self.data / "postmaster.pid").read_text().split()[0]))
            processes = [postmaster, *postmaster.children(recursive=True)]
        except (FileNotFoundError, ValueError, IndexError, psutil.NoSuchProcess):
            return
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(processes, timeout=10)

    def restart(self, down_seconds: float = 0.0) -> float:
        """Crash, stay down ``down_seconds``, start again; returns the seconds it was unreachable."""
        started = time.monotonic()
        self.crash()
        time.sleep(down_seconds)
        self.start()
        return time.monotonic() - started

    def create_database(self, name: str) -> str:
        self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-c", f'CREATE DATABASE "{name}"')
        self.url = f"{self.url_base}/{name}"
        return self.url

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False, timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""
