"""Hostile input against a live `leadgrab serve`: fuzzed frames and HTTP requests, maximal ids,
claims on unknown leads. Prints what issue 15 measures (5xx, tracebacks, RSS, permanent keys).

    python -m tests.hostile frames --count 20000
    python -m tests.hostile http --count 5000
    python -m tests.hostile rss --count 40000 --id-chars 8000
    python -m tests.hostile keys --count 10000

Each run starts its own server (embedded Redis, a temporary folder, a free loopback port)
and stops it afterwards. Run the big ones under `flock /tmp/leadgrab-bench.lock`.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
import redis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed, InvalidMessage
from websockets.sync.client import ClientConnection, connect

from server.protocol import SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK, CloseCode, Codec
from server.web.auth import Role, TokenAuthority
from tests.frame_strategies import ANY_VALUE, NASTY_TEXT, client_frames

SECRET = "hostile-secret-0123456789-abcdefghijklmnop"
REPS = [f"r{i}" for i in range(10)]
CONFIG = """
[server]
host = "127.0.0.1"
port = {port}
data_dir = "{data}"
secret = "{secret}"
workers = 1

[teams.north]
timezone = "UTC"

[teams.north.rules]
{rules}

[teams.south]
timezone = "UTC"
mode = "window"
window_ms = 200

