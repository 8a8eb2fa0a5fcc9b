"""The group's SMS gateway: provider, number, account, address, and its secrets (Twilio's
auth token, or the phone's password and webhook signing key), set by coordinators
(``/admin/sms``) or the operator (``fediaid admin sms-settings``), in the group's audit log
(never a secret). The group's own NEED/OFFER words are kept here too.

Secrets are kept like the SMTP password: AES-GCM under a key derived (HKDF) from the
instance secret, never shown back, read only to send or to check a webhook. The opt-out
list's digests use another key derived from the same secret.
"""

from __future__ import annotations

import base64
import secrets as _secrets
from typing import Any

from fediaid.domain.audit import AuditAction
from fediaid.domain.privacy import DEFAULT_REGION, PHONE_REGION, known_region
from fediaid.domain.roles import Permission
from fediaid.domain.sms import (
    Intent,
    Keywords,
    Provider,
    SmsSettings,
    check_settings,
    format_keywords,
    keywords_with,
    parse_keywords,
)
from fediaid.domain.sms_gateways import Secrets
from fediaid.domain.users import User
from fediaid.errors import Forbidden, Invalid
from fediaid.i18n import N_, Listed, Message
from fediaid.services.audit import record
from fediaid.services.core import Core, Service
from fediaid.storage import posts as posts_repo
from fediaid.storage import sms as repo

SECRET_MAX = 512
# The settings' names in the group's log.
_FIELD_WORDS = {"sms_provider": N_("provider"), "sms_number": N_("number"),
                "sms_account": N_("account"), "sms_api_url": N_("api url"),
                "sms_private_address": N_("private address")}
_INFO = b"fediaid sms secret"
_OPT_OUT_INFO = b"fediaid sms opt-out"


