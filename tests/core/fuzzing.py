"""Property-based fuzz targets (Hypothesis) for everything that reads outside input (issue 19).

Each target pairs a strategy with a check that raises ``AssertionError`` (or lets an
unexpected exception through) when sentinel misbehaves:

* ``post_bytes`` / ``post_records`` / ``post_objects``: the post parser on arbitrary bytes,
  on post-like JSON with huge numbers, NaN, lone surrogates and NULs, and on dicts from a
  collector. Only :class:`PostError` may escape; what is accepted is storable and reads
  back as itself.
* ``classify_lines`` and ``backtest_lines``: ``sentinel classify``'s line reader and the
  backtest's, on the same lines: nothing escapes, every line is accounted for.
* ``query``: the watch query parser: only :class:`QueryError`; a parsed query matches any
  text without raising.
* ``config``: the config loader on arbitrary TOML text and ``SENTINEL_*`` variables: a
  :class:`Config` or a :class:`ConfigError`, nothing else.
* ``http_requests`` / ``http_bytes``: the metrics server with the alert API mounted, on a
  real socket: arbitrary methods, paths, queries, tokens and bodies, and raw junk; never a
  5xx, and the server keeps answering.

``tests/core/test_fuzz.py`` runs a small sample of each; ``bench/fuzz.py`` runs 10^5+.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

from sentinel.backtest import BacktestSummary, _read, run_backtest
from sentinel.config import Config, ConfigError, load_config
from sentinel.nlp.commands import _parse
from sentinel.post import (
    EARLIEST,
    LATEST,
    MAX_COUNT,
    Post,
    PostError,
    decode_json,
    parse_post,
    parse_post_json,
)
from sentinel.risk.query import Query, QueryError, parse_query

__all__ = ["TARGETS", "ApiServer", "Target", "api_server"]

# -- values a hostile or careless producer sends --------------------------------------------

_HUGE_DIGITS = st.integers(min_value=4250, max_value=4400).map(lambda n: "9" * n)
_TRICKY_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "\ud800",
        "a\udfff",
        "\ud83d\ude00",
        "\ufffd",
        "9" * 30,
        "1e400",
        "NaN",
        "-Infinity",
        "²",
        "١٢٣",
        "00000000000000000000000042",
        "9999-12-31T23:59:59-23:59",
        "0001-01-01T00:00:00+23:59",
        "2026-11-28T13:00:00+08:00",
        "2026-11-28T13:00:00Z",
        "2026-11-28T13:00:00",
        "2100-01-01T00:00:00+00:00",
        "1969-12-31T23:59:59+00:00",
        "艾克美",
        "x" * 300,
    ]
)
_TEXT = st.one_of(st.text(max_size=40), _TRICKY_STRINGS)
_NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64, 10**20, -1, 0]),
    st.floats(allow_nan=True, allow_infinity=True),
)
_SCALARS = st.one_of(st.none(), st.booleans(), _NUMBERS, _TEXT)
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_TEXT, inner, max_size=4)),
    max_leaves=12,
)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True)  # NaN / Infinity written as Python writes them


@st.composite
def post_records(draw: st.DrawFn) -> str:
    """A post-like JSON line: the canonical fields, each valid, absent or hostile."""
    rec: dict[str, Any] = {}
    valid = {
        "platform": "weibo",
        "id": "4951234567890123",
        "text": "艾克美的牛奶有问题",
        "created_at": "2026-11-28T13:00:00+08:00",
    }
    for key, good in valid.items():
        choice = draw(st.integers(0, 15))  # mostly valid: the checks of accepted posts need some
        if choice <= 12:
            rec[key] = good
        elif choice == 13:
            rec[key] = draw(JSON_VALUES)
        elif choice == 14:
            rec[key] = draw(_TEXT)
    for key in ("reposts", "comments", "likes", "url", "repost_of"):
        if draw(st.booleans()):
            rec[key] = draw(st.one_of(_NUMBERS, _NUMBERS.map(str), JSON_VALUES))
    if draw(st.booleans()):
        rec["author"] = draw(
            st.one_of(
                JSON_VALUES,
                st.fixed_dictionaries(
                    {},
                    optional={
                        "id": JSON_VALUES,
                        "name": JSON_VALUES,
                        "followers": JSON_VALUES,
                        "verified": JSON_VALUES,
                    },
                ),
            )
        )
    rec.update(draw(st.dictionaries(_TEXT, JSON_VALUES, max_size=3)))
    line = _dumps(rec)
    if draw(st.integers(0, 4)) == 0:  # a number past int()'s 4,300 digits, spliced in raw
        key = draw(st.sampled_from(["reposts", "id", "extra", "author"]))
        line = line[:-1] + (", " if len(line) > 2 else "") + f'"{key}": {draw(_HUGE_DIGITS)}}}'
    return line


def _check_post(post: Post) -> None:
    """What the store and every reader rely on for an accepted post."""
    data = json.dumps(post.to_dict(), ensure_ascii=False, allow_nan=False)
    data.encode("utf-8")  # no lone surrogate anywhere
    assert "\x00" not in post.platform + post.id + post.text, "NUL reached a text column"
    assert 0 < len(post.platform) <= 32 and 0 < len(post.id) <= 256
    for count in (post.reposts, post.comments, post.likes, post.author.followers):
        assert 0 <= count <= MAX_COUNT, count
    assert EARLIEST <= post.created_at.astimezone(UTC) < LATEST
    again = parse_post(json.loads(data), max_text=10**9)  # how the store reads it back
    assert again == post, (again, post)


def check_post_line(line: str | bytes) -> str:
    try:
        post = parse_post_json(line)
    except PostError as exc:
        return exc.reason
    _check_post(post)
    return "accepted"


def check_post_object(line: str) -> str:
    """The same record as a dict from a collector (Python's json, NaN and all)."""
    try:
        obj = json.loads(line)
    except ValueError:
        return "not_decodable"  # past int()'s digit limit: no collector can hand that over
    try:
        post = parse_post(obj)
    except PostError as exc:
        return exc.reason
    _check_post(post)
    return "accepted"


def check_decode(line: str) -> str:
    try:
        value = decode_json(line)
    except PostError as exc:
        return exc.reason
    json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    return "decoded"


def check_classify_line(line: str) -> str:
    """``sentinel classify``: a dict with text to score, or an error message for the line."""
    got = _parse(line)
    if isinstance(got, dict):
        assert isinstance(got["text"], str)
        json.dumps(got, ensure_ascii=False, allow_nan=False).encode("utf-8")
        return "scored"
    assert isinstance(got, str) and got
    return "error_line"


def check_backtest_lines(lines: list[str | bytes]) -> str:
    """The backtest reader: every non-blank line is a post, a resighting or a counted rejection."""
    summary = BacktestSummary()
    items = list(_read(lines, summary))
    nonblank = sum(1 for line in lines if line.strip())
    assert len(items) + sum(summary.rejected.values()) == nonblank
    return "all_rejected" if not items and nonblank else "read"


_BACKTEST_CONFIG: list[Any] = []


def check_backtest_run(lines: list[str | bytes]) -> str:
    """The whole backtest (lexicon classifier, default engine): strict JSON events, no exception."""
    from sentinel.config import config_from_dict

    if not _BACKTEST_CONFIG:
        watch = {"name": "acme", "query": "艾克美 OR ACME"}
        _BACKTEST_CONFIG.append(config_from_dict({"classifier": {"type": "lexicon"}, "watch": [watch]}))
    out = io.StringIO()
    summary = run_backtest(_BACKTEST_CONFIG[0], lines, out, worker=False)
    for line in out.getvalue().splitlines():
        json.loads(line, parse_constant=_no_constant)
    assert summary.posts + summary.duplicates + sum(summary.rejected.values()) == sum(
        1 for line in lines if line.strip()
    )
    return "events" if out.getvalue() else "quiet"


def _no_constant(name: str) -> None:
    raise AssertionError(f"{name} in an alert event: not JSON")


# -- the query language -----------------------------------------------------------------------

_QUERY_TOKENS = st.sampled_from(
    ["AND", "OR", "NOT", "and", "&&", "||", "(", ")", "（", "）", '"', "“", "”", " ", "\u3000", "艾克美", "ACME",
     "acme", "招聘", "-", "*", "\\", "NOT NOT", "()", '""', "\x00", "\ud800"]
)  # fmt: skip
QUERIES = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(_QUERY_TOKENS, st.text(max_size=6)), max_size=14).map(" ".join),
    st.lists(_QUERY_TOKENS, max_size=20).map("".join),
)


