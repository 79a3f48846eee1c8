"""Reusable pieces for tether's benchmarks.

- :func:`free_port`: a free TCP port on 127.0.0.1.
- :func:`serve`: a context manager that runs an ASGI app factory under uvicorn in a
  subprocess (one worker, no access log), pinned to one CPU core when the machine has
  two or more, and waits until it answers HTTP.
- :func:`run_load`: a keep-alive HTTP/1.1 load client in a *second* process (pinned to
  another core), N connections, one request in flight per connection, for a fixed
  duration after a short warm-up. Returns req/s, status counts, latency percentiles and
  the client's own CPU use (so you can tell whether the client was the bottleneck).
- :func:`print_table`: req/s with ratios to a baseline row.

The client is pure Python (asyncio protocols, pre-built request bytes, minimal response
parsing), so nothing has to be installed. Run ``python bench/common.py selftest`` to see
how many req/s it can drive against a trivial server: it should be well above what the
server under test reaches, and its CPU use in the results should stay below 100 %.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))

# -- processes and CPUs ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_plan() -> tuple[int | None, int | None]:
    """(server core, client core): pinned to separate cores when there are two or more."""
    try:
        cores = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None, None
    if len(cores) < 2:
        return None, None
    return cores[0], cores[1]


def _pinned(cmd: list[str], cpu: int | None) -> list[str]:
    if cpu is None or not shutil.which("taskset"):
        return cmd
    return ["taskset", "-c", str(cpu), *cmd]


def http_impl() -> str:
    """What uvicorn's ``--http auto`` picks in this interpreter."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools"


