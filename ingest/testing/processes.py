"""The processes of the real pipeline for end-to-end tests and benchmarks: a Celery worker, the
consumer, a private Redis, each started in its own session with its output in a log file, and
stopped by its own pid and process group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from ingest.testing.utilities import wait_until

BASE_DIR = Path(__file__).resolve().parents[2]


class ManagedProcess:
    """A child process in its own session, its output in a log file; stopped by its own pid/group."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            argv, cwd=BASE_DIR, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_output(self, text: str, timeout: float = 60.0, *, after: int = 0) -> None:
        def seen() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            return text in self.log()[after:]

        try:
            wait_until(seen, timeout, 0.05, f"{self.name} to print {text!r}")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n--- {self.name} log ---\n{self.log()[-4000:]}") from None

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL to the process group we created if it does not exit in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever is left of our own group (pool children)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        self._log.close()
        return self.proc.returncode


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for a child process that names the database of ``settings_dict`` (the test DB)."""
    from urllib.parse import quote

    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


def child_env(
    *, database_url: str, broker_url: str, aws_endpoint: str, bucket: str, queue_url: str, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="website.settings",
        DATABASE_URL=database_url,
        DATABASE_CONN_MAX_AGE="600",
        CELERY_BROKER_URL=broker_url,
        AWS_ENDPOINT_URL=aws_endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        INGEST_BUCKET=bucket,
        INGEST_QUEUE_URL=queue_url,
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="INFO",
    )
    env.update(extra)
    return env


def start_worker(env: dict[str, str], log_dir: Path, *, concurrency: int = 1, name: str = "") -> ManagedProcess:
    name = name or f"e2e-{uuid.uuid4().hex[:8]}"
    argv = [
        sys.executable, "-m", "celery", "-A", "website", "worker",
        "--pool", "prefork", "--concurrency", str(concurrency),
        "--loglevel", "INFO", "--hostname", f"{name}@%h",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    worker = ManagedProcess(name, argv, env, log_dir / f"{name}.log")
    worker.wait_for_output(" ready.", timeout=90)
    return worker


def start_consumer(env: dict[str, str], log_dir: Path, *args: str, name: str = "consumer") -> ManagedProcess:
    argv = [sys.executable, "manage.py", "consume_events", "--wait-time", "1", *args]
    consumer = ManagedProcess(name, argv, env, log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log")
    consumer.wait_for_output("consuming ", timeout=60)
    return consumer


def start_redis(port: int, log_dir: Path) -> ManagedProcess:
    """A private redis-server that keeps nothing: a restart loses every queued task."""
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    redis = ManagedProcess(f"redis-{port}", argv, dict(os.environ), log_dir / f"redis-{port}.log")
    import redis as redis_lib

    def answers() -> bool:
        try:
            return bool(redis_lib.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping())
        except redis_lib.RedisError:
            return False

    wait_until(answers, 20, 0.05, "redis-server to answer")
    return redis


def worker_children(worker: ManagedProcess) -> list[int]:
    import psutil

    try:
        return [p.pid for p in psutil.Process(worker.pid).children(recursive=False)]
    except psutil.NoSuchProcess:
        return []
