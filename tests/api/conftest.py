from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from api.app import create_app
from fediaid.services.runtime import Runtime


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=runtime.settings.base_url) as c:
        yield c