def loop_impl() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def _proc_cpu_seconds(pid: int) -> float | None:
    """user+system CPU seconds of a process (Linux /proc), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks
    except (OSError, IndexError, ValueError):
        return None


@dataclass
class Server:
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    cpu: int | None
    #: the process that serves the requests (gunicorn: its worker), if not ``proc``
    worker_pid: int | None = None

    @property
    def pid(self) -> int:
        # taskset execs the server, so proc.pid is the server's own.
        return self.worker_pid or self.proc.pid

    def cpu_seconds(self) -> float | None:
        return _proc_cpu_seconds(self.pid)

    def rss_mb(self) -> float | None:
        """Resident memory of the serving process (Linux /proc), in MB."""
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return None


@contextlib.contextmanager
def serve(
    app: str,
    *,
    env: Mapping[str, str] | None = None,
    app_dir: str = HERE,
    cpu: int | None | str = "auto",
    ready_path: str = "/",
    timeout: float = 20.0,
    extra_args: Sequence[str] = (),
) -> Iterator[Server]:
    """Run ``uvicorn --factory app`` (``module:function``) on a free port; yield a Server.

    ``env`` is added to the child's environment (how a factory gets its settings).
    Readiness: any HTTP answer to ``GET ready_path``.
    """
    if cpu == "auto":
        cpu = cpu_plan()[0]
    port = free_port()
    cmd = [
        sys.executable, "-m", "uvicorn", "--factory", app,
        "--app-dir", app_dir,
        "--host", "127.0.0.1", "--port", str(port),
        "--no-access-log", "--log-level", "warning",
        *extra_args,
    ]
    child_env = {**os.environ, **(env or {})}
    proc = subprocess.Popen(_pinned(cmd, cpu), env=child_env)  # type: ignore[arg-type]
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, port, ready_path, timeout)
        yield Server(url=url, port=port, proc=proc, cpu=cpu)  # type: ignore[arg-type]
    finally:
        stop(proc)


def stop(proc: Any) -> None:
    """Terminate a server process, killing it if it does not stop within 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _wait_ready(proc: subprocess.Popen[bytes], port: int, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before it was ready")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(request)
                if s.recv(16).startswith(b"HTTP/1."):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server on port {port} not ready after {timeout} s")


# -- one-off requests (sign-in etc.) ------------------------------------------------------------


def request(
    url: str, method: str = "GET", headers: Mapping[str, str] | None = None, body: bytes = b""
) -> tuple[int, list[tuple[str, str]], bytes]:
    """One blocking HTTP/1.1 request (no keep-alive); returns status, headers, body."""
    import http.client

    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read()
    finally:
        conn.close()


def cookie_from(headers: Sequence[tuple[str, str]], name: str) -> str:
    """``name=value`` of the Set-Cookie header for ``name``."""
    for key, value in headers:
        if key.lower() == "set-cookie" and value.startswith(f"{name}="):
            return value.split(";", 1)[0]
    raise LookupError(f"no Set-Cookie for {name!r} in {headers!r}")


# -- the load client ----------------------------------------------------------------------------


@dataclass
class LoadSpec:
    url: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    #: one Cookie header value per connection, round-robin; empty means no Cookie
    cookies: list[str] = field(default_factory=list)
    duration: float = 6.0
    warmup: float = 1.0
    concurrency: int = 32
    #: the server's pid: its CPU time is then read at the edges of the measured window
    server_pid: int | None = None


@dataclass
class LoadResult:
    requests: int
    seconds: float
    statuses: dict[int, int]
    errors: int
    p50_ms: float
    p99_ms: float
    client_cpu: float  # fraction of one core the client used while measuring
    server_cpu: float | None = None  # the same for the server process (all its threads)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def server_us_per_request(self) -> float | None:
        """Server CPU per request: unlike req/s, barely moved by other processes that
        take the server's core away for a while."""
        if self.server_cpu is None or not self.requests:
            return None
        return self.server_cpu * self.seconds / self.requests * 1e6


def build_request(spec: LoadSpec, cookie: str | None) -> bytes:
    parts = urllib.parse.urlsplit(spec.url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    body = spec.body.encode()
    lines = [f"{spec.method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{k}: {v}" for k, v in spec.headers.items()]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    if body or spec.method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _chunked_end(buf: bytes, pos: int) -> int:
    """Where a chunked body starting at ``pos`` ends (exclusive), or -1 if not all here."""
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return -1
        size = int(buf[pos:eol].split(b";", 1)[0], 16)
        if size == 0:
            end = buf.find(b"\r\n\r\n", eol)  # after optional trailers
            return -1 if end < 0 else end + 4
        pos = eol + 2 + size + 2
        if pos > len(buf):
            return -1


class _Conn(asyncio.Protocol):
    """One keep-alive connection: send, read one response, send again, until told to stop."""

    def __init__(self, shared: _Shared, raw: bytes, head: bool) -> None:
        self.shared = shared
        self.raw = raw
        self.head = head
        self.buf = b""
        self.need = -1  # total bytes of the response in flight, once its head is parsed
        self.status = 0
        self.sent = 0.0
        self.transport: Any = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self._send()

    def _send(self) -> None:
        self.sent = time.perf_counter()
        self.transport.write(self.raw)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        while True:
            if self.need < 0:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    self.buf = buf
                    return
                head = buf[:end].lower()
                self.status = int(buf[9:12])
                length = 0
                if not self.head:
                    i = head.find(b"\r\ncontent-length:")
                    if i >= 0:
                        j = head.find(b"\r\n", i + 17)
                        length = int(head[i + 17: j if j >= 0 else None])
                    elif b"\r\ntransfer-encoding: chunked" in head:
                        length = -1
                self.need = end + 4 + length if length >= 0 else -(end + 4) - 2
            if self.need < -1:  # chunked: find where the last chunk ends
                total = _chunked_end(buf, -self.need - 2)
                if total < 0:
                    self.buf = buf
                    return
                self.need = total
            if len(buf) < self.need:
                self.buf = buf
                return
            buf = buf[self.need:]
            self.need = -1
            shared = self.shared
            now = time.perf_counter()
            if shared.measuring:
                shared.statuses[self.status] = shared.statuses.get(self.status, 0) + 1
                shared.latencies.append(now - self.sent)
            if shared.stopping:
                self.buf = b""
                self.transport.close()
                return
            self._send()
            if buf:  # a server that answers twice: keep parsing
                continue
            self.buf = b""
            return

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self.shared.stopping:
            self.shared.errors += 1
        if not self.done.done():
            self.done.set_result(None)


class _Shared:
    def __init__(self) -> None:
        self.measuring = False
        self.stopping = False
        self.statuses: dict[int, int] = {}
        self.latencies: list[float] = []
        self.errors = 0


async def _load(spec: LoadSpec) -> LoadResult:
    loop = asyncio.get_running_loop()
    parts = urllib.parse.urlsplit(spec.url)
    shared = _Shared()
    cookies = spec.cookies or [None]  # type: ignore[list-item]
    conns: list[_Conn] = []
    for i in range(spec.concurrency):
        raw = build_request(spec, cookies[i % len(cookies)])
        _, conn = await loop.create_connection(
            lambda raw=raw: _Conn(shared, raw, spec.method == "HEAD"), parts.hostname, parts.port
        )
        conn.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conns.append(conn)
    await asyncio.sleep(spec.warmup)
    shared.measuring = True
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    s0 = _proc_cpu_seconds(spec.server_pid) if spec.server_pid else None
    t0 = time.perf_counter()
    await asyncio.sleep(spec.duration)
    shared.measuring = False
    seconds = time.perf_counter() - t0
    s1 = _proc_cpu_seconds(spec.server_pid) if spec.server_pid else None
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    shared.stopping = True
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(c.done for c in conns)), 5)
    for c in conns:
        c.transport.close()
    lat = sorted(shared.latencies)
    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else 0.0

    used = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return LoadResult(
        requests=sum(shared.statuses.values()),
        seconds=seconds,
        statuses=shared.statuses,
        errors=shared.errors,
        p50_ms=pct(0.50),
        p99_ms=pct(0.99),
        client_cpu=used / seconds,
        server_cpu=None if s0 is None or s1 is None else (s1 - s0) / seconds,
    )