[teams.south.rules]
{rules}
""" + "".join(f'\n[[reps]]\nid = "{r}"\nteam = "north"\n' for r in REPS) \
    + '\n[[reps]]\nid = "s0"\nteam = "south"\n'
RULES = "max_open = 1000\nmax_daily = 100000\ncooldown_after_claim_ms = 0\npenalty_cooldown_ms = 0"
DOCUMENTED_CLOSES = {1000, 1001, *CloseCode}
REPLY_TIMEOUT_S = 0.5  # on loopback a reply takes milliseconds; none by then: counted abnormal
SETTINGS = {"database": None, "phases": [Phase.generate], "deadline": None,
            "suppress_health_check": list(HealthCheck)}


@dataclass
class Server:
    """A `leadgrab serve` subprocess and what it logged."""

    port: int
    folder: Path
    process: subprocess.Popen[bytes]
    log: Path
    tokens: TokenAuthority = field(default_factory=lambda: TokenAuthority(SECRET))

    def token(self, role: Role = Role.REP, name: str = "r0", team: str = "north") -> str:
        if role is Role.REP:
            return self.tokens.mint(role, name, team=team, ttl_s=3600)
        return self.tokens.mint(role, name, ttl_s=3600)

    def tracebacks(self) -> int:
        return self.log.read_text(errors="replace").count("Traceback")

    def errors(self) -> int:
        return sum(" ERROR " in line for line in self.log.read_text(errors="replace").splitlines())

    def rss_mb(self) -> float:
        return psutil.Process(self.process.pid).memory_info().rss / 2**20

    def redis(self) -> redis.Redis:
        url = (self.folder / "redis" / "url").read_text().strip()
        return redis.Redis.from_url(url, decode_responses=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def serving() -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="leadgrab-hostile-") as tmp:
        folder, port = Path(tmp), _free_port()
        config = folder / "config.toml"
        config.write_text(CONFIG.format(port=port, data=folder / "data", secret=SECRET,
                                        rules=RULES))
        log = folder / "server.log"
        with log.open("wb") as out:
            cmd = [sys.executable, "-c", "from leadgrab.cli import main; main()", "serve",
                   "-c", str(config)]
            # another checkout's server (e.g. an unpacked `git archive main`): run from its
            # folder, which then comes first on the server's sys.path
            src = os.environ.get("HOSTILE_SERVER_SRC") or None
            process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=src)
        server = Server(port, folder / "data", process, log)
        try:
            _wait_ready(server)
            yield server
        finally:
            process.terminate()
            process.wait(20)


def _wait_ready(server: Server) -> None:
    for _ in range(300):
        with contextlib.suppress(OSError, http.client.HTTPException):
            if _request(server, "GET", "/healthz")[0] == 200:
                return
        if server.process.poll() is not None:
            raise SystemExit(server.log.read_text())
        time.sleep(0.1)
    raise SystemExit("the server did not become ready")


def _request(server: Server, method: str, path: str, body: bytes | None = None,
             token: str | None = None, conn: http.client.HTTPConnection | None = None,
             ) -> tuple[int, str, bytes]:
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read()
    finally:
        if own:
            conn.close()


def _publish(server: Server, lead_id: str, team: str = "north") -> None:
    body = json.dumps({"id": lead_id, "team": team}).encode()
    status = _request(server, "POST", "/api/leads", body, server.token(Role.INTEGRATION))[0]
    assert status in (200, 201), status


# ---- frames -----------------------------------------------------------------------------

@dataclass
class FrameTally:
    frames: int = 0
    replies: Counter[str] = field(default_factory=Counter)
    closes: Counter[int] = field(default_factory=Counter)
    abnormal: int = 0  # a close outside the documented codes, or an HTTP answer mid-socket


class Socket:
    """A rep's connection that reconnects (and says hello) whenever the server closed it."""

    def __init__(self, server: Server, codec: Codec, tally: FrameTally) -> None:
        self.server, self.codec, self.tally = server, codec, tally
        self.conn: ClientConnection | None = None

    def open(self, hello: bool = True) -> ClientConnection:
        proto = SUBPROTOCOL_JSON if self.codec is Codec.JSON else SUBPROTOCOL_MSGPACK
        conn = connect(f"ws://127.0.0.1:{self.server.port}/ws", subprotocols=[proto],  # type: ignore[list-item]
                       max_size=None, open_timeout=10, close_timeout=2)
        if hello:
            frame = {"type": "hello", "token": self.server.token()}
            conn.send(json.dumps(frame) if self.codec is Codec.JSON
                      else _packb(frame))
            self._until_reply(conn, {"welcome"})
        return conn

    def send(self, data: str | bytes, before_hello: bool) -> None:
        self.tally.frames += 1
        try:
            if before_hello:
                with self.open(hello=False) as conn:
                    conn.send(data)
                    self._until_reply(conn, {"error", "welcome"})
                return
            if self.conn is None:
                self.conn = self.open()
            self.conn.send(data)
            self._until_reply(self.conn, {"error", "claim_result", "action_result"})
        except ConnectionClosed as exc:
            self._closed(exc)
        except (InvalidMessage, OSError, TimeoutError):
            self.tally.abnormal += 1
            self.conn = None

    def _closed(self, exc: ConnectionClosed) -> None:
        code = exc.rcvd.code if exc.rcvd else 1006
        self.tally.closes[code] += 1
        if code not in DOCUMENTED_CLOSES:
            self.tally.abnormal += 1
        self.conn = None

    def _until_reply(self, conn: ClientConnection, wanted: set[str]) -> None:
        while True:
            raw = conn.recv(timeout=REPLY_TIMEOUT_S)
            frame = json.loads(raw) if isinstance(raw, str) else _unpackb(raw)
            if frame.get("type") in wanted:
                self.tally.replies[f"{frame['type']}:{frame.get('code', '')}"] += 1
                return


def _packb(frame: dict[str, Any]) -> bytes:
    import msgpack
    packed: bytes = msgpack.packb(frame, use_bin_type=True)
    return packed


def _unpackb(data: bytes) -> dict[str, Any]:
    import msgpack
    value: dict[str, Any] = msgpack.unpackb(data, raw=False)
    return value


