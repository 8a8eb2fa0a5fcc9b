"""The e-mail worker: sends queued e-mails through the group's SMTP server with
``aiosmtplib``, one at a time over one connection while there is work, and records each
outcome (``services/email_outbox.py`` says what is sent once and what can be sent twice).

What an SMTP answer means here:
- accepted: the row is done (in one transaction with the check that it is still ours);
- the recipient refused with a 5xx (no such mailbox), or the message refused with a 5xx
  after DATA: given up for that message (``failed``);
- anything else (no connection, a timeout, a 4xx, a refused login or sender: a setting to
  fix): tried again after 30 s, 1, 2, 4 ... minutes (at most an hour), until the message is
  no longer worth sending (``domain/email.WORTH_SENDING``: an hour for a login link, a week
  for a digest). A server that is down loses nothing in that time.
Logs name the row and the SMTP code, never an address or the message.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from datetime import timedelta
from typing import TYPE_CHECKING

import aiosmtplib

from fediaid.domain.email import SEND_TIMEOUT_SECONDS, SmtpSettings, TlsMode
from fediaid.domain.queue import ItemState
from fediaid.jobs.delivery import worker_name
from fediaid.services.email_outbox import NOT_CONFIGURED, Outgoing
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from fediaid.services.runtime import Runtime

log = logging.getLogger(__name__)

IDLE_POLL_SECONDS = 5.0  # work queued by another process (a CLI, a second server)
KEEP_FINISHED = timedelta(days=30)


class _Refused(Exception):
    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


def _classify(exc: BaseException) -> _Refused:
    """An SMTP failure in words for ``last_error`` (no addresses), and whether retrying can
    help."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        return _Refused(f"recipient refused ({', '.join(map(str, codes))})",
                        permanent=bool(codes) and all(c >= 500 for c in codes))
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        return _Refused(f"recipient refused ({exc.code})", permanent=exc.code >= 500)
    if isinstance(exc, aiosmtplib.SMTPDataError):
        return _Refused(f"message refused ({exc.code})", permanent=exc.code >= 500)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return _Refused(f"login refused ({exc.code}): check the user name and password",
                        permanent=False)
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        return _Refused(f"sender refused ({exc.code}): check the sender address",
                        permanent=False)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _Refused(f"SMTP error ({exc.code})", permanent=False)
    if isinstance(exc, TimeoutError | aiosmtplib.SMTPTimeoutError):
        return _Refused("the mail server did not answer in time", permanent=False)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return _Refused("the mail server does not offer what the settings ask (STARTTLS or a "
                        "login): check the encryption", permanent=False)
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return _Refused("the mail server's certificate is not valid for its name: check "
                            "the server name", permanent=False)
        if isinstance(cause, ssl.SSLError):
            return _Refused("TLS failed: check the encryption and the port", permanent=False)
        cause = cause.__cause__ or cause.__context__
    return _Refused(f"could not reach the mail server ({type(exc).__name__})",
                    permanent=False)


class EmailWorker:
    def __init__(self, rt: Runtime, *, name: str | None = None) -> None:
        self.rt = rt
        self.name = name or worker_name("email")
        self._client: aiosmtplib.SMTP | None = None
        self._client_for: tuple[object, ...] | None = None
        self.sent = 0

    async def run(self, stop: asyncio.Event) -> None:
        wakeup = self.rt.signals.email_wakeup
        while not stop.is_set():
            wakeup.clear()
            try:
                await self.run_once()
            except Exception:
                log.exception("e-mail worker failed; trying again")
            wait = IDLE_POLL_SECONDS
            due = await self._next_due()
            if due is not None:
                wait = max(0.05, min(wait, (due - utcnow()).total_seconds()))
            stopping = asyncio.ensure_future(stop.wait())
            waking = asyncio.ensure_future(wakeup.wait())
            try:
                await asyncio.wait({stopping, waking}, timeout=wait,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopping.cancel()
                waking.cancel()
        await self._close()

    async def _next_due(self) -> object:
        try:
            return await self.rt.email_outbox.next_due()
        except Exception:
            log.exception("e-mail worker: could not read the queue")
            return None

    async def run_once(self, limit: int = 1000) -> int:
        """Send every due message (at most ``limit``), one at a time; returns how many rows
        were handled. The connection stays open while there is work."""
        outbox = self.rt.email_outbox
        handled = 0
        started = utcnow()  # retries of this round wait for the next one
        try:
            while handled < limit:
                jobs = await outbox.claim(self.name, 1, due_by=started)
                if not jobs:
                    break
                job = jobs[0]
                handled += 1
                smtp, password = await outbox.smtp()
                if not smtp.configured:
                    await outbox.finish(job, self.name, sent=False, error=NOT_CONFIGURED)
                    continue
                try:
                    messages = await outbox.prepare(job, smtp)
                    for out in messages:
                        await self._send(smtp, password, out)
                except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                    await self._close()
                    refused = _classify(exc)
                    state = await outbox.finish(job, self.name, sent=False,
                                                error=refused.reason,
                                                permanent=refused.permanent)
                    log.info("e-mail %d (%s) not sent: %s; %s", job.id, job.kind.value,
                             refused.reason, state.value)
                    continue
                state = await outbox.finish(job, self.name, sent=bool(messages))
                if state is ItemState.DONE:
                    self.sent += len(messages)
                    log.info("e-mail %d (%s) sent", job.id, job.kind.value)
        finally:
            await self._close()
        return handled

    async def _send(self, smtp: SmtpSettings, password: str | None, out: Outgoing) -> None:
        key = (smtp, password)
        if self._client is None or self._client_for != key or not self._client.is_connected:
            await self._close()
            host = self.rt.settings.domain.split(":")[0] or "localhost"
            login = ({"username": smtp.username, "password": password or ""}
                     if smtp.username else {})
            client = aiosmtplib.SMTP(
                hostname=smtp.host, port=smtp.port, use_tls=smtp.tls is TlsMode.TLS,
                start_tls=smtp.tls is TlsMode.STARTTLS, timeout=SEND_TIMEOUT_SECONDS,
                local_hostname=host, **login)  # type: ignore[arg-type]
            await client.connect()
            self._client, self._client_for = client, key
        await self._client.send_message(out.message, recipients=[out.to])

    async def _close(self) -> None:
        client, self._client, self._client_for = self._client, None, None
        if client is None:
            return
        try:
            if client.is_connected:
                await asyncio.wait_for(client.quit(), 5)
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            client.close()

    async def housekeeping(self) -> tuple[int, int]:
        """Queue due digests; forget finished rows after 30 days. (The lifecycle loop.)"""
        queued = await self.rt.email.queue_digests()
        purged = await self.rt.email_outbox.purge(utcnow() - KEEP_FINISHED)
        return queued, purged
