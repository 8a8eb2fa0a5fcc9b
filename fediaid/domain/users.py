"""Local user accounts as the rest of the application sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fediaid.domain.actors import Role
from fediaid.domain.roles import Permission, coordinates, may


@dataclass(frozen=True)
class User:
    id: int
    actor_id: int
    username: str
    role: Role
    has_password: bool
    disabled: bool
    created_at: datetime
    # The member's own language (a catalog's code) and time zone (an IANA name) for pages;
    # None: chosen for them (fediaid/i18n.py, docs/languages.md).
    language: str | None = None
    time_zone: str | None = None

    @property
    def is_coordinator(self) -> bool:
        """A coordinator or an admin (fediaid/domain/roles.py)."""
        return coordinates(self.role)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def may(self, permission: Permission) -> bool:
        """The one permission table (fediaid/domain/roles.py); disabled accounts may not."""
        return not self.disabled and may(self.role, permission)
