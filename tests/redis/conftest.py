"""Real redis-server processes for the Redis store tests.

Every server runs on a free loopback port with its own temporary directory, no RDB and
no AOF. Tests never touch a default or shared Redis and never flush anything: each test
gets its own key prefix on the session's server. When redis-server is missing the tests
skip locally and fail in CI (``CI=true``), where they must run.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REDIS_SERVER = shutil.which("redis-server") or ("/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None)
REDIS_CLI = shutil.which("redis-cli") or ("/usr/bin/redis-cli" if os.path.exists("/usr/bin/redis-cli") else None)
START_TIMEOUT = 20.0


def require_redis() -> None:
    if REDIS_SERVER and REDIS_CLI:
        return
    if IN_CI:
        pytest.fail("redis-server and redis-cli are required in CI (apt-get install redis-server)")
    pytest.skip("redis-server is not installed")


def free_port(*, cluster: bool = False) -> int:
    """A port free right now; for cluster nodes the bus port (port + 10000) too."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not cluster:
            return port
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port found")


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.02) -> None:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}")


class RedisServer:
    """One redis-server process; stop() and start() again keep the same port and dir."""

    def __init__(self, directory: Path, *, port: int | None = None, cluster: bool = False):
        self.cluster = cluster
        self.port = port or free_port(cluster=cluster)
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        assert REDIS_SERVER
        args = [
            REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self.directory), "--daemonize", "no",
            "--logfile", str(self.directory / "redis.log"),
        ]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", str(self.directory / "nodes.conf"),
                     "--cluster-node-timeout", "2000"]
        return args

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: self.ping() or self.process.poll() is not None, START_TIMEOUT, f"redis on {self.port}")
        except TimeoutError:
            self.stop()
            raise
        if self.process.poll() is not None:
            log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"redis-server on port {self.port} exited: {log}")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def cli(self, *args: str) -> str:
        assert REDIS_CLI
        out = subprocess.run([REDIS_CLI, "-p", str(self.port), *args], capture_output=True, text=True, timeout=30)
        return out.stdout


def start_server(directory: Path, **kwargs: Any) -> RedisServer:
    """Start a server, retrying on a port another process took meanwhile."""
    last: Exception | None = None
    for attempt in range(5):
        server = RedisServer(directory / f"try{attempt}", **kwargs)
        try:
            return server.start()
        except RuntimeError as exc:  # port race: choose another one
            last = exc
    raise RuntimeError(f"could not start redis-server: {last}")


class RedisCluster:
    """Three primaries on loopback, no replicas, slots spread by redis-cli."""

    def __init__(self, nodes: list[RedisServer]):
        self.nodes = nodes

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.nodes[0].port}"

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def ok(self) -> bool:
        return all(
            "cluster_state:ok" in n.cli("CLUSTER", "INFO") and len(n.cli("CLUSTER", "NODES").strip().splitlines()) == 3
            for n in self.nodes
        )

    def wait_ok(self, timeout: float = 30) -> None:
        wait_until(self.ok, timeout, "cluster_state:ok on every node", interval=0.1)


@pytest.fixture
def own_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A server for one test only, which the test may stop and start again."""
    require_redis()
    server = start_server(tmp_path / "redis")
    yield server
    server.stop()


def start_cluster(base: Path) -> RedisCluster:
    """Three cluster-enabled servers, joined by ``redis-cli --cluster create``; returns
    once every node reports ``cluster_state:ok`` and knows the other two."""
    require_redis()
    nodes = [start_server(base / f"node{i}", cluster=True) for i in range(3)]
    cluster = RedisCluster(nodes)
    try:
        assert REDIS_CLI
        addresses = [f"127.0.0.1:{n.port}" for n in nodes]
        result = subprocess.run(
            [REDIS_CLI, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True, text=True, timeout=60,
        )
        if result.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {result.stdout}{result.stderr}")
        cluster.wait_ok()
    except BaseException:
        cluster.stop()
        raise
    return cluster


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A cluster shared by the tests; they separate by key prefix."""
    require_redis()
    cluster = start_cluster(tmp_path_factory.mktemp("cluster"))
    yield cluster
    cluster.stop()


@pytest.fixture
def own_redis_cluster(tmp_path: Path) -> Iterator[RedisCluster]:
    """A cluster for one test only, whose nodes the test may stop and start again."""
    require_redis()
    cluster = start_cluster(tmp_path / "cluster")
    yield cluster
    cluster.stop()


@pytest.fixture
def prefix() -> str:
    """A key prefix of this test's own: tests share a server but never each other's keys."""
    return f"t{uuid.uuid4().hex[:12]}:"