def check_query(args: tuple[str, str]) -> str:
    text, post = args
    try:
        query = parse_query(text)
    except QueryError:
        return "QueryError"
    assert isinstance(query, Query)
    assert isinstance(query.matches(post), bool)
    return "parsed"


# -- the config loader ------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value), ensure_ascii=True)  # a TOML basic string


_CONFIG_KEYS: dict[str, list[str]] = {
    "storage": ["url", "pool_size", "retention", "echo"],
    "bus": ["type", "url", "max_size", "batch_size", "batch_wait", "session_expiry", "password"],
    "metrics": ["enabled", "listen"],
    "classifier": ["type", "model", "threads", "batch_size", "max_length", "neutral_band", "label_map"],
    "risk": ["cooldown", "resolve_after", "tick", "min_posts", "window"],
    "api": ["token", "write_token"],
    "logging": ["level", "json"],
    "source": ["name", "type", "path", "interval", "enabled", "follow", "poll", "keywords"],
    "watch": ["name", "query", "min_level"],
    "notify": ["type", "name", "url", "secret", "min_level", "watches"],
}
_CONFIG_VALUES = st.one_of(
    st.sampled_from(
        [
            "sqlite:///x.db",
            "mysql://a@b/c",
            "postgresql://u@h/db",
            "mqtt",
            "memory",
            "file",
            "console",
            "webhook",
            "1h",
            "-1",
            "0",
            "nan",
            "inf",
            "99999999d",
            "1e300",
            "no",
            "yes",
            "true",
            "red",
            "艾克美 OR ACME",
            "NOT x",
            "127.0.0.1:9464",
            ":99999",
            "env:SENTINEL_FUZZ",
            "env:",
            "lexicon",
        ]
    ),
    _SCALARS,
    st.lists(_SCALARS, max_size=3),
    st.dictionaries(_TEXT, _SCALARS, max_size=2),
)


