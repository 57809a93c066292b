"""Local receivers for the demo (and the tests): a real SMTP server and a real webhook endpoint that verifies
every Standard Webhooks signature. Both write what they receive to a folder and remember it."""

import email.policy
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class ReceivedMail:
    message_id: str
    to: list[str]
    subject: str
    at: float
    path: Path


class _MailHandler:
    def __init__(self, sink: "SmtpSink") -> None:
        self._sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        # Only the headers: parsing the bodies too would be most of this server's work a message.
        content: bytes = envelope.original_content  # as received, whether the server decodes it or not
        message = BytesHeaderParser(policy=email.policy.default).parsebytes(content)
        message_id = str(message.get("Message-ID", "")).strip("<>")
        if self._sink.behaviour is not None:
            with self._sink.lock:
                attempt = self._sink.attempts.get(message_id, 0) + 1
                self._sink.attempts[message_id] = attempt
            reply = self._sink.behaviour(message_id, attempt)
            if reply is not None:
                return reply  # e.g. "451 4.3.0 Try again later": the message is not kept
        with self._sink.lock:
            self._sink.count += 1
            path = self._sink.directory / f"{self._sink.count:05d}-{message_id.split('@')[0] or 'mail'}.eml"
            path.write_bytes(content)
            self._sink.received.append(
                ReceivedMail(message_id, list(envelope.rcpt_tos), str(message.get("Subject", "")), time.time(), path)
            )
        return "250 Message accepted for delivery"


# (Message-ID, attempt number for it) → None to accept, or an SMTP reply such as "451 4.3.0 Try again later"
MailBehaviour = Callable[[str, int], str | None]


class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 writing each message to ``directory`` as an .eml file. With ``eight_bit``
    False it plays a 7-bit server: no 8BITMIME announced, a message with a non-ASCII byte refused."""

    def __init__(
        self,
        directory: Path,
        port: int = 0,
        host: str = "127.0.0.1",
        behaviour: "MailBehaviour | None" = None,
        eight_bit: bool = True,
    ) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.behaviour = behaviour
        self.attempts: dict[str, int] = {}
        self.lock = threading.Lock()
        self.count = 0
        self.received: list[ReceivedMail] = []
        self._controller = Controller(
            _MailHandler(self), hostname=host, port=port or _free_port(host), decode_data=not eight_bit
        )
        self.host = host

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def start(self) -> "SmtpSink":
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def message_ids(self) -> set[str]:
        with self.lock:
            return {m.message_id for m in self.received}


@dataclass(frozen=True)
class ReceivedWebhook:
    path: str
    webhook_id: str
    body: dict[str, Any]
    at: float
    file: Path | None
    headers: Mapping[str, str] = field(default_factory=dict)  # as received, names in lower case


@dataclass(frozen=True)
class Answer:
    """What the receiver answers; tests use it to play a failing endpoint."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


Behaviour = Callable[[str, str, int], Answer]  # (path, webhook-id, attempt number for that id) → answer


@dataclass(frozen=True)
class Reply:
    """An HTTP answer from a sink: status, headers, body, and how long to wait before sending it."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay_s: float = 0.0


class HttpSink:
    """A threaded HTTP server on ``host`` answering each POST with ``handle(path, headers, body)``.

    Headers reach ``handle`` with lower-case names. A request whose body ends before its content-length came
    from a sender that died mid-send (a killed notifier): nothing was delivered, so it is dropped unhandled.
    """

    def __init__(
        self, name: str, handle: Callable[[str, dict[str, str], bytes], Reply], host: str = "127.0.0.1", port: int = 0
    ) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:
                    self.close_connection = True
                    return
                reply = handle(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

        self.host = host
        self._server = _Server((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class WebhookSink:
    """An HTTP server on 127.0.0.1 that verifies each POST's signature with the secret for its path.

    ``secrets`` maps a path (``/hooks/<customer>``) to the secret that customer's webhooks are signed with.
    A POST that does not verify gets 401 and is not kept.
    """

    def __init__(
        self,
        secrets: Mapping[str, str],
        directory: Path | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        behaviour: Behaviour | None = None,
    ) -> None:
        self.secrets = dict(secrets)
        self.directory = directory
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        self.behaviour = behaviour
        self.lock = threading.Lock()
        self.received: list[ReceivedWebhook] = []
        self.rejected = 0
        self.attempts: dict[str, int] = {}
        self._http = HttpSink("webhook-sink", self._reply, host, port)
        self.host = host

    @property
    def port(self) -> int:
        return self._http.port

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def _reply(self, path: str, headers: dict[str, str], body: bytes) -> Reply:
        status, answer_headers, delay = self._receive(path, headers, body)
        return Reply(status, answer_headers, b"", delay)

    def _receive(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Mapping[str, str], float]:
        secret = self.secrets.get(path)
        if secret is None:
            return 404, {}, 0.0
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            payload = Webhook(secret).verify(body.decode(), lowered)
        except (WebhookVerificationError, ValueError):
            with self.lock:
                self.rejected += 1
            return 401, {}, 0.0
        webhook_id = lowered["webhook-id"]
        with self.lock:
            attempt = self.attempts.get(webhook_id, 0) + 1
            self.attempts[webhook_id] = attempt
        answer = self.behaviour(path, webhook_id, attempt) if self.behaviour else Answer()
        if 200 <= answer.status < 300:
            file = None
            with self.lock:
                if self.directory is not None:
                    name = path.strip("/").replace("/", "_")
                    file = self.directory / f"{name}-{webhook_id}.json"
                    file.write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
                self.received.append(ReceivedWebhook(path, webhook_id, payload, time.time(), file, lowered))
        return answer.status, answer.headers, answer.delay_s

    def start(self) -> "WebhookSink":
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def webhook_ids(self) -> set[str]:
        with self.lock:
            return {r.webhook_id for r in self.received}


class _Server(ThreadingHTTPServer):
    # A notifier opens dozens of connections at once; the default backlog of 5 would reset some of them.
    request_queue_size = 256
    daemon_threads = True


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
