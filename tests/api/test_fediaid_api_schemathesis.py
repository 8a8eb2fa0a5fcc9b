"""Schemathesis against the served ``/api/fediaid/v1/openapi.json``, in process, on each
backend: for every operation, inputs that fit the document and inputs that break it; no
answer may be a 5xx, and every answer must be one the document describes (status, content
type, headers, body schema).

Schemathesis drives ASGI apps from its own event-loop thread, so the instance is opened
there, in the app's lifespan (``Instance``), rather than by the async ``runtime`` fixture.
Bounded and derandomized: at most 160 examples per backend, a few seconds each.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.python.asgi import shutdown_lifespans

from api.app import create_app
from api.fediaid_api.openapi import DOCUMENT
from fediaid.domain.actors import Role
from fediaid.services.posts import Intake
from fediaid.services.runtime import Runtime
from tests.support.instances import open_initialised_runtime

SCHEMA_PATH = "/api/fediaid/v1/openapi.json"
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance,
          content_type_conformance, response_headers_conformance]
EXAMPLES = {GenerationMode.POSITIVE: 5, GenerationMode.NEGATIVE: 3}


class Instance:
    """An ASGI app that opens an initialised, seeded instance at lifespan startup (in the
    event loop that will serve it) and closes it at shutdown."""

    def __init__(self, db_url: str, data: Path) -> None:
        self.db_url = db_url
        self.data = data
        self.rt: Runtime | None = None
        self.app: Any = None
        self.token = ""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.rt = await open_initialised_runtime(self.data, self.db_url)
                self.token = await seed(self.rt)
                self.app = create_app(self.rt)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.rt is not None:
                    await self.rt.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def seed(rt: Runtime) -> str:
    """A few of everything, so that small ids name real posts, answers and conversations;
    returns a read+write token of the coordinator, who can reach every operation."""
    admin = await rt.accounts.get_user("admin")
    maria = await rt.accounts.create_user("maria")
    sam = await rt.accounts.create_user("sam", role=Role.MEMBER)
    need = await rt.posts.create(admin, {"kind": "need", "title": "Rides to the clinic",
                                         "quantity": 3, "unit": "rides"})
    await rt.posts.create(maria, {"kind": "offer", "title": "Soup on Sundays",
                                  "visibility": "members"})
    await rt.posts.create(maria, {"kind": "need", "title": "Help with rent"},
                          as_neighbor=True)
    await rt.posts.create(admin, {"kind": "need", "title": "Groceries for Mrs K"},
                          intake=Intake(name="Mrs K", callback="hotline", notes=None))
    answer = await rt.responses.respond(sam, need.id, message="I can drive", quantity=2)
    conv = await rt.responses.accept(admin, answer.id)
    await rt.responses.send(sam, conv.id, "Tuesday at 9?")
    return await rt.accounts.create_token("admin", scopes=["read", "write"])


# Inputs that reach bugs in the services, reported and pinned by the strict-xfail tests at the
# end of test_fediaid_api.py. The fuzzing steps around exactly these until the services are
# fixed (those tests will then XPASS, fail, and say that these lines should go).


def run_operation(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES[mode], derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate, Phase.shrink],
              suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise
        # Nothing to break: the operation takes no parameters and no body.


def test_no_input_breaks_the_api_and_every_answer_is_documented(db_url: str,
                                                                 tmp_path: Path) -> None:
    instance = Instance(db_url, tmp_path)
    try:
        schema = schemathesis.openapi.from_asgi(SCHEMA_PATH, instance)
        headers = {"Authorization": f"Bearer {instance.token}"}
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) == 21  # with GET /audit
        for operation in operations:
            for mode in EXAMPLES:
                run_operation(operation, mode, headers)
    finally:
        shutdown_lifespans()


def test_the_document_is_valid_openapi_3_1() -> None:
    schema = schemathesis.openapi.from_dict(copy.deepcopy(DOCUMENT))
    schema.validate()  # against the OpenAPI 3.1 meta-schema
    assert schema.raw_schema["openapi"] == "3.1.0"