def fuzz_frames(server: Server, count: int, seed: int) -> FrameTally:
    """`count` frames, half per codec; one in ten sent as the first frame of a new socket."""
    tally = FrameTally()
    token = server.token()
    for codec in Codec:
        _fuzz_codec(Socket(server, codec, tally), token, count // 2, seed)
    return tally


def _fuzz_codec(sock: Socket, token: str, count: int, seed: int) -> None:
    @settings(max_examples=count, **SETTINGS)  # type: ignore[arg-type]
    @given(st.data())
    def one(data: st.DataObject) -> None:
        frame = data.draw(client_frames(token, sock.codec))
        sock.send(frame, before_hello=data.draw(st.integers(0, 9)) == 0)

    random.seed(seed)
    one()
    if sock.conn is not None:
        sock.conn.close()


# ---- HTTP -------------------------------------------------------------------------------

ROUTES = [
    ("POST", "/api/leads"), ("POST", "/api/leads/{id}/claim"),
    ("POST", "/api/leads/{id}/release"), ("POST", "/api/leads/{id}/close"),
    ("GET", "/api/leads/{id}"), ("GET", "/api/reps/{id}"), ("POST", "/api/config/reload"),
    ("POST", "/api/leads/{id}/followup"), ("POST", "/api/reps/{id}/pause"),
    ("POST", "/api/leads/{id}/dispatch"), ("POST", "/api/leads/{id}/withdraw"),
    ("GET", "/api/fairness"), ("GET", "/api/audit"), ("GET", "/healthz"),
    ("DELETE", "/api/leads/{id}"), ("GET", "/nowhere"),
]
PATH_IDS = st.one_of(st.sampled_from(["L1", "r0", "x" * 128, "x" * 129, "x" * 8000]),
                     NASTY_TEXT.map(lambda s: quote(s, safe="", errors="surrogatepass")),
                     st.sampled_from(["%ED%A0%80", "%FF", "%00", "a%2Fb", "..", "%"]))
QUERIES = st.dictionaries(st.sampled_from(["team", "window", "lead", "rep", "since", "until",
                                           "limit", "cursor", "format", "x"]),
                          st.one_of(NASTY_TEXT, st.sampled_from(["north", "1h", "100"])),
                          max_size=3)


def _deep_body(depth: int) -> bytes:
    return b'{"note":' + b"[" * depth + b"]" * depth + b"}"


BODIES = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(["id", "team", "req_id", "note", "rep", "reason",
                                     "outcome", "force", "attrs", "customer_id", "region",
                                     "skills", "value", "priority"]),
                    ANY_VALUE, max_size=5).map(
        lambda d: json.dumps(d, ensure_ascii=True, default=str).encode()),
    st.sampled_from([b"{", b"[]", b"null", b'"x"', b'{"note":"\\ud800"}',
                     b'{"req_id":"\\udfff"}', b'{"id":"L1","team":"north","attrs":'
                     b'{"a":"\\ud800"}}', b"\xff\xfe", b"x" * 70000]),
    st.sampled_from([200, 999, 1000, 5000, 100000]).map(_deep_body),
)


@dataclass
class HttpTally:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    not_json: Counter[int] = field(default_factory=Counter)  # error answers that are not JSON


def fuzz_http(server: Server, count: int, seed: int) -> HttpTally:
    tally = HttpTally()
    tokens = [None, "garbage", server.token(), server.token(Role.INTEGRATION),
              server.token(Role.MANAGER), server.token(name="s0", team="south")]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)

    @settings(max_examples=count, **SETTINGS)  # type: ignore[arg-type]
    @given(st.sampled_from(ROUTES), PATH_IDS, QUERIES, BODIES, st.sampled_from(tokens))
    def one(route: tuple[str, str], lead: str, query: dict[str, str], body: bytes | None,
            token: str | None) -> None:
        nonlocal conn
        method, path = route
        path = path.replace("{id}", lead)
        if query:
            path += "?" + "&".join(f"{k}={quote(v, safe='', errors='surrogatepass')}"
                                   for k, v in query.items())
        tally.requests += 1
        try:
            status, ctype, _ = _request(server, method, path, body, token, conn)
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            status, ctype = 599, "none"  # the connection broke (counted as a server error)
        tally.statuses[status] += 1
        if status >= 400 and not ctype.startswith("application/json"):
            tally.not_json[status] += 1

    random.seed(seed)
    one()
    for raw in _malformed_requests():
        tally.requests += 1
        status, ctype = _raw_request(server, raw)
        tally.statuses[status] += 1
        if status >= 400 and not ctype.startswith("application/json"):
            tally.not_json[status] += 1
    return tally


