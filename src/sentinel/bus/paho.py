"""One MQTT connection on the asyncio loop, through paho-mqtt's public API only.

Both MQTT users — the scale-out bus (:mod:`sentinel.bus.mqtt`) and the push source
(:mod:`sentinel.sources.mqtt`) — need two things an asyncio wrapper such as aiomqtt 2.5 does
not offer publicly:

* **acknowledge after commit**: an incoming QoS 1 message is PUBACKed only when the caller
  says so (:meth:`MqttConnection.ack`, paho's manual acknowledgement), never on receipt; a
  process that dies between receipt and commit leaves the message with the broker, which
  hands it out again;
* **the PUBACK's reason code**: :meth:`MqttConnection.publish` returns a future of the
  broker's answer, so "no matching subscribers" (0x10) can be told from success and the
  post sent again instead of counted as delivered.

paho does the protocol; this module runs it on the event loop with paho's external-loop
hooks: ``on_socket_open`` / ``on_socket_close`` / ``on_socket_register_write`` /
``on_socket_unregister_write`` add and remove the socket's reader and writer, which call
``loop_read`` / ``loop_write``; a task calls ``loop_misc`` every second (keep-alive). Only the
blocking TCP/TLS connect runs in a worker thread. One object is one connection: after it is
lost, make a new one (a message id means nothing on another connection anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

__all__ = ["Message", "MqttConnection", "MqttError", "topic_of"]

Message = mqtt.MQTTMessage
_PAHO_LOG = logging.getLogger("paho.mqtt.client")


class MqttError(Exception):
    """The connection could not be made, was refused, or was lost."""


def topic_of(message: Message) -> str:
    """The message's topic for a log line (a broker should never send one that is not UTF-8)."""
    try:
        return message.topic
    except UnicodeDecodeError:
        return "<topic not UTF-8>"


