"""Response classes shared by the HTTP surfaces."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse

from activitypub.vocab import ACTIVITY_JSON, JRD_JSON


class FastJSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ActivityJSON(FastJSON):
    media_type = ACTIVITY_JSON


class JRD(FastJSON):
    media_type = JRD_JSON


CORS = {"Access-Control-Allow-Origin": "*", "Vary": "Accept, Origin"}