def _malformed_requests() -> list[bytes]:
    """Requests aiohttp refuses before any handler runs."""
    return [
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",  # request line too long
        b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 9000 + b"\r\n\r\n",  # header too long
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n",
        b"POST /api/leads HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"POST /api/leads HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 40,  # a TLS hello
    ]


def _raw_request(server: Server, raw: bytes) -> tuple[int, str]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(raw)
        data = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    if not head.startswith("HTTP/"):
        return 0, "none"  # closed without an answer (fine for non-HTTP traffic)
    ctype = next((line.split(":", 1)[1].strip() for line in head.split("\r\n")
                  if line.lower().startswith("content-type:")), "")
    return int(head.split()[1]), ctype


# ---- memory and keys --------------------------------------------------------------------

def rss_run(server: Server, count: int, id_chars: int) -> dict[str, Any]:
    """`count` releases and claims of leads with `id_chars`-character ids, RSS before/after."""
    token = server.token()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    for _ in range(200):  # warm up
        _request(server, "POST", f"/api/leads/warm{random.randrange(10**9)}/release",
                 b"", token, conn)
    before = server.rss_mb()
    statuses: Counter[int] = Counter()
    started = time.monotonic()
    curve = []
    for n in range(count):
        if n % 10_000 == 0:
            curve.append(round(server.rss_mb(), 1))
        lead = f"{n:012d}" + "x" * (id_chars - 12)
        action = "release" if n % 2 else "claim"
        statuses[_request(server, "POST", f"/api/leads/{lead}/{action}", b"{}", token,
                          conn)[0]] += 1
    return {"requests": count, "id_chars": id_chars, "seconds": round(
        time.monotonic() - started, 1), "rss_before_mb": round(before, 1),
        "rss_after_mb": round(server.rss_mb(), 1), "rss_every_10k_mb": curve,
        "statuses": dict(statuses),
        "redis_used_mb": round(server.redis().info("memory")["used_memory"] / 2**20, 1)}


def keys_run(server: Server, count: int) -> dict[str, Any]:
    """`count` claims on lead ids nobody published; which keys they left, and for how long."""
    r = server.redis()
    token = server.token()
    before = set(r.scan_iter(count=1000))
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    statuses: Counter[int] = Counter()
    for n in range(count):
        body = json.dumps({"req_id": f"q{n}"}).encode()
        statuses[_request(server, "POST", f"/api/leads/nope-{n}/claim", body, token,
                          conn)[0]] += 1
    kinds: Counter[str] = Counter()
    for key in set(r.scan_iter(count=1000)) - before:
        permanent = r.pttl(key) == -1
        kinds[f"{key.split(':')[2]}{' (permanent)' if permanent else ''}"] += 1
    return {"claims": count, "statuses": dict(statuses), "new_keys": dict(kinds),
            "permanent": sum(n for k, n in kinds.items() if "permanent" in k)}


def main(argv: list[str] | None = None) -> None:
    warnings.simplefilter("ignore", DeprecationWarning)  # websockets' sync connect()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["frames", "http", "rss", "keys"])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--id-chars", type=int, default=128)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args(argv)
    with serving() as server:
        if args.what in ("frames", "http"):
            _publish(server, "L1")
        started = time.monotonic()
        result: Any
        if args.what == "frames":
            result = fuzz_frames(server, args.count, args.seed)
        elif args.what == "http":
            result = fuzz_http(server, args.count, args.seed)
        elif args.what == "rss":
            result = rss_run(server, args.count, args.id_chars)
        else:
            result = keys_run(server, args.count)
        alive = server.process.poll() is None
        print(json.dumps({"what": args.what, "result": _plain(result),
                          "server_tracebacks": server.tracebacks(),
                          "server_error_lines": server.errors(), "server_alive": alive,
                          "seconds": round(time.monotonic() - started, 1)}, indent=1))
        if os.environ.get("HOSTILE_LOG"):
            print(server.log.read_text(errors="replace")[-20000:])


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return {k: _plain(v) for k, v in vars(value).items()}
    if isinstance(value, Counter):
        return dict(value.most_common())
    return value


if __name__ == "__main__":
    main()
