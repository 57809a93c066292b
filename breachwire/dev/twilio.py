"""A local server speaking Twilio's Messages API, for the demo and the tests.

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with HTTP Basic auth (account SID and auth token) and a
form-encoded ``To``, ``From`` or ``MessagingServiceSid``, and ``Body``; it answers 201 with a message resource
(``sid``, ``status: queued``, ...) or an error object ``{"code", "message", "more_info", "status"}`` as Twilio
does. ``behaviour`` plays a failing provider, as the webhook sink's does.
"""

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from breachwire.dev.sinks import Answer, HttpSink, Reply

TwilioBehaviour = Callable[[str, str, int], Answer]  # (to, body, attempt number for that pair) → answer


@dataclass(frozen=True)
class ReceivedSms:
    sid: str
    to: str
    sender: str
    body: str
    at: float


class TwilioSink:
    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        behaviour: TwilioBehaviour | None = None,
    ) -> None:
        self.account_sid = account_sid
        self._auth = "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self.behaviour = behaviour
        self.lock = threading.Lock()
        self.received: list[ReceivedSms] = []
        self.attempts: dict[tuple[str, str], int] = {}
        self._http = HttpSink("twilio-sink", self._reply, host, port)
        self.host = host

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self._http.port}"

    @staticmethod
    def _error(status: int, code: int, message: str) -> dict[str, Any]:
        return {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }

    def _reply(self, path: str, headers: dict[str, str], body: bytes) -> Reply:
        status, answer_headers, payload, delay = self._receive(path, headers.get("authorization"), body)
        return Reply(
            status, {**answer_headers, "content-type": "application/json"}, json.dumps(payload).encode(), delay
        )

    def _receive(self, path: str, auth: str | None, body: bytes) -> tuple[int, dict[str, str], dict[str, Any], float]:
        if path != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            return 404, {}, self._error(404, 20404, "The requested resource was not found"), 0.0
        if auth != self._auth:
            return 401, {}, self._error(401, 20003, "Authenticate"), 0.0
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        to, text = form.get("To", ""), form.get("Body", "")
        sender = form.get("From") or form.get("MessagingServiceSid", "")
        if not to or not text or not sender:
            return (
                400,
                {},
                self._error(400, 21604, "A 'To', 'Body' and 'From' or 'MessagingServiceSid' are required"),
                0.0,
            )
        with self.lock:
            attempt = self.attempts.get((to, text), 0) + 1
            self.attempts[(to, text)] = attempt
        answer: Answer = self.behaviour(to, text, attempt) if self.behaviour else Answer(status=201)
        if not 200 <= answer.status < 300:
            return (
                answer.status,
                dict(answer.headers),
                self._error(answer.status, 20500 if answer.status >= 500 else 21211, "refused by the test"),
                answer.delay_s,
            )
        sid = "SM" + uuid.uuid4().hex
        with self.lock:
            self.received.append(ReceivedSms(sid, to, sender, text, time.time()))
        resource = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": to,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": text,
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "error_code": None,
            "error_message": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        return 201, dict(answer.headers), resource, answer.delay_s

    def start(self) -> "TwilioSink":
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()