class SmsSettingsService(Service):
    def __init__(self, core: Core) -> None:
        super().__init__(core)

    # -- secrets at rest ------------------------------------------------------------------
    def _derive(self, info: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(
            self.settings.secret_key.encode())

    def _cipher(self) -> Any:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        return AESGCM(self._derive(_INFO))

    def _seal(self, secret: str) -> str:
        nonce = _secrets.token_bytes(12)
        return base64.b64encode(nonce + self._cipher().encrypt(nonce, secret.encode(),
                                                               _INFO)).decode()

    def _open(self, sealed: str | None) -> str:
        from cryptography.exceptions import InvalidTag

        if not sealed:
            return ""
        try:
            raw = base64.b64decode(sealed)
            return str(self._cipher().decrypt(raw[:12], raw[12:], _INFO).decode())
        except (InvalidTag, ValueError):
            return ""  # the instance secret changed: set it again

    def opt_out_key(self) -> bytes:
        return self._derive(_OPT_OUT_INFO)

    # -- reading ----------------------------------------------------------------------------
    async def current(self) -> SmsSettings:
        async with self.db.read() as conn:
            v = await repo.values(conn)
        try:
            provider: Provider | None = Provider(v.get("sms_provider", ""))
        except ValueError:
            provider = None
        return SmsSettings(provider=provider, number=v.get("sms_number", ""),
                           account=v.get("sms_account", ""),
                           api_url=v.get("sms_api_url", ""),
                           private_address=v.get("sms_private_address", ""),
                           has_secret=repo.SECRET_KEY in v,
                           has_signing_key=repo.SIGNING_KEY in v)

    async def secrets(self) -> Secrets:
        """For the sender and the webhook check only."""
        async with self.db.read() as conn:
            v = await repo.values(conn)
        return Secrets(secret=self._open(v.get(repo.SECRET_KEY)),
                       signing_key=self._open(v.get(repo.SIGNING_KEY)))

    async def region(self) -> str:
        async with self.db.read() as conn:
            stored = await posts_repo.settings(conn)
        return known_region(stored.get(PHONE_REGION, "")) or DEFAULT_REGION

    async def group_language(self) -> str:
        async with self.db.read() as conn:
            stored = await posts_repo.settings(conn)
        configured = self.settings.languages[0] if self.settings.languages else "en"
        return stored.get("language") or configured

    async def extra_keywords(self) -> dict[Intent, tuple[str, ...]]:
        async with self.db.read() as conn:
            text = (await repo.values(conn)).get("sms_keywords", "")
        try:
            return parse_keywords(text)
        except Invalid:
            return {}

    async def keywords(self) -> Keywords:
        return keywords_with(await self.extra_keywords(), await self.group_language())

    def webhook_url(self, provider: Provider) -> str:
        """Where the provider sends incoming texts (what to type into Twilio's console or
        the app)."""
        return f"{self.settings.base_url}/sms/{provider.value}"

    # -- changing -----------------------------------------------------------------------------
    @staticmethod
    def _require(by: User | None) -> None:
        if by is not None and not by.may(Permission.GROUP_SETTINGS):
            raise Forbidden(N_("Only coordinators can change the text message settings."))

    @staticmethod
    def _check_secret(value: str | None, field: str) -> None:
        if value is not None and (len(value) > SECRET_MAX
                                  or any(c in value for c in "\r\n\0")):
            raise Invalid(N_("That is too long or has line breaks."), field=field)

    async def save(self, by: User | None, *, provider: str, number: str, account: str,
                   api_url: str = "", allow_private: bool = False, secret: str | None = None,
                   signing_key: str | None = None) -> SmsSettings:
        """Check and store. ``secret`` / ``signing_key`` None or "" keep the one set."""
        self._require(by)
        checked = check_settings(provider=provider, number=number, account=account,
                                 api_url=api_url, allow_private=allow_private,
                                 region=await self.region(), dev=self.settings.dev)
        self._check_secret(secret, "secret")
        self._check_secret(signing_key, "signing_key")
        async with self.db.write() as conn:
            before = await repo.values(conn)
            fields = {"sms_provider": checked.provider.value if checked.provider else "",
                      "sms_number": checked.number, "sms_account": checked.account,
                      "sms_api_url": checked.api_url,
                      "sms_private_address": checked.private_address}
            changed = []
            for key, value in fields.items():
                if before.get(key, "") != value:
                    changed.append(Message(_FIELD_WORDS[key], {}))
                await repo.put_setting(conn, key, value or None)
            if secret:
                await repo.put_setting(conn, repo.SECRET_KEY, self._seal(secret))
                changed.append(Message(N_("password or token"), {}))
            if signing_key:
                await repo.put_setting(conn, repo.SIGNING_KEY, self._seal(signing_key))
                changed.append(Message(N_("signing key"), {}))
            if changed:
                await record(conn, by, AuditAction.SETTING_CHANGED, target_kind="setting",
                             target_id="sms",
                             summary=N_("changed the text message settings: {what}",
                                        what=Listed(changed, ", ")))
            await repo.retry_now(conn)
        self.signals.sms_wakeup.set()
        return await self.current()

    async def set_keywords(self, by: User | None, text: str) -> None:
        self._require(by)
        extra = parse_keywords(text)
        async with self.db.write() as conn:
            await repo.put_setting(conn, "sms_keywords", format_keywords(extra) or None)
            await record(conn, by, AuditAction.SETTING_CHANGED, target_kind="setting",
                         target_id="sms",
                         summary=N_("changed the words that make a text a need or an offer"))

    async def turn_off(self, by: User | None) -> None:
        """Forget the gateway and its secrets (texts already received stay; nothing is sent
        meanwhile)."""
        self._require(by)
        async with self.db.write() as conn:
            before = await repo.values(conn)
            for key in (*repo.SETTING_KEYS, repo.SECRET_KEY, repo.SIGNING_KEY):
                if key != "sms_keywords":
                    await repo.put_setting(conn, key, None)
            if before:
                await record(conn, by, AuditAction.SETTING_CHANGED, target_kind="setting",
                             target_id="sms", summary=N_("turned text messages off"))
