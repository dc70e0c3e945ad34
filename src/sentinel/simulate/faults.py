"""Faults the simulator can inject, per endpoint, switchable while it runs.

A fault is written ``ENDPOINT=KIND[:TIMES][@ARG][~AFTER]`` on the command line
(``--fault search=429:2@1`` = the next two search requests get a 429 with
``Retry-After: 1``; ``search=500:1~2`` = the third request fails, mid-way through a
pass) or posted as JSON to ``/_faults``. Without ``TIMES`` a fault stays until cleared. ``ENDPOINT`` is one of :data:`ENDPOINTS` or ``*`` for all.

>>> plan = FaultPlan()
>>> plan.add_spec("search=500:1")
>>> [f.kind for f in plan.take("search")], [f.kind for f in plan.take("search")]
(['500'], [])
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["ENDPOINTS", "FAULT_KINDS", "Fault", "FaultPlan", "corrupt_body", "parse_fault"]

ENDPOINTS = ("search", "timeline", "extend", "wechat", "rss", "atom", "jsonfeed", "posts")

# kind -> what the server does
FAULT_KINDS: dict[str, str] = {
    "429": "HTTP 429 with Retry-After: ARG seconds (default 1)",
    "500": "HTTP 500",
    "502": "HTTP 502",
    "403": "HTTP 403",
    "418": "HTTP 418",
    "block": "HTTP 432, Weibo's anti-crawler refusal",
    "block_ok": "HTTP 200 with the platform's 'log in first' body (Weibo ok=-100, WeChat ret=200003)",
    "timeout": "answer only after ARG seconds (default 30)",
    "truncated": "cut the body in half",
    "malformed": "syntactically broken JSON / XML",
    "bad_utf8": "invalid UTF-8 bytes inside the text",
    "html_junk": "scripts, styles, comments and empty tags around each post's text",
    "huge": "pad the body with ARG bytes (default 4 MiB)",
    "duplicate": "every item twice, and the page's first items again at its end",
    "shuffle": "items out of order",
}
STATUS_FAULTS = {"429": 429, "500": 500, "502": 502, "403": 403, "418": 418, "block": 432}
_SPEC = re.compile(
    r"^(?P<endpoint>[\w*]+)=(?P<kind>\w+)(?::(?P<times>\d+))?(?:@(?P<arg>\d+(?:\.\d+)?))?(?:~(?P<after>\d+))?$"
)


@dataclass(slots=True)
class Fault:
    """One fault: its kind, how many more requests it hits (None: all), its argument, its delay."""

    kind: str
    times: int | None = None  # None: until cleared
    arg: float | None = None
    after: int = 0  # requests that pass untouched before it applies

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (one of {', '.join(FAULT_KINDS)})")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be at least 1")


def parse_fault(spec: str) -> tuple[str, Fault]:
    """``"search=429:2@1"`` -> ``("search", Fault("429", 2, 1.0))``."""
    m = _SPEC.match(spec.strip())
    if not m:
        raise ValueError(f"fault {spec!r}: write ENDPOINT=KIND[:TIMES][@ARG], e.g. search=429:2@1")
    endpoint = m.group("endpoint")
    if endpoint != "*" and endpoint not in ENDPOINTS:
        raise ValueError(f"fault {spec!r}: unknown endpoint {endpoint!r} (one of {', '.join(ENDPOINTS)}, *)")
    times = int(m.group("times")) if m.group("times") else None
    arg = float(m.group("arg")) if m.group("arg") else None
    return endpoint, Fault(m.group("kind"), times, arg, int(m.group("after") or 0))


class FaultPlan:
    """Active faults per endpoint; :meth:`take` consumes one use of each that applies."""

    def __init__(self) -> None:
        self._faults: dict[str, list[Fault]] = {}

    def add(self, endpoint: str, fault: Fault) -> None:
        if endpoint != "*" and endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r} (one of {', '.join(ENDPOINTS)}, *)")
        self._faults.setdefault(endpoint, []).append(fault)

    def add_spec(self, spec: str) -> None:
        self.add(*parse_fault(spec))

    def add_json(self, body: Any) -> None:
        """``{"spec": "search=429:1"}``, ``{"endpoint": .., "kind": .., "times": .., "arg": ..}`` or a list."""
        items = body if isinstance(body, list) else [body]
        for item in items:
            if isinstance(item, str):
                self.add_spec(item)
            elif isinstance(item, dict) and "spec" in item:
                self.add_spec(str(item["spec"]))
            elif isinstance(item, dict):
                self.add(
                    str(item.get("endpoint", "*")),
                    Fault(
                        str(item.get("kind")), item.get("times"), item.get("arg"), int(item.get("after") or 0)
                    ),
                )
            else:
                raise ValueError("a fault is a spec string or an object with endpoint and kind")

    def clear(self, endpoint: str | None = None) -> None:
        if endpoint is None:
            self._faults.clear()
        else:
            self._faults.pop(endpoint, None)

    def take(self, endpoint: str) -> list[Fault]:
        active: list[Fault] = []
        for key in (endpoint, "*"):
            remaining = []
            for fault in self._faults.get(key, []):
                if fault.after > 0:
                    remaining.append(Fault(fault.kind, fault.times, fault.arg, fault.after - 1))
                    continue
                active.append(fault)
                if fault.times is None:
                    remaining.append(fault)
                elif fault.times > 1:
                    remaining.append(Fault(fault.kind, fault.times - 1, fault.arg))
            if key in self._faults:
                self._faults[key] = remaining
        return active

    def to_json(self) -> str:
        return json.dumps({k: [asdict(f) for f in v] for k, v in self._faults.items() if v})


def _cut(body: bytes, at: int) -> int:
    """Step back to an ASCII byte, so that a cut breaks the syntax, not a UTF-8 sequence."""
    while at > 0 and body[at - 1] >= 0x80:
        at -= 1
    return at


def corrupt_body(body: bytes, kinds: set[str], *, json_body: bool) -> bytes:
    """Apply the byte-level faults (truncated, malformed, bad_utf8) to a rendered body."""
    if "bad_utf8" in kinds:
        marker = b'"text": "' if json_body else b"<description>"
        at = body.find(marker)
        at = at + len(marker) if at >= 0 else _cut(body, len(body) // 2)
        body = body[:at] + b"\xff\xfe\xc3(" + body[at:]
    if "malformed" in kinds:
        body = body[: _cut(body, len(body) * 2 // 3)] + (
            b'",,]}{"cards": [' if json_body else b"<item><title>&broken"
        )
    if "truncated" in kinds:
        body = body[: _cut(body, len(body) // 2)]
    return body
