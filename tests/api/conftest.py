from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from api.app import create_app
from fediaid.services.runtime import Runtime
from tests.conformance import mastodon as conformance


@pytest.fixture
async def client(runtime: Runtime,
                 request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime)
    conformance.note_routes(app)
    conformance.COVERAGE.modules.add(request.module.__file__)
    # Every Mastodon client API response is checked against Mastodon's schema
    # (tests/conformance/README.md); a mismatch fails the request that got it.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=runtime.settings.base_url,
                                 event_hooks={"response": [conformance.check_response]}) as c:
        yield c
