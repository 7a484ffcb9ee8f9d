"""`make bench`: the HTTP API against a real MariaDB, loaded by wrk from a separate process.

Steps: recreate the bench database and migrate it; start `billing serve` (production mode: MariaDB,
real Argon2 parameters, N workers) and the bare aiohttp "hello" yardstick; seed through the API;
check that 1,000 requests open no new database connection; run each wrk scenario; write
bench/results/<UTC timestamp>.json and the table between the markers in bench/README.md.

The `mixed` scenario runs against a second `billing serve` that logs at INFO, as in production
(an access line per request), with hostile paths and unpaged 20,000-bill listings sent beside wrk
from a thread of this process.

Not a test: it prints whether each target was met and exits 0 either way (1 with --strict when
one was missed), because a shared 2-core machine is noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pymysql
import yarl
from sqlalchemy.engine import make_url

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
README = BENCH / "README.md"
LUA = BENCH / "wrk" / "request.lua"
DEFAULT_URL = "mysql+aiomysql://billing_test:billing_test@127.0.0.1:3306/billing_test_httpbench"
PASSWORD = "Bench-pass-2468!"
READER = "bench-reader@example.com"
WRITER = "bench-writer@example.com"
HOARDER = "bench-hoarder@example.com"  # the mixed scenario's unpaged listings: HOARD bills
HOARD = 20_000
HOSTILE_PATH = "/" + "a+" * 4000  # ~8 KB, within aiohttp's request-line limit; unauthenticated: a 404
BILL = {"vendor": "Northwind Power", "bill_date": "2026-11-01", "due_date": "2026-11-30", "amount_due": 120.5,
        "currency": "EUR", "categories": ["home", "energy"], "payment_status": "due"}
START = "<!-- bench:results:start -->"
END = "<!-- bench:results:end -->"


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    path: str
    method: str = "GET"
    auth: str | None = None  # email of the caller
    body: dict[str, Any] | None = None
    server: str = "billing"  # or "hello", or "billing-info" (logging at INFO)
    side_load: bool = False  # hostile paths and unpaged listings beside wrk (the mixed scenario)


@dataclass
class Target:
    scenario: str
    want: str
    met: bool
    got: str


@dataclass
class Run:
    args: argparse.Namespace
    ports: dict[str, int] = field(default_factory=dict)  # by server name (Scenario.server)
    bill_id: str = ""
    processes: dict[str, subprocess.Popen[str]] = field(default_factory=dict)  # by server name

    @property
    def billing_port(self) -> int:
        return self.ports["billing"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="`billing serve --workers` and hello workers (default: CPU count)")
    parser.add_argument("--only", action="append", default=[],
                        help="run only these scenarios (repeatable, or comma-separated)")
    parser.add_argument("--hostile-rps", type=float, default=10.0,
                        help="mixed: hostile-path requests per second beside wrk (default 10)")
    parser.add_argument("--listings", type=int, default=2,
                        help="mixed: clients each listing 20,000 bills again and again beside wrk (default 2)")
    parser.add_argument("--no-readme", action="store_true", help="do not rewrite the table in bench/README.md")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    args.only = [name for names in args.only for name in names.split(",") if name]
    run = Run(args)
    url = os.environ.get("BILLING_BENCH_MYSQL_URL", DEFAULT_URL)
    info_log = tempfile.NamedTemporaryFile(prefix="billing-bench-", suffix=".log")  # noqa: SIM115
    try:
        db_version = reset_database(url)
        migrate(url)
        selected = [s.name for s in all_scenarios(run) if not args.only or s.name in args.only]
        serve = [str(Path(sys.executable).with_name("billing")), "serve", "--workers", str(args.workers)]
        serve_env = {"BILLING_DATABASE_URL": url, "BILLING_HTTP_HOST": "127.0.0.1"}
        servers = ["billing", "hello", *(["billing-info"] if "mixed" in selected else [])]
        run.ports = dict(zip(servers, free_ports(len(servers)), strict=True))
        start(run, "billing", serve, env=serve_env | {"BILLING_LOG_LEVEL": "WARNING"})
        start(run, "hello", [sys.executable, str(BENCH / "hello.py"), "{port}", str(args.workers)], env={})
        if "mixed" in selected:  # logs as production does; its lines go to a file nobody reads
            start(run, "billing-info", serve, env=serve_env | {"BILLING_LOG_LEVEL": "INFO"}, output=info_log)
        for name in run.ports:
            wait_healthy(run, f"http://127.0.0.1:{run.ports[name]}/" + ("" if name == "hello" else "healthz"))
        seed(run)
        if "mixed" in selected:
            seed_hoard(run, url)
        connections = asyncio.run(connection_check(run, url))
        scenarios = [s for s in all_scenarios(run) if s.name in selected]
        figures = {s.name: wrk(run, s) for s in scenarios}
        connections["after_wrk"] = len(db_threads(url))
    finally:
        stops = stop_all(run)
        info_log.close()
    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": "make bench" + (f" BENCH_ARGS={shlex.quote(' '.join(sys.argv[1:]))}" if sys.argv[1:] else ""),
        "machine": machine(db_version),
        "git": git_describe(),
        "settings": {"duration_s": args.duration, "connections": args.connections, "wrk_threads": args.threads,
                     "workers": args.workers, "mixed_hostile_rps": args.hostile_rps, "mixed_listings": args.listings},
        "scenarios": figures,
        "db_connections": connections,
        "exit_codes": stops,
    }
    targets = check_targets(report)
    report["targets"] = [t.__dict__ for t in targets]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{report['date'].replace(':', '')}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report, targets, out)
    print(table)
    if not args.no_readme:
        write_readme(table)
    missed = [t for t in targets if not t.met]
    print(f"bench: results in {out.relative_to(ROOT)}; "
          + ("every target met" if not missed else f"MISSED: {', '.join(t.scenario for t in missed)}"))
    return 1 if missed and args.strict else 0


# ---------------------------------------------------------------- database

def _connect(url: str, database: str | None = None) -> pymysql.Connection:
    u = make_url(url)
    return pymysql.connect(host=u.host or "127.0.0.1", port=u.port or 3306, user=u.username or "",
                           password=u.password or "", database=database, autocommit=True, charset="utf8mb4")


def reset_database(url: str) -> str:
    """Drop and recreate the bench database's tables, so every run starts empty."""
    name = make_url(url).database
    conn = _connect(url)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        cur.execute(f"USE `{name}`")
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (name,))
        tables = [row[0] for row in cur.fetchall()]
        cur.execute("SET FOREIGN_KEY_CHECKS = 0")
        for table in tables:
            cur.execute(f"DROP TABLE `{table}`")
        cur.execute("SELECT VERSION()")
        version = cur.fetchone()[0]
    conn.close()
    return version


