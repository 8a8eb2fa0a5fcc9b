"""A real SMTP server on 127.0.0.1 for the e-mail tests (aiosmtpd, in its own thread), that
keeps every message it accepts, parsed, so tests assert what arrives."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    envelope_to: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        assert part is not None
        return str(part.get_content())

    def __getitem__(self, header: str) -> str:
        # Long headers arrive folded; unfolded, the line's leading space remains.
        return str(self.message[header] or "").strip()


@dataclass
class _Handler:
    sink: SmtpSink

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: Any) -> str:
        if address in self.sink.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.sink.lock:
            self.sink.messages.append(Received(list(envelope.rcpt_tos), msg))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


@dataclass
class SmtpSink:
    """``tls``: "none", "starttls" (required before anything is sent) or "tls" (implicit TLS
    from the first byte), with ``context`` as the server's certificate; ``users``: accounts
    that must log in (AUTH, over TLS only), name -> password."""

    port: int = field(default_factory=free_port)
    messages: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    tls: str = "none"
    context: ssl.SSLContext | None = None
    users: dict[str, str] | None = None
    logins: list[str] = field(default_factory=list)
    _controller: Controller | None = None

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and self.users is not None:
            name, password = auth_data.login.decode(), auth_data.password.decode()
            if self.users.get(name) == password:
                self.logins.append(name)
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def start(self) -> SmtpSink:
        extra: dict[str, Any] = {}
        if self.tls == "starttls":
            extra.update(tls_context=self.context, require_starttls=True)
        elif self.tls == "tls":
            # The whole connection is TLS; aiosmtpd only sees STARTTLS as "TLS" for AUTH.
            extra.update(ssl_context=self.context, auth_require_tls=False)
        if self.users is not None:
            extra.update(authenticator=self._authenticate, auth_required=True)
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                      server_hostname="sink.test", **extra)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [m for m in self.messages if address in m.envelope_to]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} messages, got {len(self.messages)}")
