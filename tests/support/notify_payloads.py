"""Each notification service's payload schema, written from its documentation (the files in
notify_schemas/ cite their sources); imagebot's own webhook schema is published in docs/."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

SCHEMAS = Path(__file__).resolve().parent / "notify_schemas"
WEBHOOK_SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "notifications-webhook.schema.json"


def schema(name: str) -> dict:
    path = WEBHOOK_SCHEMA if name == "webhook" else SCHEMAS / f"{name}.json"
    return json.loads(path.read_text())


def validate(name: str, body: object) -> None:
    jsonschema.validate(body, schema(name), format_checker=jsonschema.FormatChecker())