def run_load(spec: LoadSpec, *, cpu: int | None | str = "auto", server: Server | None = None) -> LoadResult:
    """Run the load client in its own process (pinned to ``cpu``) and return its result.

    With ``server`` given, also records the server's CPU use over the measured window
    (on Linux), as a fraction of one core.
    """
    if cpu == "auto":
        cpu = cpu_plan()[1]
    if server is not None:
        spec = LoadSpec(**{**spec.__dict__, "server_pid": server.pid})
    cmd = _pinned([sys.executable, os.path.abspath(__file__), "_client", json.dumps(spec.__dict__)], cpu)  # type: ignore[arg-type]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=spec.duration + spec.warmup + 60)
    raw = json.loads(out.stdout)
    raw["statuses"] = {int(k): v for k, v in raw["statuses"].items()}
    return LoadResult(**raw)


def _client_main(raw_spec: str) -> None:
    spec = LoadSpec(**json.loads(raw_spec))
    result = asyncio.run(_load(spec))
    print(json.dumps(result.__dict__))


# -- the setup users deploy: gunicorn, a private redis-server, wrk ---------------------------------


@contextlib.contextmanager
def serve_wsgi(
    app: str,
    *,
    env: Mapping[str, str] | None = None,
    app_dir: str = HERE,
    cpu: int | None | str = "auto",
    worker_class: str = "gthread",
    threads: int = 4,
    timeout: float = 30.0,
) -> Iterator[Server]:
    """Run gunicorn (one worker) on ``app`` (``module:factory()``) on a free port; yield a
    Server whose CPU and memory are read from the worker, which serves the requests."""
    if cpu == "auto":
        cpu = cpu_plan()[0]
    port = free_port()
    cmd = [
        sys.executable, "-m", "gunicorn", app, "--chdir", app_dir, "--bind", f"127.0.0.1:{port}",
        "--workers", "1", "--worker-class", worker_class, "--threads", str(threads), "--keep-alive", "30",
        "--log-level", "warning",
    ]
    proc = subprocess.Popen(_pinned(cmd, cpu), env={**os.environ, **(env or {})})  # type: ignore[arg-type]
    try:
        _wait_ready(proc, port, "/", timeout)
        yield Server(url=f"http://127.0.0.1:{port}", port=port, proc=proc, cpu=cpu,  # type: ignore[arg-type]
                     worker_pid=_child_of(proc.pid))
    finally:
        stop(proc)