@st.composite
def config_texts(draw: st.DrawFn) -> str:
    """TOML text: mostly the real sections and keys with hostile values, sometimes junk."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=200))
    lines: list[str] = []
    for section in draw(st.lists(st.sampled_from(sorted(_CONFIG_KEYS)), max_size=5)):
        lines.append(f"[[{section}]]" if section in ("source", "watch", "notify") else f"[{section}]")
        keys = _CONFIG_KEYS[section] + ["unknown_key"]
        for key in draw(st.lists(st.sampled_from(keys), max_size=5, unique=True)):
            lines.append(f"{key} = {_toml_value(draw(_CONFIG_VALUES))}")
    return "\n".join(lines) + "\n"


ENVIRONS = st.dictionaries(
    st.sampled_from(
        [
            "SENTINEL_API__TOKEN",
            "SENTINEL_STORAGE__URL",
            "SENTINEL_STORAGE__RETENTION",
            "SENTINEL_FUZZ",
            "SENTINEL_BUS__PASSWORD",
            "SENTINEL_METRICS__LISTEN",
            "SENTINEL_STORAGE",
            "SENTINEL___",
            "SENTINEL_WATCH__0__QUERY",
            "SENTINEL_CLASSIFIER__THREADS",
        ]
    ),
    st.one_of(st.sampled_from(["12345", "nan", "inf", "", "true", "1h", "x"]), st.text(max_size=12)),
    max_size=3,
)


def check_config(args: tuple[str, dict[str, str]]) -> str:
    text, environ = args
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sentinel.toml"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            config = load_config(path, environ=environ)
        except ConfigError as exc:
            assert str(exc), "a ConfigError must say what is wrong"
            return "ConfigError"
        assert isinstance(config, Config)
        return "Config"


# -- the HTTP API ----------------------------------------------------------------------------

READ_TOKEN, WRITE_TOKEN = "fuzz-read-token", "fuzz-write-token"


@dataclass
class ApiServer:
    """The metrics server with the alert API mounted, on a SQLite store, in its own thread."""

    port: int
    loop: asyncio.AbstractEventLoop

    def request(self, raw: bytes, timeout: float = 10.0, *, half_close: bool = True) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(raw)
            if half_close:  # a head without its blank line ends here, not by timeout
                sock.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


@contextmanager
def api_server() -> Iterator[ApiServer]:
    from prometheus_client import CollectorRegistry

    from sentinel.alerting.api import ApiTokens, register_routes
    from sentinel.alerting.manage import AlertManager
    from sentinel.clock import ManualClock
    from sentinel.config import StorageConfig
    from sentinel.obs.metrics import Metrics
    from sentinel.risk.base import AlertEvent
    from sentinel.store import SqlStore
    from sentinel.web.server import WebServer

    ready = threading.Event()
    started: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:

        async def serve() -> None:
            t0 = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)
            clock = ManualClock(t0)
            store = SqlStore(StorageConfig(url=f"sqlite:///{tmp}/api.db"))
            await store.open()
            manager = AlertManager(store, clock)
            events = [
                AlertEvent("opened", "acme", "yellow", 55, t0, posts=["1"]),
                AlertEvent("escalated", "acme", "red", 85, t0 + timedelta(hours=1), previous_level="yellow"),
            ]
            await store.save_events(await manager.annotate(events), lambda ev: [])
            clock.advance_to(t0 + timedelta(hours=2))

            async def readiness() -> dict[str, bool]:
                return {"store": True}

            server = WebServer("127.0.0.1", 0, Metrics(CollectorRegistry()), readiness=readiness)
            register_routes(server, store, clock, ApiTokens(read=READ_TOKEN, write=WRITE_TOKEN), ["acme"])
            await server.start()
            stop = asyncio.Event()
            started.update(port=server.port, loop=asyncio.get_running_loop(), stop=stop)
            ready.set()
            try:
                await stop.wait()
            finally:
                await server.stop()
                await store.close()

        def run() -> None:
            try:
                asyncio.run(serve())
            finally:
                ready.set()

        thread = threading.Thread(target=run, name="fuzz-api", daemon=True)
        thread.start()
        ready.wait(30)
        if "port" not in started:
            raise RuntimeError("the API server did not start")
        try:
            yield ApiServer(started["port"], started["loop"])
        finally:
            started["loop"].call_soon_threadsafe(started["stop"].set)
            thread.join(30)


_SEGMENTS = st.one_of(
    st.sampled_from(
        [
            "api",
            "v1",
            "alerts",
            "silences",
            "responses",
            "audit",
            "ack",
            "resolve",
            "expire",
            "1",
            "2",
            "0",
            "-1",
            "99999999999999999999999",
            "1e300",
            "%00",
            "..",
            ".",
            "",
            "metrics",
            "healthz",
            "readyz",
            "%2F",
            "１",
            "²",
        ]
    ),
    st.text(max_size=8),
)
_BODY_VALUES = st.one_of(
    st.sampled_from(
        [
            "acme",
            "*",
            "nobody",
            "1h",
            "99999999d",
            "1e300",
            "inf",
            "nan",
            "-5m",
            "0s",
            "now",
            "now-30m",
            "9999-12-31T23:59:59-23:59",
            "0001-01-01T00:00:00+23:59",
            "2026-11-28T14:00:00+08:00",
            "statement",
            "apology",
            "http://user:pw@evil.example/",
        ]
    ),
    _SCALARS,
)
_BODIES = st.one_of(
    st.fixed_dictionaries(
        {"watch": st.one_of(st.just("acme"), _BODY_VALUES)},
        optional={k: _BODY_VALUES for k in ("by", "note", "until", "for", "kind", "at", "url", "reason")},
    ).map(lambda d: _dumps(d).encode()),
    JSON_VALUES.map(lambda v: _dumps(v).encode()),
    st.binary(max_size=64),
)


_ENDPOINTS = [
    ("GET", "alerts"),
    ("GET", "alerts/{id}"),
    ("HEAD", "alerts/{id}"),
    ("POST", "alerts/{id}/ack"),
    ("POST", "alerts/{id}/resolve"),
    ("GET", "silences"),
    ("POST", "silences"),
    ("POST", "silences"),
    ("POST", "silences/{id}/expire"),
    ("GET", "responses"),
    ("POST", "responses"),
    ("GET", "audit"),
    ("GET", "metrics"),
    ("GET", "readyz"),
]


@st.composite
def http_requests(draw: st.DrawFn) -> bytes:
    method = draw(
        st.one_of(
            st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
            st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=8),
        )
    )
    if draw(st.integers(0, 3)):  # mostly a real endpoint, its id and body fuzzed
        method, template = draw(st.sampled_from(_ENDPOINTS))
        segments = [draw(_SEGMENTS) if part == "{id}" else part for part in template.split("/")]
        prefix = "/api/v1/" if template not in ("metrics", "healthz", "readyz") else "/"
    else:
        segments = draw(st.lists(_SEGMENTS, max_size=5))
        prefix = draw(st.sampled_from(["/api/v1/", "/api/v1/", "/", "/api/", "//"]))
    raw_path = draw(st.booleans())
    path = prefix + "/".join(s if raw_path else quote(s, safe="", errors="surrogatepass") for s in segments)
    query = draw(
        st.dictionaries(
            st.sampled_from(["watch", "status", "limit", "active", "x"]),
            st.one_of(st.sampled_from(["acme", "open", "1", "true", "99999999999999", "-1", "²"]), _TEXT),
            max_size=3,
        )
    )
    if query:
        path += "?" + "&".join(f"{k}={quote(v, safe='', errors='surrogatepass')}" for k, v in query.items())
    token = draw(st.sampled_from([WRITE_TOKEN, WRITE_TOKEN, READ_TOKEN, None, "wrong"]))
    body = draw(_BODIES) if method not in ("GET", "HEAD") or not draw(st.integers(0, 4)) else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: fuzz\r\n"
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode("utf-8", "surrogatepass") + b"\r\n" + body


def check_http(server: ApiServer, raw: bytes) -> str:
    answer = server.request(raw)
    if not answer:
        return "closed"  # nothing complete was asked; closing without an answer is fine
    status_line = answer.split(b"\r\n", 1)[0]
    parts = status_line.split(b" ", 2)
    assert len(parts) >= 2 and parts[0] == b"HTTP/1.1" and parts[1].isdigit(), status_line[:80]
    status = int(parts[1])
    assert status < 500, f"{status} for {raw[:300]!r}: {answer[-300:]!r}"
    if raw.startswith(b"POST /api/v1/"):  # nothing a write stored may make a read fail
        for path in ("silences", "alerts", "responses"):
            read = (
                f"GET /api/v1/{path} HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n"
                f"Authorization: Bearer {READ_TOKEN}\r\n\r\n"
            )
            after = server.request(read.encode(), half_close=False).split(b"\r\n", 1)[0]
            assert after.startswith(b"HTTP/1.1 200 "), f"GET {path} answers {after!r} after {raw[:300]!r}"
    return str(status)


HTTP_BYTES = st.one_of(
    st.binary(max_size=200),
    http_requests().flatmap(
        lambda raw: st.integers(0, len(raw)).map(lambda cut: raw[:cut])  # a request cut short
    ),
)


# -- the registry of targets ------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One fuzz target: a strategy and a check (``server`` for those that need the API)."""

    name: str
    strategy: st.SearchStrategy[Any]
    check: Callable[[Any], str]
    needs_server: bool = False


