"""The scale-out bus: canonical posts over an MQTT v5 broker (Mosquitto, EMQX).

Collectors publish each post with QoS 1 to ``{prefix}/posts/{platform}``; classifier
workers share ``$share/sentinel-classify/{prefix}/posts/#``, so the broker hands every
post to one worker of the group. Delivery is at-least-once end to end:

* a publish counts as done only when the broker's PUBACK came back; a publish that was
  in flight when the connection dropped is sent again on the next connection; a PUBACK
  saying "no matching subscribers" (no worker subscribed yet, or a restarted broker that
  has not yet seen the workers' sessions again) is not done either: the post is held and
  sent again, so the sources feel backpressure instead of posts vanishing;
* a worker acknowledges (PUBACK) a post only after the store committed it — paho's manual
  acknowledgement, driven on the event loop by :mod:`sentinel.bus.paho`;
* a worker keeps a persistent session under a fixed client id (``clean_start`` off, session
  expiry from config), so what it held unacknowledged when it died is handed to it again
  when it, or its replacement with the same id, reconnects;
* the store's (platform, id) identity absorbs the duplicates all this produces.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import random
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from sentinel.bus.base import Envelope, take_batch
from sentinel.bus.paho import Message, MqttConnection, MqttError, topic_of
from sentinel.config import BusConfig
from sentinel.post import Post, PostError, parse_post

__all__ = ["SHARE_GROUP", "MqttBus", "MqttEndpoint", "Reconnect"]

log = logging.getLogger(__name__)
SHARE_GROUP = "sentinel-classify"
CONSUMING_ROLES = ("all", "classify")
PUBLISH_WINDOW = 100  # publishes awaiting their PUBACK at once (paho's in-flight window)
NO_MATCHING_SUBSCRIBERS = 0x10


@dataclass(frozen=True, slots=True)
class MqttEndpoint:
    """Where the broker is: ``mqtt://[user:pass@]host[:port]`` or ``mqtts://…`` (TLS)."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> MqttEndpoint:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not parts.hostname:
            raise ValueError(f"bus.url must look like mqtt://host:1883, got {url!r}")
        tls = parts.scheme in ("mqtts", "ssl")
        return cls(
            host=parts.hostname,
            port=parts.port or (8883 if tls else 1883),
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


@dataclass(slots=True)
class Reconnect:
    """Exponential backoff with jitter, so a fleet of workers does not reconnect in lockstep."""

    base: float = 0.2
    cap: float = 15.0
    attempt: int = 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.base * (2**self.attempt))
        self.attempt += 1
        return delay * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.attempt = 0


@dataclass(frozen=True, slots=True)
class _Token:
    connection: MqttConnection  # which connection delivered it: a message id means nothing on another
    mid: int
    qos: int


