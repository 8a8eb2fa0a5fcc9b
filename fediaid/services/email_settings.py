"""The group's SMTP server: host, port, TLS mode, user name, password and sender address,
set by coordinators (``/admin/email``) or the operator (``fediaid admin email-settings``),
in the group's audit log (never the password).

The password is kept like the two-factor secrets: encrypted with AES-GCM under a key
derived (HKDF) from the instance secret, so a copy of the database alone does not give it.
It is never logged, never shown back (pages say only whether one is set) and read only by
the e-mail worker when it connects.
"""

from __future__ import annotations

import base64
import secrets as _secrets
from typing import Any

from fediaid.domain.audit import AuditAction
from fediaid.domain.email import Kind, SmtpSettings, TlsMode, check_smtp, normal_address
from fediaid.domain.roles import Permission
from fediaid.domain.users import User
from fediaid.errors import Conflict, Forbidden, Invalid
from fediaid.i18n import N_, Listed, Message
from fediaid.services.audit import record
from fediaid.services.core import Core, Service
from fediaid.storage import email as repo

PASSWORD_MAX = 512
# The settings' names in the group's log.
_SMTP_WORDS = {"smtp_host": N_("host"), "smtp_port": N_("port"), "smtp_tls": N_("tls"),
               "smtp_username": N_("username"), "smtp_sender": N_("sender")}
_INFO = b"fediaid smtp password"


class EmailSettingsService(Service):
    def __init__(self, core: Core) -> None:
        super().__init__(core)

    # -- the password at rest --------------------------------------------------------------
    def _cipher(self) -> Any:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
            self.settings.secret_key.encode())
        return AESGCM(key)

    def _seal(self, password: str) -> str:
        nonce = _secrets.token_bytes(12)
        sealed = self._cipher().encrypt(nonce, password.encode(), _INFO)
        return base64.b64encode(nonce + sealed).decode()

    def _open(self, sealed: str) -> str | None:
        from cryptography.exceptions import InvalidTag

        try:
            raw = base64.b64decode(sealed)
            return str(self._cipher().decrypt(raw[:12], raw[12:], _INFO).decode())
        except (InvalidTag, ValueError):
            return None  # the instance secret changed: set the password again

    # -- reading -----------------------------------------------------------------------------
    async def current(self) -> SmtpSettings:
        async with self.db.read() as conn:
            v = await repo.smtp_values(conn)
        try:
            tls = TlsMode(v.get("smtp_tls", TlsMode.STARTTLS.value))
        except ValueError:
            tls = TlsMode.STARTTLS
        return SmtpSettings(host=v.get("smtp_host", ""), port=int(v.get("smtp_port", "587")),
                            tls=tls, username=v.get("smtp_username", ""),
                            sender=v.get("smtp_sender", ""),
                            has_password=repo.SMTP_PASSWORD_KEY in v)

    async def password(self) -> str | None:
        """For the sender only: the password in clear, None when none is set (or it can
        no longer be read)."""
        async with self.db.read() as conn:
            sealed = (await repo.smtp_values(conn)).get(repo.SMTP_PASSWORD_KEY)
        return self._open(sealed) if sealed else None

    async def configured(self) -> bool:
        return (await self.current()).configured

    # -- changing ------------------------------------------------------------------------------
    @staticmethod
    def _require(by: User | None) -> None:
        if by is not None and not by.may(Permission.GROUP_SETTINGS):
            raise Forbidden(N_("Only coordinators can change the e-mail settings."))

    async def save(self, by: User | None, *, host: str, port: str | int, tls: str,
                   username: str, sender: str, password: str | None = None,
                   clear_password: bool = False) -> SmtpSettings:
        """Check and store the settings. ``password`` None keeps the one set; an empty one
        keeps it too (a form that shows "set" sends nothing); ``clear_password`` removes it."""
        self._require(by)
        smtp = check_smtp(host=host, port=port, tls=tls, username=username, sender=sender)
        if password is not None and (len(password) > PASSWORD_MAX
                                     or any(c in password for c in "\r\n\0")):
            raise Invalid(N_("That password is too long or has line breaks."), field="password")
        async with self.db.write() as conn:
            before = await repo.smtp_values(conn)
            values = {"smtp_host": smtp.host, "smtp_port": str(smtp.port),
                      "smtp_tls": smtp.tls.value, "smtp_username": smtp.username,
                      "smtp_sender": smtp.sender}
            for key, value in values.items():
                await repo.put_setting(conn, key, value)
            changed = [Message(_SMTP_WORDS[k], {}) for k, v in values.items()
                       if before.get(k) != v]
            if clear_password:
                if repo.SMTP_PASSWORD_KEY in before:
                    await repo.put_setting(conn, repo.SMTP_PASSWORD_KEY, None)
                    changed.append(Message(N_("password removed"), {}))
            elif password:
                await repo.put_setting(conn, repo.SMTP_PASSWORD_KEY, self._seal(password))
                changed.append(Message(N_("password"), {}))
            if changed:
                await record(conn, by, AuditAction.SETTING_CHANGED, target_kind="setting",
                             target_id="email",
                             summary=N_("changed the e-mail settings: {what}",
                                        what=Listed(changed, ", ")))
            await repo.retry_now(conn)
        self.signals.email_wakeup.set()  # messages waiting for settings may go now
        return await self.current()

    async def turn_off(self, by: User | None) -> None:
        """Forget the SMTP server (members' addresses stay; nothing is sent meanwhile)."""
        self._require(by)
        async with self.db.write() as conn:
            before = await repo.smtp_values(conn)
            for key in (*repo.SMTP_KEYS, repo.SMTP_PASSWORD_KEY):
                await repo.put_setting(conn, key, None)
            if before:
                await record(conn, by, AuditAction.SETTING_CHANGED, target_kind="setting",
                             target_id="email", summary=N_("turned e-mail off"))

    async def send_test(self, by: User | None, to: str) -> None:
        """Queue a test message to ``to`` (it goes out like every other message)."""
        self._require(by)
        address = normal_address(to, field="to")
        if not await self.configured():
            raise Conflict(N_("Save the mail server's settings first."))
        async with self.db.write() as conn:
            await repo.enqueue(conn, kind=Kind.TEST, user_id=None, to_address=address)
        self.signals.email_wakeup.set()
