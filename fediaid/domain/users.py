"""Local user accounts as the rest of the application sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fediaid.domain.actors import Role


@dataclass(frozen=True)
class User:
    id: int
    actor_id: int
    username: str
    role: Role
    has_password: bool
    disabled: bool
    created_at: datetime

    @property
    def is_coordinator(self) -> bool:
        return self.role is Role.COORDINATOR
