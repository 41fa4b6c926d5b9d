"""Fake receivers for alerts and the digest: an SMTP catcher (aiosmtpd) and a chat/webhook receiver (JSON over HTTP).

Both keep what they receive in memory, readable by tests, in a browser (`/`) and as JSON (`/messages.json`); the
SMTP catcher also prints each message's summary and text part to the terminal. Like the other fakes, they are as
strict as the real thing where it matters: the webhook refuses a non-JSON body (400), can be told to fail (to drive
retries), and the SMTP catcher accepts only RFC 5322 messages with a From and at least one recipient.
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape

from aiosmtpd.controller import Controller

from fakes.http import FakeServer, JsonHandler


@dataclass
class Caught:
    received_at: str
    sender: str
    recipients: list
    subject: str
    text: str
    html: str
    raw: str = field(repr=False, default="")

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "raw"}


class _Store:
    def __init__(self, *, echo=None):
        self.items: list = []
        self.lock = threading.Lock()
        self.echo = echo

    def add(self, item) -> None:
        with self.lock:
            self.items.append(item)
        if self.echo:
            self.echo(item)


class _SmtpHandler:
    def __init__(self, store: _Store):
        self.store = store

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        if not msg["From"] or not envelope.rcpt_tos:
            return "554 a message needs a From header and a recipient"
        text = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        self.store.add(Caught(
            received_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), sender=envelope.mail_from,
            recipients=list(envelope.rcpt_tos), subject=str(msg["Subject"] or ""),
            text=text.get_content() if text else "", html=html.get_content() if html else "",
            raw=envelope.content.decode("utf-8", "replace")))
        return "250 OK"


class SmtpCatcher:
    """aiosmtpd on a local port, no TLS and no login (send with mailto://, no user); `.messages` holds the mail."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, echo=None):
        self.store = _Store(echo=echo)
        self.controller = Controller(_SmtpHandler(self.store), hostname=host, port=port or _free_port(host))
        self.host, self.port = host, self.controller.port

    @property
    def messages(self) -> list[Caught]:
        with self.store.lock:
            return list(self.store.items)

    def mailto(self, to: str = "marketing@example.com", sender: str = "sourcebook@example.com") -> str:
        """The apprise URL that sends here."""
        return f"mailto://{self.host}:{self.port}?from={sender}&to={to}"

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()


def _free_port(host: str) -> int:
    import socket  # noqa: PLC0415 - only here

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class WebhookReceiver(FakeServer):
    """A chat/webhook endpoint: records every JSON POST; `fail_next(n, status)` makes the next n answer `status`."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, smtp: SmtpCatcher | None = None):
        receiver = self
        self.posts: list = []
        self.failures: list[int] = []
        self.lock = threading.Lock()
        self.smtp = smtp

        class Handler(JsonHandler):
            def do_GET(self):  # noqa: N802
                if self.path.startswith("/messages.json"):
                    return self.send_json(200, {"mail": [m.as_dict() for m in receiver.smtp.messages] if receiver.smtp else [],
                                                "posts": receiver.received})
                if self.path in ("/", "/index.html"):
                    return self._send_html(receiver.page())
                return self.send_json(404, {"message": "not found"})

            def do_POST(self):  # noqa: N802
                body = self.read_body()
                with receiver.lock:
                    status = receiver.failures.pop(0) if receiver.failures else None
                if status:
                    return self.send_json(status, {"message": "failing as told"})
                try:
                    payload = json.loads(body)
                except ValueError:
                    return self.send_json(400, {"message": "body is not JSON"})
                with receiver.lock:
                    receiver.posts.append({"path": self.path, "payload": payload,
                                           "received_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
                return self.send_json(200, {"ok": True})

            def _send_html(self, page: str):
                data = page.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        super().__init__(Handler, host=host, port=port)

    @property
    def received(self) -> list:
        with self.lock:
            return list(self.posts)

    def fail_next(self, n: int, status: int = 503) -> None:
        with self.lock:
            self.failures.extend([status] * n)

    def json_url(self, path: str = "/hook") -> str:
        """The apprise URL that posts here (apprise's generic JSON webhook)."""
        return self.url.replace("http://", "json://") + path

    def page(self) -> str:
        """The inbox in a browser: newest first, mail (HTML part in a sandboxed frame) and webhook posts."""
        parts = ["<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>",
                 "<title>Sourcebook local inbox</title><style>body{font:15px system-ui;margin:1.5em;max-width:60em}"
                 "article{border:1px solid #ccc;border-radius:6px;padding:.8em;margin:.8em 0}"
                 "iframe{width:100%;height:28em;border:1px solid #eee}pre{white-space:pre-wrap}</style>",
                 "<h1>Local inbox</h1><p>Mail sent to the local SMTP catcher and posts to the local webhook, newest first."
                 " Reload to refresh. JSON: <a href='/messages.json'>/messages.json</a></p>"]
        for m in reversed(self.smtp.messages if self.smtp else []):
            parts.append(f"<article><h2>{escape(m.subject)}</h2><p>{escape(m.received_at)} · from {escape(m.sender)}"
                         f" to {escape(', '.join(m.recipients))}</p>")
            if m.html:
                parts.append(f"<iframe sandbox srcdoc=\"{escape(m.html, quote=True)}\"></iframe>")
            parts.append(f"<details><summary>plain-text part</summary><pre>{escape(m.text)}</pre></details></article>")
        for p in reversed(self.received):
            parts.append(f"<article><h2>POST {escape(p['path'])}</h2><p>{escape(p['received_at'])}</p>"
                         f"<pre>{escape(json.dumps(p['payload'], indent=2))}</pre></article>")
        return "".join(parts)