def db_threads(url: str) -> set[int]:
    """Ids of the server's connections that sit in the bench database (the service's pool)."""
    conn = _connect(url)
    with conn.cursor() as cur:
        cur.execute("SELECT id FROM information_schema.processlist WHERE db = %s AND id <> CONNECTION_ID()",
                    (make_url(url).database,))
        ids = {row[0] for row in cur.fetchall()}
    conn.close()
    return ids


def migrate(url: str) -> None:
    env = os.environ | {"BILLING_DATABASE_URL": url, "BILLING_LOG_LEVEL": "WARNING"}
    subprocess.run([str(Path(sys.executable).with_name("billing")), "migrate"], env=env, check=True)


# ---------------------------------------------------------------- processes

def free_ports(count: int) -> list[int]:
    """`count` distinct free ports: each socket stays bound until all are chosen (a port given back
    at once may be handed out again before the server meant for it binds it)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def start(run: Run, name: str, argv: list[str], env: dict[str, str], output: Any = None) -> None:
    """Start server `name` on its port (BILLING_HTTP_PORT, or "{port}" in `argv`)."""
    port = run.ports[name]
    argv = [a.replace("{port}", str(port)) for a in argv]
    run.processes[name] = subprocess.Popen(argv, env=os.environ | env | {"BILLING_HTTP_PORT": str(port)}, cwd=ROOT,
                                           text=True, stdout=output, stderr=output)


def wait_healthy(run: Run, url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        for name, p in run.processes.items():
            if p.poll() is not None:
                raise SystemExit(f"bench: {name} exited with {p.returncode} before answering")
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: {url} did not answer within 30 s")
        time.sleep(0.1)


def stop_all(run: Run) -> dict[str, int | None]:
    codes: dict[str, int | None] = {}
    for p in run.processes.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for server, p in run.processes.items():
        name = {"billing": "billing serve", "billing-info": "billing serve (INFO)"}.get(server, server)
        try:
            codes[name] = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            codes[name] = p.wait()
    return codes


# ---------------------------------------------------------------- seeding through the API

def authorization(email: str) -> str:
    return "Basic " + base64.b64encode(f"{email}:{PASSWORD}".encode()).decode()


def call(run: Run, method: str, path: str, body: Any = None, auth: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = authorization(auth)
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{run.billing_port}{path}", data=data, method=method,
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"bench: {method} {path} answered {exc.code}: {exc.read().decode()}") from None
    return json.loads(raw) if raw else None


def seed(run: Run) -> None:
    """The reader has 20 bills (the listing scenario); the writer receives the POSTs."""
    for email in (READER, WRITER):
        call(run, "POST", "/v1/user", {"first_name": "Bench", "last_name": "Mark", "email_address": email,
                                       "password": PASSWORD})
    first = date(2026, 1, 5)
    for i in range(20):
        due = first + timedelta(days=7 * i)
        bill = BILL | {"vendor": f"Vendor {i:02d}", "bill_date": (due - timedelta(days=20)).isoformat(),
                       "due_date": due.isoformat(), "amount_due": 10 + i + 0.25}
        created = call(run, "POST", "/v1/bill", bill, auth=READER)
        run.bill_id = run.bill_id or created["id"]
    assert len(call(run, "GET", "/v1/bills", auth=READER)) == 20


def seed_hoard(run: Run, url: str) -> None:
    """The hoarder (through the API) and their HOARD bills, inserted straight into the database:
    through the API they would take minutes."""
    hoarder = call(run, "POST", "/v1/user", {"first_name": "Bench", "last_name": "Hoard", "email_address": HOARDER,
                                             "password": PASSWORD})
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:23]
    first = date(2026, 1, 1)
    rows = [(str(uuid.uuid4()), hoarder["id"], f"Vendor {i:05d}", first.isoformat(),
             (first + timedelta(days=i % 730)).isoformat(), "120.50", "EUR", '["home", "energy"]', "due", now, now)
            for i in range(HOARD)]
    conn = _connect(url, make_url(url).database)
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO bills (id, owner_id, vendor, bill_date, due_date, amount_due, currency, "
                        "categories, payment_status, created_ts, updated_ts) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)
        cur.execute("SELECT COUNT(*) FROM bills WHERE owner_id = %s", (hoarder["id"],))
        assert cur.fetchone()[0] == HOARD
    conn.close()


async def connection_check(run: Run, url: str, count: int = 1000) -> dict[str, Any]:
    """The pool's connections before and after `count` authenticated requests at the bench's
    concurrency, after a warm-up that lets every worker open what it needs. None may be new."""
    headers = {"Authorization": authorization(READER)}
    target = f"http://127.0.0.1:{run.billing_port}/v1/bill/{run.bill_id}"

    async def burst(n: int) -> None:
        queue = iter(range(n))
        connector = aiohttp.TCPConnector(limit=run.args.connections, force_close=False)
        async with aiohttp.ClientSession(connector=connector) as http:
            async def client() -> None:
                for _ in queue:
                    async with http.get(target, headers=headers) as response:
                        assert response.status == 200, response.status
                        await response.read()
            await asyncio.gather(*(client() for _ in range(run.args.connections)))

    await burst(500)
    before = db_threads(url)
    await burst(count)
    after = db_threads(url)
    return {"requests": count, "before": len(before), "after": len(after), "new": len(after - before)}


# ---------------------------------------------------------------- CPU accounting (noise-proof figures)

TICK = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """pid and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += children.get(p, [])
    return tree