def _backtest_lines() -> st.SearchStrategy[list[str | bytes]]:
    good = [
        _dumps(
            {
                "platform": "weibo",
                "id": str(i),
                "text": "艾克美",
                "created_at": (datetime(2026, 11, 28, tzinfo=UTC) + timedelta(minutes=i)).isoformat(),
            }
        )
        for i in range(5)
    ]
    line: st.SearchStrategy[str | bytes] = st.one_of(
        st.sampled_from(good), post_records(), st.binary(max_size=60), st.just("\n")
    )
    return st.lists(line, max_size=12)


TARGETS: list[Target] = [
    Target("post_bytes", st.binary(max_size=200), check_post_line),
    Target("post_records", post_records(), check_post_line),
    Target(
        "post_records_utf8", post_records().map(lambda s: s.encode("utf-8", "surrogatepass")), check_post_line
    ),
    Target("post_objects", post_records(), check_post_object),
    Target("decode_json", post_records(), check_decode),
    Target("classify_lines", st.one_of(post_records(), st.text(max_size=80)), check_classify_line),
    Target("backtest_lines", _backtest_lines(), check_backtest_lines),
    Target("backtest_run", _backtest_lines(), check_backtest_run),
    Target("query", st.tuples(QUERIES, st.text(max_size=40)), check_query),
    Target("config", st.tuples(config_texts(), ENVIRONS), check_config),
    Target("http_requests", http_requests(), lambda raw: "", needs_server=True),
    Target("http_bytes", HTTP_BYTES, lambda raw: "", needs_server=True),
]


def make_check(target: Target, server: ApiServer | None) -> Callable[[Any], str]:
    """The target's check, bound to the API server for those that need it."""
    if not target.needs_server:
        return target.check
    assert server is not None
    return lambda raw: check_http(server, raw)
