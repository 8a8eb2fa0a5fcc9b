"""Creating a new instance: the instance actor, the group actor and the first coordinator."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from activitypub.keys import generate_rsa_keypair
from fediaid.domain.actors import INSTANCE_ACTOR_USERNAME, ActorType, Role, validate_username
from fediaid.domain.group_profile import DEFAULT_DESCRIPTION
from fediaid.errors import Conflict, Invalid
from fediaid.i18n import Message
from fediaid.storage import actors as actors_repo

if TYPE_CHECKING:
    from fediaid.services.runtime import Runtime


async def initialise(rt: Runtime, *, group_name: str, coordinator: str) -> str:
    """Create the instance's actors and first coordinator (the admin); return a one-time
    login link."""
    settings = rt.settings
    problem = validate_username(settings.group_slug)
    if problem:
        raise Invalid(f"Group name for addresses: {problem}", field="group")
    async with rt.db.read() as conn:
        if await actors_repo.find_local(conn, settings.group_slug):
            raise Conflict("This database already holds an instance.")
    keys = await asyncio.gather(
        asyncio.to_thread(generate_rsa_keypair), asyncio.to_thread(generate_rsa_keypair)
    )
    async with rt.db.write() as conn:
        for (type_, username, name, summary), pair in zip(
            [
                (ActorType.APPLICATION, INSTANCE_ACTOR_USERNAME, settings.domain,
                 "The server itself; it signs requests for the group."),
                (ActorType.GROUP, settings.group_slug, group_name,
                 str(Message(DEFAULT_DESCRIPTION, {"group": group_name}))),
            ],
            keys,
            strict=True,
        ):
            urls = rt.urls.actor_urls(type_, username)
            await actors_repo.create_local(
                conn, uri=urls["uri"], type_=type_, username=username,
                domain=settings.domain, name=name, summary=summary, urls=urls,
                key_id=urls["key_id"], public_key_pem=pair.public_pem,
                private_key_pem=pair.private_pem,
            )
    await rt.load_identity()
    await rt.accounts.create_user(coordinator, role=Role.ADMIN)
    return await rt.accounts.login_link(coordinator)