def _child_of(parent: int) -> int:
    """The pid of the (only) child of ``parent`` (Linux /proc): gunicorn's worker."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == parent:
                return int(entry)
    raise RuntimeError(f"process {parent} has no child")


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """redis-server on a free loopback port in its own temp dir, no RDB, no AOF (never a
    shared or default one), pinned to the client's core; yields its URL and removes
    everything afterwards."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server not found (apt-get install redis-server)")
    workdir = tempfile.mkdtemp(prefix="tether-bench-redis-")
    port = free_port()
    cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
           "--dir", workdir, "--logfile", os.path.join(workdir, "redis.log")]
    # On the load client's core: Redis stands for another machine, not for a rival of
    # the server under test on its own core.
    proc = subprocess.Popen(_pinned(cmd, cpu_plan()[1]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not _answers_ping(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_calls(url: str) -> int:
    """Commands Redis has run so far (``INFO commandstats``), those inside Lua scripts
    included. Each call adds a few of its own (a new connection's handshake, the INFO):
    noise next to the thousands a load run makes."""
    import redis

    with redis.Redis.from_url(url) as client:
        return sum(int(v["calls"]) for v in client.info("commandstats").values())


WRK_SCRIPT = os.path.join(HERE, "browser.lua")


@dataclass
class WrkResult:
    """One wrk run, plus the server's CPU over it."""

    requests: int
    seconds: float
    bytes: int
    p50_ms: float
    p99_ms: float
    #: socket errors (connect, read, write, timeout) and answers >= 400 ("status")
    errors: dict[str, int]
    server_cpu_seconds: float | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def server_us_per_request(self) -> float | None:
        if self.server_cpu_seconds is None or not self.requests:
            return None
        return self.server_cpu_seconds / self.requests * 1e6


def run_wrk(
    server: Server,
    *,
    mix: str,
    cookies: Sequence[str] = (),
    duration: int = 3,
    connections: int = 32,
    heartbeat: str = "/_tether/heartbeat",
    cpu: int | None | str = "auto",
) -> WrkResult:
    """Load ``server`` with wrk (one thread, ``connections`` keep-alive connections,
    pinned to ``cpu``) running ``browser.lua`` with the request ``mix``; the server's CPU
    time is read from /proc right before and after."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found (apt-get install wrk, or make bench)")
    if cpu == "auto":
        cpu = cpu_plan()[1]
    with tempfile.NamedTemporaryFile("w", prefix="tether-bench-cookies-", suffix=".txt") as jar:
        jar.write("\n".join(cookies))
        jar.flush()
        env = {**os.environ, "BENCH_COOKIES": jar.name, "BENCH_MIX": mix, "BENCH_ORIGIN": server.url,
               "BENCH_HEARTBEAT": heartbeat}
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", WRK_SCRIPT, server.url]
        cpu0 = server.cpu_seconds()
        out = subprocess.run(_pinned(cmd, cpu), env=env, check=True, capture_output=True, text=True,  # type: ignore[arg-type]
                             timeout=duration + 60)
        cpu1 = server.cpu_seconds()
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")
    raw = json.loads(line.split(" ", 1)[1])
    return WrkResult(
        requests=raw["requests"], seconds=raw["duration_us"] / 1e6, bytes=raw["bytes"],
        p50_ms=raw["p50_us"] / 1000, p99_ms=raw["p99_us"] / 1000,
        errors={k: raw[k] for k in ("connect", "read", "write", "timeout", "status") if raw[k]},
        server_cpu_seconds=None if cpu0 is None or cpu1 is None else cpu1 - cpu0,
    )


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as ``uptime`` shows them."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# -- output ---------------------------------------------------------------------------------------


def fmt_statuses(statuses: Mapping[int, int]) -> str:
    return " ".join(f"{code}×{n}" for code, n in sorted(statuses.items()))


def print_table(rows: Sequence[tuple[str, LoadResult]], baseline: str | None = None, file: Any = None) -> str:
    """A Markdown table of req/s, ratio to the baseline row (default: the first), latency,
    statuses and CPU use. Returns the text it printed."""
    if not rows:
        return ""
    base = dict(rows).get(baseline) if baseline else rows[0][1]
    assert base is not None, f"no baseline row {baseline!r}"
    header = (
        f"| case | req/s | × {baseline or rows[0][0]} | server CPU µs/req | × by CPU | p50 ms | p99 ms "
        "| statuses | server CPU | client CPU |"
    )
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    base_us = base.server_us_per_request
    for name, r in rows:
        ratio = r.rps / base.rps if base.rps else 0.0
        us = r.server_us_per_request
        us_text = f"{us:,.0f}" if us is not None else "?"
        cpu_ratio = f"{base_us / us:.2f}" if us and base_us else "?"
        server_cpu = f"{r.server_cpu * 100:.0f} %" if r.server_cpu is not None else "?"
        errors = f" (+{r.errors} conn errors)" if r.errors else ""
        lines.append(
            f"| {name} | {r.rps:,.0f} | {ratio:.2f} | {us_text} | {cpu_ratio} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
            f"{fmt_statuses(r.statuses)}{errors} | {server_cpu} | {r.client_cpu * 100:.0f} % |"
        )
    text = "\n".join(lines)
    print(text, file=file or sys.stdout, flush=True)
    return text


# -- self-test: how fast is the client? --------------------------------------------------------------

_HELLO = b'{"state":"active"}'


#: The heartbeat's exact 200 answer, for the bare baseline endpoint.
HEARTBEAT_BODY = json.dumps(
    {"state": "active", "idle_remaining": 1199.994, "absolute_remaining": 43187.123,
     "idle_timeout": 1200, "warn_before": 120},
    separators=(",", ":"),
).encode()
HEARTBEAT_HEADERS = [
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
]


def bare_app() -> Any:
    """The baseline (a uvicorn factory): reads the body, answers the heartbeat's headers
    and body, precomputed. The strictest baseline there is."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "POST":
            while (await receive()).get("more_body"):
                pass
        await send({"type": "http.response.start", "status": 200, "headers": HEARTBEAT_HEADERS})
        await send({"type": "http.response.body", "body": HEARTBEAT_BODY})

    return app


def login_app() -> Any:
    """What sits behind TetherMiddleware in the benches: ``POST /login`` signs in."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/login" and scope["method"] == "POST":
            scope["tether"].login("bench-user")
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"ok":true}'})

    return app


def sign_in(url: str, n: int, cookie_name: str | None) -> list[str]:
    """``n`` fresh sessions through the app's ``POST /login`` (over one keep-alive
    connection); their Cookie header values (none for an app without sessions)."""
    import http.client

    if cookie_name is None:
        return []
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    headers = {"content-type": "application/json", "origin": url, "sec-fetch-site": "same-origin"}
    cookies = []
    try:
        for _ in range(n):
            conn.request("POST", "/login", body=b"{}", headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == 200, (resp.status, body)
            cookies.append(cookie_from(resp.getheaders(), cookie_name))
            if resp.will_close:
                conn.close()
    finally:
        conn.close()
    return cookies


async def asgi_call(app: Any, method: str, path: str, headers: Mapping[str, str],
                    body: bytes = b"") -> tuple[int, list[tuple[str, str]]]:
    """One request straight through an ASGI app, in process: (status, response headers)."""
    sent: list[dict[str, Any]] = []
    done = False

    async def receive() -> dict[str, Any]:
        nonlocal done
        if done:
            await asyncio.sleep(3600)  # a disconnect never comes: the app has answered by then
        done = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": method, "path": path, "scheme": "http", "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()], "root_path": "",
    }
    await app(scope, receive, send)
    start = sent[0]
    return start["status"], [(k.decode(), v.decode()) for k, v in start["headers"]]


def hello_app() -> Any:
    """A minimal ASGI app for the client self-test."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"18")]})
        await send({"type": "http.response.body", "body": _HELLO})

    return app


def _selftest(duration: float, concurrency: int) -> None:
    """Bare app, one client process vs two client processes at once: if two together
    barely beat one, the server (not the client) is the limit."""
    server_cpu, client_cpu = cpu_plan()
    print(f"uvicorn http={http_impl()} loop={loop_impl()}; server core {server_cpu}, client core {client_cpu}")
    with serve("common:hello_app") as server:
        spec = LoadSpec(url=server.url + "/", duration=duration, concurrency=concurrency)
        one = run_load(spec, server=server)
        from concurrent.futures import ThreadPoolExecutor

        half = LoadSpec(url=spec.url, duration=duration, concurrency=max(1, concurrency // 2))
        with ThreadPoolExecutor(2) as pool:
            both = list(pool.map(lambda _: run_load(half), range(2)))
    total = sum(r.rps for r in both)
    print(f"one client process:  {one.rps:,.0f} req/s (client CPU {one.client_cpu * 100:.0f} %, "
          f"server CPU {(one.server_cpu or 0) * 100:.0f} %)")
    print(f"two client processes: {total:,.0f} req/s together ({total / one.rps:.2f}× one)")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "_client":
        _client_main(sys.argv[2])
    elif len(sys.argv) >= 2 and sys.argv[1] == "selftest":
        import argparse

        p = argparse.ArgumentParser(prog="common.py selftest")
        p.add_argument("--duration", type=float, default=4.0)
        p.add_argument("--concurrency", type=int, default=32)
        a = p.parse_args(sys.argv[2:])
        _selftest(a.duration, a.concurrency)
    else:
        print(__doc__)
