"""The hotline shift (``/admin/hotline``): calls to return (voicemails, missed calls and
texts a coordinator notes down), and the callback list (needs taken for a neighbor by phone
or by text that got answers the neighbor must be told about, with "told them").

The numbers of calls to return are for coordinators only. A returned call is forgotten a
week later; one never returned, after the group's retention window. The callback list shows
no number: the number is in the intake record, whose opening is in the group's log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from fediaid.domain.audit import AuditAction
from fediaid.domain.roles import Permission
from fediaid.domain.sms import normal_number, shown_number
from fediaid.domain.users import User
from fediaid.errors import Forbidden, Invalid, NotFound
from fediaid.i18n import N_
from fediaid.services.audit import record
from fediaid.services.core import Core, Service
from fediaid.storage import hotline as repo
from fediaid.storage.hotline import Call, Callback
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from fediaid.services.sms_settings import SmsSettingsService

KINDS = {"voicemail": N_("Voicemail"), "missed": N_("Missed call"),
         "text": N_("Text to the hotline"), "call": N_("Asked to be called back")}
KEEP_RETURNED = timedelta(days=7)
SHOW_RETURNED = timedelta(hours=24)
NAME_MAX = 128
NOTE_MAX = 1000


@dataclass(frozen=True)
class CallItem:
    call: Call
    number: str  # as people read it


class HotlineService(Service):
    def __init__(self, core: Core, *, sms_settings: SmsSettingsService) -> None:
        super().__init__(core)
        self.sms_settings = sms_settings

    @staticmethod
    def _require(user: User) -> None:
        if not user.may(Permission.INTAKE):
            raise Forbidden(N_("Only coordinators can see the hotline's calls."))

    async def note_call(self, user: User, *, number: str, name: str = "", note: str = "",
                        kind: str = "voicemail") -> int:
        self._require(user)
        if kind not in KINDS:
            raise Invalid(N_("Choose what kind of call it was."), field="kind")
        e164 = normal_number(number, await self.sms_settings.region())
        name, note = (name or "").strip(), (note or "").strip()
        if len(name) > NAME_MAX:
            raise Invalid(N_("A name can be at most {n} characters.", n=NAME_MAX),
                          field="name")
        if len(note) > NOTE_MAX:
            raise Invalid(N_("A note can be at most {n} characters.", n=NOTE_MAX),
                          field="note")
        async with self.db.write() as conn:
            return await repo.add_call(conn, number=e164, name=name, note=note, kind=kind,
                                       user_id=user.id)

    async def calls(self, user: User) -> list[CallItem]:
        self._require(user)
        async with self.db.read() as conn:
            found = await repo.calls(conn, returned_since=utcnow() - SHOW_RETURNED)
        return [CallItem(c, shown_number(c.number)) for c in found]

    async def returned(self, user: User, call_id: int) -> None:
        self._require(user)
        async with self.db.write() as conn:
            if not await repo.mark_returned(conn, call_id, user.id):
                raise NotFound(N_("No call to return with that number."))

    async def forget(self, user: User, call_id: int) -> None:
        self._require(user)
        async with self.db.write() as conn:
            if not await repo.delete_call(conn, call_id):
                raise NotFound(N_("No call with that number."))

    async def callbacks(self, user: User) -> list[Callback]:
        self._require(user)
        async with self.db.read() as conn:
            return await repo.callbacks(conn)

    async def told(self, user: User, post_id: int) -> None:
        """The neighbor was told about the answers so far (new ones bring it back)."""
        self._require(user)
        async with self.db.write() as conn:
            if not await repo.told(conn, post_id):
                raise NotFound(N_("No intake record for that post."))
            await record(conn, user, AuditAction.NEIGHBOR_TOLD, target_kind="post",
                         target_id=post_id,
                         summary=N_("told the neighbor of post #{id} about its answers",
                                    id=post_id))

    async def purge(self, now: datetime, retention: timedelta) -> int:
        async with self.db.write() as conn:
            return await repo.purge_calls(conn, returned_before=now - KEEP_RETURNED,
                                          noted_before=now - retention)
