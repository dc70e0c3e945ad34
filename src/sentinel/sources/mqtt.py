"""Push ingestion: external crawlers publish canonical posts to an MQTT topic (QoS 1).

Config (``[[source]] type = "mqtt"``)::

    url = "mqtt://127.0.0.1:1883"     # mqtts:// for TLS
    topic = "sentinel/ingest/#"
    client_id = "sentinel-ingest"      # a fixed id + persistent session: the broker keeps
    username = "env:MQTT_USER"         # messages published while we were away
    password = "env:MQTT_PASSWORD"

A payload is one canonical post as JSON, a JSON list of them, or JSON lines. Messages
are acknowledged only after the sink has flushed what they held (manual PUBACK), so a
crash means redelivery, never loss; the store's (platform, id) identity absorbs the
redelivered copies. A lost broker connection is counted, shown in health and retried
with backoff; ``collect`` runs until cancelled.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sentinel.bus.paho import Message, MqttConnection, MqttError
from sentinel.config import Duration
from sentinel.sources.base import PostSink, SourceContext
from sentinel.sources.http import parse_options, with_secrets

__all__ = ["MqttOptions", "MqttSource", "decode_payload"]

log = logging.getLogger(__name__)


class MqttOptions(BaseModel):
    """``[[source]] type = "mqtt"`` options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = "mqtt://127.0.0.1:1883"
    topic: str = Field("sentinel/ingest/#", min_length=1)
    qos: int = Field(1, ge=0, le=2)
    client_id: str | None = None
    username: str | None = None
    password: str | None = Field(None, repr=False)
    clean_session: bool = False
    keepalive: int = Field(30, ge=5, le=3600)
    max_payload: int = Field(4 * 1024 * 1024, ge=1024)
    batch: int = Field(200, ge=1, le=10_000, description="messages acknowledged per flush")
    reconnect_min: Duration = 1.0
    reconnect_max: Duration = 60.0

    @field_validator("url")
    @classmethod
    def _mqtt_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not parts.hostname:
            raise ValueError(f"an mqtt:// or mqtts:// URL with a host, got {url!r}")
        return url


def decode_payload(payload: bytes) -> tuple[list[Any], list[tuple[str, str]]]:
    """A message body -> (records, rejections); JSON object, JSON list or JSON lines."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return [], [("bad_encoding", "payload is not valid UTF-8")]
    text = text.strip()
    if not text:
        return [], [("bad_json", "empty payload")]
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        if "\n" not in text:
            return [], [("bad_json", str(exc)[:120])]
        records: list[Any] = []
        rejects: list[tuple[str, str]] = []
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except (json.JSONDecodeError, RecursionError) as line_exc:
                rejects.append(("bad_json", str(line_exc)[:120]))
        return records, rejects
    return (value if isinstance(value, list) else [value]), []


class MqttSource:
    """Subscribes and streams posts into the sink until cancelled."""

    streaming = True

    def __init__(self, ctx: SourceContext) -> None:
        self.ctx = ctx
        self.name = ctx.name
        self.options = with_secrets(parse_options(MqttOptions, ctx.config.options), ctx)
        parts = urlsplit(self.options.url)
        self.host = parts.hostname or "127.0.0.1"
        self.tls = parts.scheme in ("mqtts", "ssl")
        self.port = parts.port or (8883 if self.tls else 1883)
        self.client_id = self.options.client_id or f"sentinel-{ctx.name}"
        self.connected = asyncio.Event()
        self.received = 0
        self._rng = random.Random()

    async def close(self) -> None:
        return None

    async def collect(self, sink: PostSink) -> None:
        delay = self.options.reconnect_min
        while True:
            try:
                await self._session(sink)
                delay = self.options.reconnect_min
            except MqttError as exc:
                self.connected.clear()
                kind = "connect" if not self.received and "connect" in str(exc).lower() else "disconnected"
                self.ctx.health.failure(self.ctx.clock.now(), kind, f"{self.host}:{self.port}: {exc}"[:300])
                log.warning("source %s: MQTT %s (%s); reconnecting in %.1fs", self.name, kind, exc, delay)
                await asyncio.sleep(delay * (0.75 + self._rng.random() / 4))
                delay = min(self.options.reconnect_max, delay * 2)

    def _client(self) -> MqttConnection:
        """MQTT 3.1.1 (what any broker speaks); messages are acknowledged only by ``_commit``."""
        opts = self.options
        return MqttConnection(
            self.host,
            self.port,
            client_id=self.client_id,
            username=opts.username,
            password=opts.password,
            v5=False,
            clean=opts.clean_session,
            keepalive=opts.keepalive,
            tls=ssl.create_default_context() if self.tls else None,
            timeout=10,
        )

    async def _session(self, sink: PostSink) -> None:
        async with self._client() as client:
            await client.subscribe(self.options.topic, qos=self.options.qos)
            self.connected.set()
            self.ctx.health.success(self.ctx.clock.now(), 0)
            log.info(
                "source %s: subscribed to %s on %s:%d", self.name, self.options.topic, self.host, self.port
            )
            pending: list[Message] = []
            accepted = 0
            while True:
                if pending and (client.queued() == 0 or len(pending) >= self.options.batch):
                    # nothing more waiting (or a full batch): store and acknowledge what we have
                    accepted = await self._commit(client, sink, pending, accepted)
                message = await client.receive()
                self.received += 1
                accepted += await self._handle(message, sink)
                pending.append(message)

    async def _handle(self, message: Message, sink: PostSink) -> int:
        payload = message.payload
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        if not isinstance(payload, bytes | bytearray):
            sink.reject("bad_json", f"payload of type {type(payload).__name__}")
            return 0
        if len(payload) > self.options.max_payload:
            sink.reject("oversize", f"payload of {len(payload)} bytes")
            return 0
        records, rejects = decode_payload(bytes(payload))
        for reason, detail in rejects:
            sink.reject(reason, detail)
        accepted = 0
        for record in records:
            if not isinstance(record, dict):
                sink.reject("not_object", f"expected a JSON object, got {type(record).__name__}")
                continue
            if await sink.put(record):
                accepted += 1
        return accepted

    async def _commit(
        self, client: MqttConnection, sink: PostSink, pending: list[Message], accepted: int
    ) -> int:
        """Flush, then acknowledge: the broker forgets a message only once its posts are stored."""
        await sink.flush()
        for message in pending:
            client.ack(message.mid, message.qos)
        pending.clear()
        self.ctx.health.success(self.ctx.clock.now(), accepted)
        return 0
