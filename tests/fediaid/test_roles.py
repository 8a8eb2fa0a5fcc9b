"""Roles: the permission table (pure), the admin made by init and by the migration, role
changes at once (one coordinator, the operator) and with a second coordinator (proposal,
approval by another, self-approval refused, expiry)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from fediaid.domain.actors import Role
from fediaid.domain.roles import (
    PERMISSIONS,
    PROPOSAL_TTL,
    Permission,
    ProposalState,
    RoleProposal,
    change_problem,
    decision_problem,
    may,
    needs_second,
)
from fediaid.domain.users import User
from fediaid.errors import Conflict, Forbidden, Invalid, NotFound
from fediaid.services.runtime import Runtime
from fediaid.storage.engine import Database
from fediaid.storage.migrate import downgrade, upgrade
from fediaid.storage.tables import audit_log, role_proposals, users
from fediaid.storage.types import utcnow

# -- the table (pure) ----------------------------------------------------------------------


def test_every_permission_has_a_least_role() -> None:
    assert set(PERMISSIONS) == set(Permission)


@pytest.mark.parametrize("permission", list(Permission))
def test_higher_roles_may_what_lower_roles_may(permission: Permission) -> None:
    allowed = [may(r, permission) for r in (Role.MEMBER, Role.COORDINATOR, Role.ADMIN)]
    assert allowed == sorted(allowed)  # False... then True...
    assert may(Role.ADMIN, permission)


def test_what_each_role_may() -> None:
    assert may(Role.MEMBER, Permission.READ_AUDIT)
    for p in (Permission.MODERATE, Permission.INTAKE, Permission.CHANGE_ROLES,
              Permission.DOMAINS, Permission.GROUP_SETTINGS, Permission.ACCOUNTS):
        assert not may(Role.MEMBER, p) and may(Role.COORDINATOR, p)
    for p in (Permission.GRANT_ADMIN, Permission.INSTANCE_SETTINGS,
              Permission.SECURE_SETTINGS):
        assert not may(Role.COORDINATOR, p) and may(Role.ADMIN, p)


def test_users_ask_the_table() -> None:
    now = utcnow()
    admin = User(1, 1, "ana", Role.ADMIN, True, False, now)
    assert admin.is_coordinator and admin.is_admin and admin.may(Permission.GRANT_ADMIN)
    coord = User(2, 2, "bo", Role.COORDINATOR, True, False, now)
    assert coord.is_coordinator and not coord.may(Permission.GRANT_ADMIN)
    member = User(3, 3, "cy", Role.MEMBER, True, False, now)
    assert not member.is_coordinator and member.may(Permission.READ_AUDIT)
    disabled = User(4, 4, "di", Role.ADMIN, True, True, now)
    assert not disabled.may(Permission.READ_AUDIT)


def test_change_rules() -> None:
    assert change_problem(Role.COORDINATOR, Role.MEMBER, Role.COORDINATOR, admins=1) is None
    assert "Only an admin" in (change_problem(Role.COORDINATOR, Role.MEMBER, Role.ADMIN,
                                              admins=1) or "")
    assert "Only an admin" in (change_problem(Role.COORDINATOR, Role.ADMIN, Role.MEMBER,
                                              admins=2) or "")
    assert "only admin" in (change_problem(Role.ADMIN, Role.ADMIN, Role.MEMBER, admins=1)
                            or "")
    assert "only admin" in (change_problem(None, Role.ADMIN, Role.MEMBER, admins=1) or "")
    assert change_problem(None, Role.MEMBER, Role.ADMIN, admins=1) is None
    assert "already" in (change_problem(Role.ADMIN, Role.MEMBER, Role.MEMBER, admins=1) or "")


def test_second_coordinator_setting() -> None:
    assert not needs_second(None, 1) and not needs_second("1", 1)  # nobody to approve
    assert needs_second(None, 2) and needs_second("1", 3)
    assert not needs_second("0", 3)


def test_decisions() -> None:
    now = utcnow()
    p = RoleProposal(1, 5, "sam", Role.MEMBER, Role.COORDINATOR, 2, "bo",
                     ProposalState.PENDING, now, now + PROPOSAL_TTL, None, None)
    assert decision_problem(p, 3, Role.COORDINATOR, now, approve=True) is None
    assert "Another coordinator" in (decision_problem(p, 2, Role.COORDINATOR, now,
                                                      approve=True) or "")
    assert decision_problem(p, 2, Role.COORDINATOR, now, approve=False) is None  # take back
    assert "expired" in (decision_problem(p, 3, Role.COORDINATOR, now + PROPOSAL_TTL,
                                          approve=True) or "")


# -- with a database -----------------------------------------------------------------------

async def _audit_rows(rt: Runtime) -> list[tuple[str, str]]:
    async with rt.db.read() as conn:
        rows = await conn.execute(select(audit_log.c.action, audit_log.c.summary)
                                  .order_by(audit_log.c.id))
        return [(r[0], r[1]) for r in rows]


async def test_init_makes_the_first_coordinator_admin(runtime: Runtime) -> None:
    admin = await runtime.accounts.get_user("admin")
    assert admin.role is Role.ADMIN and admin.is_coordinator


async def test_migration_makes_the_lowest_id_coordinator_admin(db_url: str) -> None:
    db = Database(db_url)
    try:
        await upgrade(db)
        await downgrade(db, "0011")  # before the admin role (0012)
        async with db.write() as conn:
            from fediaid.storage.tables import actors

            for i, (name, role) in enumerate((("mia", "member"), ("first", "coordinator"),
                                              ("second", "coordinator")), start=1):
                await conn.execute(actors.insert().values(
                    id=i, uri=f"https://a.test/users/{name}", type="Person", username=name,
                    domain="a.test", local=True, manually_approves_followers=False,
                    updated_at=utcnow(),
                    created_at=utcnow()))
                await conn.execute(users.insert().values(
                    id=i, actor_id=i, username=name, role=role, disabled=False,
                    created_at=utcnow()))
        await upgrade(db)
        async with db.read() as conn:
            roles = dict((await conn.execute(select(users.c.username, users.c.role))).all())
        assert roles == {"mia": "member", "first": "admin", "second": "coordinator"}
    finally:
        await db.dispose()


async def test_one_coordinator_changes_a_role_at_once(runtime: Runtime) -> None:
    admin = await runtime.accounts.get_user("admin")
    await runtime.accounts.create_user("sam")
    before = len(await _audit_rows(runtime))
    change = await runtime.roles.change(admin, "sam", Role.COORDINATOR)
    assert change.applied
    assert (await runtime.accounts.get_user("sam")).role is Role.COORDINATOR
    rows = (await _audit_rows(runtime))[before:]
    assert rows == [("role_changed", "made sam a coordinator (was a member)")]


async def test_two_coordinators_need_a_second_one(runtime: Runtime) -> None:
    admin = await runtime.accounts.get_user("admin")
    bo = await runtime.accounts.create_user("bo", role=Role.COORDINATOR)
    await runtime.accounts.create_user("sam")
    assert await runtime.roles.second_needed()
    before = len(await _audit_rows(runtime))

    change = await runtime.roles.change(bo, "sam", Role.COORDINATOR)
    assert not change.applied and change.proposal is not None
    assert (await runtime.accounts.get_user("sam")).role is Role.MEMBER
    with pytest.raises(Conflict):  # one waiting change per account
        await runtime.roles.change(admin, "sam", Role.COORDINATOR)
    # The proposer cannot approve it; nothing is written for the refusal.
    with pytest.raises(Forbidden, match="Another coordinator"):
        await runtime.roles.decide(bo, change.proposal.id, approve=True)
    assert (await runtime.accounts.get_user("sam")).role is Role.MEMBER
    # A member cannot either.
    sam = await runtime.accounts.get_user("sam")
    with pytest.raises(Forbidden):
        await runtime.roles.decide(sam, change.proposal.id, approve=True)

    decided = await runtime.roles.decide(admin, change.proposal.id, approve=True)
    assert decided.state is ProposalState.APPROVED and decided.decided_by == admin.id
    assert (await runtime.accounts.get_user("sam")).role is Role.COORDINATOR
    with pytest.raises(Invalid, match="already decided"):
        await runtime.roles.decide(admin, change.proposal.id, approve=False)
    assert (await _audit_rows(runtime))[before:] == [
        ("role_proposed", "proposed making sam a coordinator (now a member); it waits for a "
                          "second coordinator"),
        ("role_changed", "approved bo's proposal of making sam a coordinator (was a member)"),
    ]


async def test_rejecting_and_taking_back(runtime: Runtime) -> None:
    admin = await runtime.accounts.get_user("admin")
    bo = await runtime.accounts.create_user("bo", role=Role.COORDINATOR)
    await runtime.accounts.create_user("sam")
    p1 = (await runtime.roles.change(bo, "sam", Role.COORDINATOR)).proposal
    assert p1 is not None
    await runtime.roles.decide(admin, p1.id, approve=False)
    p2 = (await runtime.roles.change(bo, "sam", Role.COORDINATOR)).proposal
    assert p2 is not None
    await runtime.roles.decide(bo, p2.id, approve=False)  # the proposer takes it back
    assert (await runtime.accounts.get_user("sam")).role is Role.MEMBER
    actions = [a for a, _ in await _audit_rows(runtime)]
    assert actions[-2:] == ["role_proposed", "role_rejected"]
    summaries = [s for _, s in await _audit_rows(runtime)]
    assert "rejected bo's proposal of making sam a coordinator" in summaries
    assert "took back their proposal of making sam a coordinator" in summaries


async def test_proposals_expire_after_seven_days(runtime: Runtime) -> None:
    admin = await runtime.accounts.get_user("admin")
    bo = await runtime.accounts.create_user("bo", role=Role.COORDINATOR)
    await runtime.accounts.create_user("sam")
    p = (await runtime.roles.change(bo, "sam", Role.COORDINATOR)).proposal
    assert p is not None
    async with runtime.db.write() as conn:
        await conn.execute(update(role_proposals).where(role_proposals.c.id == p.id).values(
            created_at=utcnow() - timedelta(days=8), expires_at=utcnow() - timedelta(days=1)))
    assert await runtime.roles.pending(admin) == []
    with pytest.raises(Invalid, match="expired"):
        await runtime.roles.decide(admin, p.id, approve=True)
    assert (await runtime.accounts.get_user("sam")).role is Role.MEMBER
    assert await runtime.roles.expire() == 1
    # A new proposal may be made now.
    assert (await runtime.roles.change(bo, "sam", Role.COORDINATOR)).proposal is not None


async def test_admin_rules_and_the_setting(runtime: Runtime) -> None:
    admin = await runtime.accounts.get_user("admin")
    bo = await runtime.accounts.create_user("bo", role=Role.COORDINATOR)
    with pytest.raises(Invalid, match="Only an admin"):
        await runtime.roles.change(bo, "admin", Role.MEMBER)
    with pytest.raises(Invalid, match="Only an admin"):
        await runtime.roles.change(bo, "bo", Role.ADMIN)
    with pytest.raises(Forbidden):  # a secure setting: admins only
        await runtime.group_settings.update(bo, {"role_changes_need_second": "0"})
    await runtime.group_settings.update(admin, {"role_changes_need_second": "0"})
    assert not await runtime.roles.second_needed()
    assert (await runtime.roles.change(admin, "bo", Role.MEMBER)).applied
    rows = await _audit_rows(runtime)
    assert rows[-2:] == [
        ("setting_changed", "changed the group's settings: role changes need a second "
                            "coordinator: no"),
        ("role_changed", "made bo a member (was a coordinator)")]


async def test_the_operator_changes_at_once_and_is_named(runtime: Runtime) -> None:
    await runtime.accounts.create_user("bo", role=Role.COORDINATOR)
    await runtime.accounts.create_user("sam")
    assert await runtime.roles.second_needed()
    assert (await runtime.roles.change(None, "sam", Role.ADMIN)).applied
    assert (await runtime.accounts.get_user("sam")).role is Role.ADMIN
    async with runtime.db.read() as conn:
        row = (await conn.execute(select(audit_log).order_by(audit_log.c.id.desc()))).first()
    assert row is not None and row.actor_user_id is None
    assert row.actor_label == "the server operator (command line)"
    with pytest.raises(NotFound):
        await runtime.roles.change(None, "nobody_here", Role.ADMIN)


def test_cli_changes_a_role_at_once_and_it_is_logged(tmp_path: Path) -> None:
    from tests.fediaid.test_cli import _run

    data = tmp_path / "inst"
    assert _run(["--data", str(data), "init", "--domain", "a.test", "--group", "elm",
                 "--dev"], tmp_path).returncode == 0
    for name, flag in (("bo", ["--coordinator"]), ("sam", [])):
        r = _run(["--data", str(data), "admin", "create-user", name, *flag], tmp_path)
        assert r.returncode == 0, r.stderr
    # Two coordinators, yet the operator's change applies at once.
    r = _run(["--data", str(data), "admin", "role", "sam", "coordinator"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "sam is now a coordinator." in r.stdout
    r = _run(["--data", str(data), "admin", "role", "admin", "member"], tmp_path)
    assert r.returncode != 0 and "only admin" in r.stderr

    async def check() -> list[tuple[str, str]]:
        db = Database(f"sqlite+aiosqlite:///{data / 'fediaid.db'}")
        try:
            async with db.read() as conn:
                roles = dict((await conn.execute(select(users.c.username, users.c.role))).all())
                log = (await conn.execute(select(audit_log.c.actor_label, audit_log.c.summary)
                                          .order_by(audit_log.c.id))).all()
        finally:
            await db.dispose()
        assert roles == {"admin": "admin", "bo": "coordinator", "sam": "coordinator"}
        return [(a, s) for a, s in log]

    log = asyncio.run(check())
    assert log[-1] == ("the server operator (command line)",
                       "made sam a coordinator (was a member)")