class MqttBus:
    """The :class:`~sentinel.bus.base.Bus` over MQTT v5; ``role`` says whether it consumes.

    >>> bus = MqttBus(BusConfig(type="mqtt", url="mqtt://127.0.0.1:1883", client_id="w1"), role="classify")
    """

    def __init__(self, config: BusConfig, *, role: str = "all") -> None:
        self.config = config
        self.role = role
        self.endpoint = MqttEndpoint.from_url(config.url)
        self.consuming = role in CONSUMING_ROLES
        self.prefix = config.topic_prefix.strip("/")
        self.subscription = f"$share/{SHARE_GROUP}/{self.prefix}/posts/#"
        # the broker never has more than this many unacknowledged posts out to this worker
        self.receive_maximum = max(1, min(65535, config.batch_size * 2))
        self.client_id = config.client_id or f"sentinel-{role}-{socket.gethostname()}-{os.getpid()}"
        if self.consuming and not config.client_id:
            log.warning(
                "bus.client_id is not set: this worker's session (and the posts it holds) cannot be "
                "resumed by a replacement; set a fixed id per worker, e.g. SENTINEL_BUS__CLIENT_ID"
            )
        self._username = config.username or self.endpoint.username
        self._password = config.password or self.endpoint.password
        self._client: MqttConnection | None = None
        self._connected = asyncio.Event()
        self._closing = False
        self._runner: asyncio.Task[None] | None = None
        self._incoming: asyncio.Queue[Envelope] = asyncio.Queue()
        self._handed_out = 0  # delivered by get_batch and not yet acknowledged
        self._publishing: set[asyncio.Task[None]] = set()
        self._publish_slots = asyncio.Semaphore(max(1, config.max_size))
        self._window = asyncio.Semaphore(PUBLISH_WINDOW)  # publishes handed to the client at once
        self._props: dict[str, Properties] = {}
        self.unrouted = 0  # PUBACKs saying "no matching subscribers" (the post is sent again)
        self._warned_unrouted = -math.inf
        self._idle = asyncio.Event()
        self._idle.set()
        self.reconnects = 0
        self.rejected = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name=f"mqtt-{self.client_id}")

    async def close(self) -> None:
        self._closing = True
        for task in list(self._publishing):
            task.cancel()
        if self._runner is not None:
            self._runner.cancel()
            # a broker that does not answer the DISCONNECT must not hold up shut-down
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._runner, 15.0)
            self._runner = None
        self._connected.clear()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = int(self.config.session_expiry) if self.consuming else 0
        props.ReceiveMaximum = self.receive_maximum
        return props

    def _new_client(self) -> MqttConnection:
        tls = None
        if self.endpoint.tls:
            import ssl

            tls = ssl.create_default_context()
        return MqttConnection(
            self.endpoint.host,
            self.endpoint.port,
            client_id=self.client_id,
            username=self._username,
            password=self._password,
            v5=True,
            # a worker resumes its session (and the posts it held) on every connect
            clean=not self.consuming,
            properties=self._connect_properties(),
            keepalive=30,
            max_inflight=PUBLISH_WINDOW,
            tls=tls,
            on_message=self._receive,  # acknowledged by ack(), after the store committed
        )

    async def _run(self) -> None:
        backoff = Reconnect()
        while not self._closing:
            client = self._new_client()
            try:
                async with client:
                    self._client = client
                    backoff.reset()
                    if self.consuming:
                        await client.subscribe(self.subscription, qos=1)
                    self._connected.set()
                    log.info(
                        "mqtt connected to %s:%d as %s",
                        self.endpoint.host,
                        self.endpoint.port,
                        self.client_id,
                    )
                    await client.wait_lost()
            except MqttError as exc:
                log.warning("mqtt connection to %s:%d lost: %s", self.endpoint.host, self.endpoint.port, exc)
            except Exception:  # whatever it was, the bus must come back, not die quietly
                log.exception("mqtt connection to %s:%d failed", self.endpoint.host, self.endpoint.port)
            finally:
                self._connected.clear()
                self._client = None  # its publishes awaiting a PUBACK were cancelled: sent again
            if self._closing:
                return
            self.reconnects += 1
            # posts delivered on the old connection cannot be acknowledged on a new one; the
            # broker sends them again, so forget the local copies
            self._drop_queued()
            await asyncio.sleep(backoff.next_delay())

    def _drop_queued(self) -> None:
        while not self._incoming.empty():
            self._incoming.get_nowait()

    # -- consuming ---------------------------------------------------------------------------

    def _receive(self, connection: MqttConnection, message: Message) -> None:
        # called by paho as soon as the message is read, even before the CONNACK wait returned
        # (a resumed session's backlog comes right behind the CONNACK)
        token = _Token(connection, message.mid, message.qos)
        source = "mqtt"
        for key, value in getattr(message.properties, "UserProperty", None) or []:
            if key == "source":
                source = value
        try:
            raw = message.payload
            data = json.loads(raw if isinstance(raw, bytes | str) else bytes(raw))
            post = parse_post(data)
        except (ValueError, RecursionError, PostError) as exc:
            # a poison message would come back forever: count it and let it go (RecursionError:
            # JSON nested deeper than the decoder goes)
            self.rejected += 1
            log.warning("dropping unreadable message on %s: %s", topic_of(message), exc)
            self._ack_token(token)
            return
        self._incoming.put_nowait(Envelope(post, source, time.monotonic(), token))

    async def get_batch(self, max_items: int, max_wait: float) -> list[Envelope]:
        batch = await take_batch(self._incoming, max_items, max_wait)
        self._handed_out += len(batch)
        return batch

    async def ack(self, envelopes: Sequence[Envelope]) -> None:
        """Acknowledge to the broker: only call once the store committed these posts."""
        for env in envelopes:
            if isinstance(env.token, _Token):
                self._ack_token(env.token)
        self._handed_out = max(0, self._handed_out - len(envelopes))
        self._maybe_idle()

    def _ack_token(self, token: _Token) -> None:
        # a no-op once that connection is gone: the broker redelivers it on the new one
        token.connection.ack(token.mid, token.qos)

    # -- publishing --------------------------------------------------------------------------

    def topic_for(self, post: Post) -> str:
        platform = "".join(c if c.isalnum() or c in "-_" else "_" for c in post.platform) or "unknown"
        return f"{self.prefix}/posts/{platform}"

    async def publish(self, post: Post, source: str) -> None:
        """Queue a post for the broker; waits while ``max_size`` publishes await their PUBACK."""
        payload = json.dumps(post.to_dict(), ensure_ascii=False).encode()
        await self._publish_slots.acquire()
        self._idle.clear()
        task = asyncio.create_task(self._publish_one(self.topic_for(post), payload, source))
        self._publishing.add(task)
        task.add_done_callback(self._published)

    def _published(self, task: asyncio.Task[None]) -> None:
        self._publishing.discard(task)
        self._publish_slots.release()
        self._maybe_idle()

    def _properties(self, source: str) -> Properties:
        props = self._props.get(source)
        if props is None:  # building them is not free: one per source
            props = Properties(PacketTypes.PUBLISH)
            props.UserProperty = [("source", source)]
            props.ContentType = "application/json"
            self._props[source] = props
        return props

    async def _publish_one(self, topic: str, payload: bytes, source: str) -> None:
        props = self._properties(source)
        retry = Reconnect(base=0.2, cap=5.0)
        while True:
            await self._connected.wait()
            client = self._client
            if client is None:
                await asyncio.sleep(0.05)
                continue
            async with self._window:
                reason = await self._send(client, topic, payload, props)
            if reason is not None and reason.value == 0:
                return
            if reason is not None and reason.value == NO_MATCHING_SUBSCRIBERS:
                # nobody took it: no worker has subscribed yet, or the broker restarted and
                # forgets shared subscriptions of sessions until they reconnect. Never drop a
                # post for that: wait (backpressure on the sources) and send it again.
                self.unrouted += 1
                now = time.monotonic()
                if now - self._warned_unrouted > 10.0:
                    self._warned_unrouted = now
                    log.warning("no classifier worker subscribed to %s; holding posts", topic)
            elif reason is not None:
                log.warning("broker refused a post on %s: %s; retrying", topic, reason)
            await asyncio.sleep(retry.next_delay() if reason is not None else 0.05)

    async def _send(
        self, client: MqttConnection, topic: str, payload: bytes, props: Properties
    ) -> ReasonCode | None:
        """One QoS 1 publish; the PUBACK's reason code, or None if the connection dropped first."""
        if client is not self._client:
            return None  # the connection dropped while we waited for the window
        acked = client.publish(topic, payload, qos=1, properties=props)
        if acked is None:
            return None
        await asyncio.wait((acked,))
        return None if acked.cancelled() else acked.result()

    # -- state -------------------------------------------------------------------------------

    def _maybe_idle(self) -> None:
        if not self._publishing:
            self._idle.set()

    async def drain(self) -> None:
        """Wait until every post published so far is the broker's: PUBACKed, so durable there.

        That is what a source needs before it saves its cursor (at-least-once from then on).
        Posts received and not yet acknowledged stay the broker's too: if this process stops
        before storing them, they come back to its session or go to another worker.
        """
        await self._idle.wait()

    async def settle(self) -> None:
        """Wait for the publishes in flight now (not for ones started meanwhile, as drain does)."""
        pending = set(self._publishing)
        if pending:
            await asyncio.wait(pending)

    def depth(self) -> int:
        return self._incoming.qsize() + len(self._publishing)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def stats(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "queued": self._incoming.qsize(),
            "handed_out": self._handed_out,
            "publishing": len(self._publishing),
            "reconnects": self.reconnects,
            "rejected": self.rejected,
        }
