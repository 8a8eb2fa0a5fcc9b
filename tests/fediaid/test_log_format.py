"""JSON log lines (fediaid/logs.py) and the settings that choose them and the metrics token."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from fediaid import logs
from fediaid.config import load_settings, write_config
from fediaid.errors import ConfigError


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    out = io.StringIO()
    logs.configure("debug", "json")
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(out)
    try:
        yield out
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def test_one_json_object_per_line(captured: io.StringIO) -> None:
    log = logging.getLogger("fediaid.test")
    log.info("plain %s", "words")
    token = logs.request_id.set("abc123")
    try:
        log.warning("two\nlines, \"quoted\"")
    finally:
        logs.request_id.reset(token)
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("it failed")
    lines = captured.getvalue().splitlines()
    assert len(lines) == 3
    first, second, third = (json.loads(line) for line in lines)
    assert first["message"] == "plain words" and first["level"] == "info"
    assert first["logger"] == "fediaid.test" and "request_id" not in first
    assert first["time"].endswith("Z") and "T" in first["time"]
    assert second == {**second, "message": "two\nlines, \"quoted\"", "level": "warning",
                      "request_id": "abc123"}
    assert third["level"] == "error" and "ValueError: boom" in third["exception"]


def test_settings_choose_the_format_and_the_metrics_token(tmp_path: Path) -> None:
    write_config(tmp_path, domain="a.test", group="elm", name="Elm", dev=True)
    settings = load_settings(tmp_path, env={})
    assert (settings.log_format, settings.metrics_token) == ("text", "")
    settings = load_settings(tmp_path, env={"FEDIAID_LOG_FORMAT": "json",
                                            "FEDIAID_METRICS_TOKEN": "t0ken"})
    assert (settings.log_format, settings.metrics_token) == ("json", "t0ken")
    with pytest.raises(ConfigError, match="log_format"):
        load_settings(tmp_path, env={"FEDIAID_LOG_FORMAT": "xml"})
