"""Where a request's server CPU goes, per layer: py-spy on a server under wrk load.

For each ``case/workload`` (case names as in ``bench_hotpath.py``), the server is started
as there, loaded by wrk for ``--duration`` seconds while ``py-spy record --nonblocking``
samples it (all threads, idle ones left out), and its CPU per request is read from
/proc over the same run. Each sample is charged to the innermost frame that belongs to a
known layer (ASGI/WSGI server, tether's middleware, protocol, store, redis-py, JSON,
cookies, the framework, the app), so a stdlib helper (``re``, ``copy``, ``dataclasses``)
counts for the layer that called it. C code shows under its Python caller: the
socket I/O and HTTP parsing that uvloop and httptools do outside any Python frame is in
"server + event loop". Shares × CPU per request give µs per request per layer.

What a sample is: under uvicorn (one thread) the thread whenever it is not idle in the
event loop's poll; under gunicorn (threads that block in socket calls, which py-spy
cannot tell from work) the thread that holds the GIL (``--gil``), so there the shares
are of Python-level work, and time in system calls made without the GIL (socket reads
and writes) is spread over the layers in proportion.

    .venv/bin/python bench/bench_profile.py [--duration 10] [--top 12] \\
        ["tether ASGI + memory/heartbeat" "bare ASGI/heartbeat" ...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_hotpath import Case, cases  # noqa: E402
from common import WrkResult, cpu_plan, load_average, private_redis, run_wrk, sign_in  # noqa: E402

DEFAULT = [
    "bare ASGI/heartbeat", "tether ASGI + memory/heartbeat", "tether ASGI + Redis/heartbeat",
    "bare ASGI/page", "tether ASGI + memory/page", "tether ASGI + Redis/page",
    "starsessions + Redis (rolling)/heartbeat",
    "Flask + tether + Redis/heartbeat", "Flask-Session + Redis/heartbeat",
]

#: (layer, path fragments of its frames), first match wins, checked from the leaf up.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("JSON (json module)", ("json/",)),
    ("cookies (tether/_cookies.py, http.cookies)", ("tether/_cookies.py", "http/cookies.py")),
    ("tether store (tether/stores/)", ("tether/stores/",)),
    ("tether protocol (_protocol, _policy, _records)", ("tether/_protocol.py", "tether/_policy.py",
                                                        "tether/_records.py", "tether/_clock.py")),
    ("tether middleware (asgi.py, wsgi.py, contrib/)", ("tether/asgi.py", "tether/wsgi.py", "tether/contrib/")),
    ("redis-py", ("redis/",)),
    ("peer session layer (starlette, starsessions, flask_session)", ("starlette/", "starsessions/", "flask_session/",
                                                                    "itsdangerous/", "msgspec")),
    ("framework (Flask, Werkzeug, Django)", ("flask/", "werkzeug/", "django/", "jinja2/")),
    ("the app (bench/apps.py)", ("apps.py",)),
    ("server + event loop (uvicorn, uvloop, httptools, asyncio)", ("uvicorn/", "uvloop", "httptools", "asyncio/")),
    ("WSGI server (gunicorn, threads, selectors)", ("gunicorn/", "selectors.py", "threading.py", "concurrent/",
                                                    "socket.py", "queue.py")),
]
UNKNOWN = "other"


def frame_file(frame: str) -> str:
    """``func (path/file.py:12)`` → ``path/file.py``."""
    return frame.rsplit(" (", 1)[-1].rstrip(")").rsplit(":", 1)[0]


def layer_of(stack: list[str]) -> str:
    for frame in reversed(stack):
        path = frame_file(frame)
        for layer, fragments in LAYERS:
            if any(fragment in path for fragment in fragments):
                return layer
    return UNKNOWN


def read_raw(path: str) -> list[tuple[list[str], int]]:
    """py-spy's ``--format raw`` (collapsed stacks): ``frame;frame;frame count`` per line."""
    out = []
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if stack:
                out.append((stack.split(";"), int(count)))
    return out


def profile(case: Case, kind: str, redis_url: str, duration: int, top: int, workdir: str) -> list[str]:
    """Profile one case under one workload; the Markdown lines of its report."""
    raw_path = os.path.join(workdir, f"{case.name}-{kind}.txt".replace(" ", "_").replace("/", "_"))
    with case.serve() as server:
        cookies = sign_in(server.url, 32, case.cookie)
        run_wrk(server, mix=kind, cookies=cookies, duration=1)  # warm-up
        _, client_core = cpu_plan()
        spy = ["py-spy", "record", "--pid", str(server.pid), "--duration", str(duration), "--rate", "250",
               "--nonblocking", *(["--gil"] if case.wsgi else []), "--format", "raw", "--output", raw_path]
        if client_core is not None:
            spy = ["taskset", "-c", str(client_core), *spy]
        result: list[WrkResult] = []
        load = threading.Thread(target=lambda: result.append(
            run_wrk(server, mix=kind, cookies=cookies, duration=duration + 1)))
        load.start()
        subprocess.run(spy, check=True, capture_output=True, env={**os.environ, "PATH": _venv_path()})
        load.join()
    samples = read_raw(raw_path)
    total = sum(n for _, n in samples) or 1
    per_request = result[0].server_us_per_request or 0.0
    layers: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    tether = 0
    for stack, n in samples:
        layers[layer_of(stack)] += n
        leaves[stack[-1]] += n
        if any("tether/" in frame_file(f) for f in stack):
            tether += n
    lines = [f"### {case.name}, {kind}: {per_request:,.0f} µs of server CPU per request "
             f"({result[0].rps:,.0f} req/s under py-spy; {total:,} samples)\n",
             "| layer | share of samples | µs/req |", "|---|---:|---:|"]
    for layer, n in layers.most_common():
        lines.append(f"| {layer} | {n / total:.1%} | {n / total * per_request:,.1f} |")
    lines.append(f"| *tether frames anywhere on the stack (inclusive)* | {tether / total:.1%} | "
                 f"{tether / total * per_request:,.1f} |")
    lines += ["", f"Top {top} leaf frames (self time):", "", "| frame | share | µs/req |", "|---|---:|---:|"]
    for frame, n in leaves.most_common(top):
        lines.append(f"| `{frame}` | {n / total:.1%} | {n / total * per_request:,.1f} |")
    lines += ["", f"Raw stacks: `{raw_path}` (flamegraph.pl input)", ""]
    return lines


def _venv_path() -> str:
    """PATH with this interpreter's bin directory first (where pip puts py-spy)."""
    return os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("targets", nargs="*", default=DEFAULT, help="'case name/workload' (default: a set of nine)")
    p.add_argument("--duration", type=int, default=10, help="seconds sampled per target (default 10)")
    p.add_argument("--top", type=int, default=12, help="leaf frames listed per target (default 12)")
    args = p.parse_args(argv)
    print(f"Load average before the run (uptime): {load_average()}\n", flush=True)
    workdir = tempfile.mkdtemp(prefix="tether-bench-profile-")
    with private_redis() as redis_url:
        known = {c.name: c for c in cases(redis_url, workdir)}
        for target in args.targets:
            name, _, kind = target.rpartition("/")
            if name not in known:
                raise SystemExit(f"unknown case {name!r}; known: {', '.join(known)}")
            print("\n".join(profile(known[name], kind, redis_url, args.duration, args.top, workdir)), flush=True)
    print(f"Load average after the run: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