def pids_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def machine_busy_seconds() -> float:
    """CPU seconds spent by everything on the machine (all CPUs, not idle or iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / TICK


def wait_for_quiet(limit: float = 0.3, patience: float = 60.0) -> float:
    """Wait (at most `patience` s) for a second in which the machine, our processes idle, is at
    most `limit` busy: other work on a shared machine skews the figures. Returns the last load."""
    deadline = time.monotonic() + patience
    while True:
        before = machine_busy_seconds()
        time.sleep(1.0)
        busy = (machine_busy_seconds() - before) / (os.cpu_count() or 1)
        if busy <= limit or time.monotonic() > deadline:
            return round(busy, 2)


# ---------------------------------------------------------------- wrk

def all_scenarios(run: Run) -> list[Scenario]:
    return [
        Scenario("hello", "bare aiohttp app `GET /` (yardstick)", "/", server="hello"),
        Scenario("healthz", "`GET /healthz` (whole middleware stack)", "/healthz"),
        Scenario("user_self", "`GET /v1/user/self`", "/v1/user/self", auth=READER),
        Scenario("bill_get", "`GET /v1/bill/{id}`", f"/v1/bill/{run.bill_id}", auth=READER),
        Scenario("bills_list", "`GET /v1/bills` (20 bills)", "/v1/bills", auth=READER),
        Scenario("bill_post", "`POST /v1/bill`", "/v1/bill", method="POST", auth=WRITER, body=BILL),
        Scenario("mixed", "`GET /v1/bill/{id}` beside hostile paths and 20,000-bill listings (INFO log)",
                 f"/v1/bill/{run.bill_id}", auth=READER, server="billing-info", side_load=True),
    ]


def wrk(run: Run, s: Scenario) -> dict[str, Any]:
    port = run.ports[s.server]
    side = SideLoad(run, port) if s.side_load else None
    with tempfile.NamedTemporaryFile(suffix=".json") as report:
        argv = ["wrk", f"-t{run.args.threads}", f"-c{run.args.connections}", f"-d{run.args.duration}s",
                "--timeout", "5s", "-s", str(LUA)]
        if s.auth:
            argv += ["-H", f"Authorization: {authorization(s.auth)}"]
        argv.append(f"http://127.0.0.1:{port}{s.path}")
        env = os.environ | {"WRK_METHOD": s.method, "WRK_BODY": json.dumps(s.body) if s.body else "",
                            "WRK_REPORT": report.name}
        idle_busy = wait_for_quiet()
        print(f"==> {s.name}: {s.method} {s.path} ({run.args.connections} connections, {run.args.duration} s)",
              file=sys.stderr, flush=True)
        server = process_tree(run.processes[s.server].pid)
        db = pids_named("mariadbd")
        server0, db0, all0 = cpu_seconds(server), cpu_seconds(db), machine_busy_seconds()
        if side is not None:
            side.start()
        load = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(load.pid, 0)
        server_cpu, db_cpu = cpu_seconds(server) - server0, cpu_seconds(db) - db0
        wrk_cpu = usage.ru_utime + usage.ru_stime
        other_cpu = max(0.0, machine_busy_seconds() - all0 - server_cpu - db_cpu - wrk_cpu)
        if side is not None:
            side.stop()
        load.returncode = os.waitstatus_to_exitcode(status)
        if load.returncode != 0:
            raise SystemExit(f"bench: wrk exited with {load.returncode}")
        raw = json.loads(Path(report.name).read_text())
    seconds = raw["duration_us"] / 1e6
    lat = raw["latency_us"]
    figures = {
        "what": s.what,
        "requests": raw["requests"],
        "rps": round(raw["requests"] / seconds, 1),
        "latency_ms": {k: round(v / 1000, 2) for k, v in lat.items()},
        "errors": raw["errors"],
        # CPU per request is steadier than req/s on a shared machine; "other" is what processes
        # outside the bench took meanwhile (in CPUs, 0 to the CPU count).
        "cpu_ms_per_request": {"server": round(server_cpu * 1000 / max(1, raw["requests"]), 3),
                               "mariadb": round(db_cpu * 1000 / max(1, raw["requests"]), 3),
                               "wrk": round(wrk_cpu * 1000 / max(1, raw["requests"]), 3)},
        "other_cpus_busy": round(other_cpu / seconds, 2),
        "machine_busy_before": idle_busy,
    }
    if side is not None:
        figures["side_load"] = side.figures
        print(f"    beside it: {side.summary()}", file=sys.stderr, flush=True)
    print(f"    {figures['rps']:.0f} req/s, p50 {figures['latency_ms']['p50']} ms, "
          f"p99 {figures['latency_ms']['p99']} ms, errors {raw['errors']}, "
          f"CPU ms/request {figures['cpu_ms_per_request']}, other CPUs busy {figures['other_cpus_busy']}",
          file=sys.stderr, flush=True)
    return figures


# ---------------------------------------------------------------- the mixed scenario's side load

class SideLoad:
    """What runs beside wrk in the mixed scenario, from a thread with its own event loop: hostile
    paths (unauthenticated, ~8 KB) sent at a fixed rate whatever the answers take (an attacker
    does not wait), and `--listings` clients each asking for the hoarder's 20,000 bills without
    `limit` again and again (a listing in progress when wrk ends is finished and counted)."""

    def __init__(self, run: Run, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.rps = run.args.hostile_rps
        self.listers = run.args.listings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="side-load")
        self.figures: dict[str, Any] = {}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        self.figures = asyncio.run(self._load())

    async def _load(self) -> dict[str, Any]:
        listings: list[tuple[int, bool, float]] = []  # (status or 0 for a connection error, complete, seconds)
        hostile: list[tuple[int, float]] = []  # (status or 0 for a connection error, seconds)
        headers = {"Authorization": authorization(HOARDER)}
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as http:
            async def lister() -> None:
                while not self._stop.is_set():
                    started = time.perf_counter()
                    status = 0
                    try:
                        async with http.get(f"{self.base}/v1/bills", headers=headers) as response:
                            status = response.status
                            body = await response.read()
                        # every bill, and the array closed (a cut stream fails the read or this)
                        complete = status == 200 and body.count(b'{"id":') == HOARD and body.endswith(b"]")
                    except aiohttp.ClientError:
                        complete = False
                    listings.append((status, complete, time.perf_counter() - started))
                    if not complete:
                        await asyncio.sleep(0.1)  # a refused listing is no reason to hammer

            async def one_hostile() -> None:
                started = time.perf_counter()
                try:
                    async with http.get(yarl.URL(self.base + HOSTILE_PATH, encoded=True)) as response:
                        await response.read()
                        hostile.append((response.status, time.perf_counter() - started))
                except aiohttp.ClientError:
                    hostile.append((0, time.perf_counter() - started))

            async def attacker() -> None:
                loop = asyncio.get_running_loop()
                sent: set[asyncio.Task[None]] = set()
                due = loop.time()
                while not self._stop.is_set() and self.rps > 0:
                    task = asyncio.create_task(one_hostile())
                    sent.add(task)
                    task.add_done_callback(sent.discard)
                    due += 1 / self.rps
                    await asyncio.sleep(max(0.0, due - loop.time()))
                await asyncio.gather(*sent)

            await asyncio.gather(attacker(), *(lister() for _ in range(self.listers)))
        return {
            "listings": {"clients": self.listers, "count": len(listings),
                         "complete": sum(1 for _, ok, _ in listings if ok),
                         "statuses": _counts(status for status, _, _ in listings),
                         "seconds_p50": _quantile([t for _, _, t in listings], 0.5)},
            "hostile": {"rps": self.rps, "count": len(hostile), "statuses": _counts(s for s, _ in hostile),
                        "ms_p50": _quantile([t * 1000 for _, t in hostile], 0.5),
                        "ms_p99": _quantile([t * 1000 for _, t in hostile], 0.99)},
        }

    def summary(self) -> str:
        return summary(self.figures)


def _counts(statuses: Iterable[int]) -> dict[str, int]:
    """How many of each status (0: the connection failed)."""
    counts: dict[str, int] = {}
    for status in statuses:
        counts[str(status)] = counts.get(str(status), 0) + 1
    return counts


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1], 3)


def summary(side: dict[str, Any]) -> str:
    listed, hostile = side["listings"], side["hostile"]
    return (
        f"{listed['complete']} of {listed['count']} listings of {HOARD:,} bills complete "
        f"({listed['clients']} clients, statuses {listed['statuses']}, p50 {listed['seconds_p50']} s each); "
        f"{hostile['count']} hostile paths at "
        f"{hostile['rps']:g}/s, statuses {hostile['statuses']}, p50 {hostile['ms_p50']} ms, p99 {hostile['ms_p99']} ms"
    )


def side_load_clean(side: dict[str, Any]) -> bool:
    """Every listing complete (at least one), every hostile path a 404."""
    listed, hostile = side["listings"], side["hostile"]
    return (listed["count"] >= 1 and listed["complete"] == listed["count"]
            and set(hostile["statuses"]) <= {"404"})


# ---------------------------------------------------------------- targets and report

def check_targets(report: dict[str, Any]) -> list[Target]:
    sc = report["scenarios"]
    targets: list[Target] = []

    def rps(name: str, want: float, p99_ms: float | None = None) -> None:
        if name not in sc:
            return
        f = sc[name]
        ok = f["rps"] >= want and _clean(f)
        want_text = f">= {want:,.0f} req/s"
        got = f"{f['rps']:,.0f} req/s"
        if p99_ms is not None:
            ok = ok and f["latency_ms"]["p99"] < p99_ms
            want_text += f", p99 < {p99_ms:.0f} ms"
            got += f", p99 {f['latency_ms']['p99']:.1f} ms"
        targets.append(Target(name, want_text, ok, got))

    rps("bill_get", 1500, p99_ms=50)
    rps("bills_list", 1000)
    rps("bill_post", 500)
    if "mixed" in sc:
        f = sc["mixed"]
        p99 = f["latency_ms"]["p99"]
        targets.append(Target("mixed", "p99 < 100 ms beside hostile paths and 20,000-bill listings, all answered",
                              p99 < 100 and _clean(f) and side_load_clean(f["side_load"]),
                              f"p99 {p99:.1f} ms, {f['rps']:,.0f} req/s; {summary(f['side_load'])}"))
    if "healthz" in sc and "hello" in sc:
        ratio = sc["healthz"]["rps"] / sc["hello"]["rps"]
        targets.append(Target("healthz", ">= 70% of hello", ratio >= 0.70 and _clean(sc["healthz"]),
                              f"{ratio:.0%}"))
    c = report["db_connections"]
    targets.append(Target("db_connections", f"no new connection over {c['requests']:,} requests",
                          c["new"] == 0 and c["after"] <= c["before"],
                          f"{c['before']} before, {c['after']} after, {c['new']} new"))
    targets.append(Target("shutdown", "SIGTERM: every process exits 0",
                          all(code == 0 for code in report["exit_codes"].values()),
                          ", ".join(f"{k} {v}" for k, v in report["exit_codes"].items())))
    for name, f in sc.items():
        if not _clean(f):
            targets.append(Target(name, "no socket errors, no non-2xx", False, json.dumps(f["errors"])))
    return targets


def _clean(figures: dict[str, Any]) -> bool:
    return not any(figures["errors"].values())


def markdown(report: dict[str, Any], targets: list[Target], out: Path) -> str:
    m, st = report["machine"], report["settings"]
    hello = report["scenarios"].get("hello", {}).get("rps")
    lines = [
        f"Run of {report['date']} (`{report['git']}`), results in `{out.relative_to(BENCH)}`.",
        "",
        f"- Machine: {m['cpu']}, {m['cpus']} CPUs, {m['memory_gib']} GiB; {m['os']}; Python {m['python']}; "
        f"MariaDB {m['mariadb']}; {m['wrk']}. Load generator, service and MariaDB share the CPUs.",
        f"- Command: `{report['command']}`: `billing serve --workers {st['workers']}` (uvloop, Argon2id "
        f"m=19 MiB t=2), `wrk -t{st['wrk_threads']} -c{st['connections']} -d{st['duration_s']}s` per scenario.",
        "",
        "| scenario | req/s | vs hello | p50 ms | p90 ms | p99 ms | errors | CPU ms/req service + MariaDB "
        "| other load (CPUs) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in report["scenarios"].values():
        lat = f["latency_ms"]
        ratio = f"{f['rps'] / hello:.0%}" if hello else "-"
        errors = sum(f["errors"].values())
        cpu = f["cpu_ms_per_request"]
        lines.append(f"| {f['what']} | {f['rps']:,.0f} | {ratio} | {lat['p50']:.1f} | {lat['p90']:.1f} | "
                     f"{lat['p99']:.1f} | {errors} | {cpu['server']:.2f} + {cpu['mariadb']:.2f} | "
                     f"{f['other_cpus_busy']:.2f} |")
    if "mixed" in report["scenarios"]:
        lines += ["", "Beside `mixed` (its CPU per request includes theirs): "
                  + summary(report["scenarios"]["mixed"]["side_load"]) + "."]
    lines += ["", "| target | wanted | measured | met |", "|---|---|---|---|"]
    for t in targets:
        lines.append(f"| {t.scenario} | {t.want} | {t.got} | {'yes' if t.met else '**no**'} |")
    return "\n".join(lines)


def write_readme(table: str) -> None:
    text = README.read_text() if README.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    README.write_text(f"{head}{START}\n{table}\n{END}{tail}")


def machine(db_version: str) -> dict[str, Any]:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    os_name = platform.platform(terse=True)
    with contextlib.suppress(OSError, StopIteration):
        os_name = next(line.split("=", 1)[1].strip('"') for line in Path("/etc/os-release").read_text().splitlines()
                       if line.startswith("PRETTY_NAME="))
    return {"cpu": cpu, "cpus": os.cpu_count(), "memory_gib": round(mem_kb / 1024 / 1024), "os": os_name,
            "kernel": platform.release(), "python": platform.python_version(), "mariadb": db_version,
            "wrk": " ".join(wrk_version.split()[:2])}


def git_describe() -> str:
    result = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