class MqttConnection:
    """An async context manager: connected inside, disconnected (cleanly if it can) after.

    ``on_message(connection, message)`` is called on the loop for each incoming message, as
    soon as it is read (a resumed session's backlog can come before ``__aenter__`` returns);
    without it messages queue for :meth:`receive`. Incoming QoS 1/2 messages are acknowledged only by :meth:`ack`.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        v5: bool = True,
        clean: bool = True,
        properties: Properties | None = None,
        keepalive: int = 30,
        tls: ssl.SSLContext | None = None,
        timeout: float = 10.0,
        max_inflight: int = 20,
        on_message: Callable[[MqttConnection, Message], None] | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.timeout = timeout
        self._keepalive = keepalive
        self._v5 = v5
        self._clean = clean
        self._properties = properties
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._on_message = on_message
        self._queue: asyncio.Queue[Message] = asyncio.Queue()
        self._connack: asyncio.Future[ReasonCode] = self._loop.create_future()
        # resolved once the connection is gone: None when we closed it, else why it was lost
        self._lost: asyncio.Future[MqttError | None] = self._loop.create_future()
        self._acks: dict[int, asyncio.Future[ReasonCode]] = {}  # message id -> its PUBACK
        self._subacks: dict[int, asyncio.Future[list[ReasonCode]]] = {}
        self._misc: asyncio.Task[None] | None = None
        self._fd = -1
        self._closing = False
        self._dead = False  # torn down: late socket callbacks are ignored

        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=None if v5 else clean,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            reconnect_on_failure=False,
            manual_ack=True,
        )
        client.enable_logger(_PAHO_LOG)
        client.connect_timeout = timeout
        client.max_inflight_messages_set(max_inflight)
        if username is not None:
            client.username_pw_set(username, password)
        if tls is not None:
            client.tls_set_context(tls)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_paho_message
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        self._paho = client

    # -- connect / disconnect ----------------------------------------------------------------

    def _connect_blocking(self) -> None:
        self._paho.connect(
            self.host,
            self.port,
            keepalive=self._keepalive,
            clean_start=self._clean if self._v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=self._properties,
        )

    async def __aenter__(self) -> Self:
        where = f"{self.host}:{self.port}"
        connecting = self._loop.run_in_executor(None, self._connect_blocking)
        try:
            await asyncio.shield(connecting)
        except asyncio.CancelledError:
            # the thread still finishes its connect: close what it opens
            connecting.add_done_callback(self._abandoned)
            raise
        except (OSError, ValueError) as exc:  # refused, unreachable, DNS, TLS handshake
            self._teardown()
            raise MqttError(f"connect to {where}: {exc}") from None
        try:
            done, _ = await asyncio.wait(
                (self._connack, self._lost), timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED
            )
        except BaseException:
            self._teardown()
            raise
        if self._connack not in done:
            lost = self._lost.result() if self._lost.done() else None
            self._teardown()
            raise MqttError(f"{where}: {lost or f'no CONNACK within {self.timeout:g}s'}")
        reason = self._connack.result()
        if reason.is_failure:
            self._teardown()
            raise MqttError(f"{where} refused the connection: {reason}")
        self._misc = self._loop.create_task(self._keep_alive(), name=f"mqtt-misc-{where}")
        return self

    def _abandoned(self, connecting: asyncio.Future[None]) -> None:
        if not connecting.cancelled():
            connecting.exception()  # retrieved: a failed connect nobody waits for is not an error
        self._teardown()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if not self._lost.done():
                self._closing = True
                if self._paho.disconnect() == mqtt.MQTT_ERR_SUCCESS:
                    # a broker that does not take the DISCONNECT must not hold us up
                    await asyncio.wait((self._lost,), timeout=self.timeout)
        finally:
            self._teardown()

    async def _keep_alive(self) -> None:
        while self._paho.loop_misc() == mqtt.MQTT_ERR_SUCCESS:  # noqa: ASYNC110 (paho's clock)
            await asyncio.sleep(1.0)

    def _teardown(self) -> None:
        """Forget the socket and fail whatever waits on this connection."""
        self._dead = True
        if self._misc is not None and self._misc is not asyncio.current_task():
            self._misc.cancel()
        self._unwatch()
        for cb in (
            "on_socket_open",
            "on_socket_close",
            "on_socket_register_write",
            "on_socket_unregister_write",
        ):
            setattr(self._paho, cb, None)
        sock = self._paho.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        self._lose(MqttError("connection closed"))
        self._cancel_pending()

    def _cancel_pending(self) -> None:
        """No answer will come on this connection: whoever awaits a PUBACK or SUBACK sends again."""
        for puback in self._acks.values():
            puback.cancel()
        for suback in self._subacks.values():
            suback.cancel()
        self._acks.clear()
        self._subacks.clear()

    def _lose(self, why: MqttError | None) -> None:
        if not self._lost.done():
            self._lost.set_result(why)

    def _unwatch(self) -> None:
        if self._fd >= 0 and not self._loop.is_closed():
            self._loop.remove_reader(self._fd)
            self._loop.remove_writer(self._fd)
        self._fd = -1

    # -- the socket on the event loop --------------------------------------------------------

    def _on_loop(self, fn: Callable[..., None], *args: Any) -> None:
        """paho calls the socket hooks from the connecting thread too; run them on the loop."""
        if threading.get_ident() == self._loop_thread:
            fn(*args)
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn, *args)

    def _on_socket_open(self, _client: mqtt.Client, _userdata: Any, sock: Any) -> None:
        self._on_loop(self._watch, sock.fileno())

    def _watch(self, fd: int) -> None:
        if self._dead:
            return
        self._fd = fd
        self._loop.add_reader(fd, self._readable)

    def _on_socket_close(self, _client: mqtt.Client, _userdata: Any, _sock: Any) -> None:
        self._on_loop(self._unwatch)  # the keep-alive task ends by itself: loop_misc says "no conn"

    def _on_register_write(self, _client: mqtt.Client, _userdata: Any, sock: Any) -> None:
        self._on_loop(self._want_write, sock.fileno())

    def _want_write(self, fd: int) -> None:
        if not self._dead and fd == self._fd:
            self._loop.add_writer(fd, self._writable)

    def _on_unregister_write(self, _client: mqtt.Client, _userdata: Any, sock: Any) -> None:
        self._on_loop(self._no_write, sock.fileno())

    def _no_write(self, fd: int) -> None:
        if fd == self._fd and not self._loop.is_closed():
            self._loop.remove_writer(fd)

    def _readable(self) -> None:
        try:
            while self._paho.loop_read() == mqtt.MQTT_ERR_SUCCESS:
                # TLS: loop_read may leave decrypted bytes in the SSL object that select()
                # no longer reports; read until it has none
                sock = self._paho.socket()
                if not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
                    break
        except Exception as exc:  # a callback of ours failed, or paho did: the stream is unusable
            _PAHO_LOG.debug("mqtt read failed", exc_info=True)
            self._lose(MqttError(f"read failed: {exc!r}"))
            self._teardown()

    def _writable(self) -> None:
        try:
            self._paho.loop_write()
        except Exception as exc:
            self._lose(MqttError(f"write failed: {exc!r}"))
            self._teardown()

    # -- paho's protocol callbacks (on the loop) ---------------------------------------------

    def _on_connect(self, _c: mqtt.Client, _u: Any, _flags: Any, reason: ReasonCode, _props: Any) -> None:
        if not self._connack.done():
            self._connack.set_result(reason)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _flags: Any, reason: ReasonCode, _props: Any) -> None:
        self._lose(None if self._closing else MqttError(f"connection lost: {reason}"))
        self._cancel_pending()

    def _on_paho_message(self, _c: mqtt.Client, _u: Any, message: Message) -> None:
        if self._on_message is not None:
            self._on_message(self, message)
        else:
            self._queue.put_nowait(message)

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, reason: ReasonCode, _props: Any) -> None:
        acked = self._acks.pop(mid, None)
        if acked is not None and not acked.done():
            acked.set_result(reason)

    def _on_subscribe(
        self, _c: mqtt.Client, _u: Any, mid: int, reasons: list[ReasonCode], _props: Any
    ) -> None:
        acked = self._subacks.pop(mid, None)
        if acked is not None and not acked.done():
            acked.set_result(reasons)

    # -- what callers use --------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connack.done() and not self._lost.done()

    async def subscribe(self, topic: str, qos: int) -> None:
        """Subscribe and wait for the SUBACK; a refused subscription raises :class:`MqttError`."""
        rc, mid = self._paho.subscribe(topic, qos)
        if rc != mqtt.MQTT_ERR_SUCCESS or mid is None:
            raise MqttError(f"subscribe {topic}: {mqtt.error_string(rc)}")
        acked: asyncio.Future[list[ReasonCode]] = self._loop.create_future()
        self._subacks[mid] = acked
        done, _ = await asyncio.wait(
            (acked, self._lost), timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if acked not in done or acked.cancelled():
            self._subacks.pop(mid, None)
            raise MqttError(
                f"subscribe {topic}: no SUBACK ({self._lost.result() if self._lost.done() else 'timeout'})"
            )
        refused = [r for r in acked.result() if r.is_failure]
        if refused:
            raise MqttError(f"subscribe {topic} refused: {refused[0]}")

    def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, properties: Properties | None = None
    ) -> asyncio.Future[ReasonCode] | None:
        """Send one message; a future of the broker's PUBACK reason code (QoS 1), cancelled if the
        connection drops first; None if paho could not take it (not connected)."""
        if self._lost.done():
            return None
        info = self._paho.publish(topic, payload, qos=qos, properties=properties)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return None
        acked: asyncio.Future[ReasonCode] = self._loop.create_future()
        # the external loop writes only on a later turn of the event loop, so the PUBACK can
        # not have come before the future is registered
        self._acks[info.mid] = acked
        return acked

    def ack(self, mid: int, qos: int) -> None:
        """Acknowledge an incoming message (once what it carried is stored)."""
        if qos > 0 and not self._lost.done():
            self._paho.ack(mid, qos)

    def queued(self) -> int:
        """Messages received and not yet taken by :meth:`receive`."""
        return self._queue.qsize()

    async def receive(self) -> Message:
        """The next incoming message (without ``on_message``); :class:`MqttError` once lost."""
        if not self._queue.empty():
            return self._queue.get_nowait()
        getter = asyncio.ensure_future(self._queue.get())
        try:
            await asyncio.wait((getter, self._lost), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not getter.done():
                getter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()
        raise self._lost.result() or MqttError("disconnected")

    async def wait_lost(self) -> None:
        """Return when we closed the connection; raise :class:`MqttError` when it was lost."""
        why = await asyncio.shield(self._lost)
        if why is not None:
            raise why
