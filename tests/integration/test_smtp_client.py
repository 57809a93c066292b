"""The notifier's SMTP client sends, byte for byte, what smtplib sends: recorded by a server on a real socket."""

import smtplib
import socketserver
import threading
from collections.abc import Iterator

import pytest

from consumers.notify.email.client import SmtpClient

pytestmark = pytest.mark.integration

GREETING = b"220 recorder ESMTP\r\n"
EHLO_REPLY = b"250-recorder\r\n250-SIZE 10485760\r\n250-8BITMIME\r\n250 HELP\r\n"


class Recorder(socketserver.ThreadingTCPServer):
    """An SMTP server that takes every message and keeps every byte each connection sent it."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), RecordingHandler)
        self.streams: list[bytes] = []


class RecordingHandler(socketserver.StreamRequestHandler):
    server: Recorder

    def handle(self) -> None:
        heard = bytearray()
        self.wfile.write(GREETING)
        while line := self.rfile.readline():
            heard += line
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.wfile.write(EHLO_REPLY)
            elif verb == b"DATA":
                self.wfile.write(b"354 go ahead\r\n")
                while (body := self.rfile.readline()) and body != b".\r\n":
                    heard += body
                heard += body
                self.wfile.write(b"250 taken\r\n")
            elif verb == b"QUIT":
                # Kept before the reply: the client's conversation ends with it, and the test reads at once.
                self.server.streams.append(bytes(heard))
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")
        self.server.streams.append(bytes(heard))


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


MESSAGES = [
    b"Subject: plain\r\n\r\nHello.\r\n",
    b".starts with a dot\r\n\r\n.\r\n..\r\nmiddle .dot\r\n.end",  # dot lines, no final CRLF
    b"Subject: x\r\n\r\nline\n.after a bare LF\r\n\r\n...\r\n",
    "Subject: =?utf-8?b?w7puaWs=?=\r\n\r\nÚnik údajov\r\n.ďalej\r\n".encode(),
    b"",
]


def conversation(client: type[smtplib.SMTP], port: int) -> None:
    with client("127.0.0.1", port) as smtp:
        for n, message in enumerate(MESSAGES):
            smtp.sendmail("Breachwire <notices@example.org>", [f"DPO {n} <dpo{n}@example.com>"], message,
                          mail_options=["BODY=8BITMIME"])  # fmt: skip
            smtp.sendmail("notices@example.org", ["privacy@example.net"], message)


def test_the_client_sends_what_smtplib_sends_dot_stuffing_and_addresses_included(recorder: Recorder) -> None:
    port = recorder.server_address[1]
    conversation(smtplib.SMTP, port)
    conversation(SmtpClient, port)

    assert len(recorder.streams) == 2
    by_smtplib, by_client = recorder.streams  # (in either order: they are to be equal)
    assert by_client == by_smtplib
    assert b"\r\n..starts with a dot\r\n\r\n..\r\n...\r\nmiddle .dot\r\n..end\r\n.\r\n" in by_client
    assert b"mail FROM:<notices@example.org> size=26 BODY=8BITMIME\r\n" in by_client
    assert b"rcpt TO:<dpo1@example.com>\r\n" in by_client
