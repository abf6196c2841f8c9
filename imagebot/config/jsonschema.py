"""Print the config file's JSON schema (`python -m imagebot.config.jsonschema`).

`config/imagebot.schema.json` is this output; a test fails when the two differ.
"""

from __future__ import annotations

import json

from imagebot.config.schema import Config


def schema() -> dict[str, object]:
    doc = Config.model_json_schema(by_alias=True)
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    doc["$id"] = "https://imagebot.io/schema/config.json"
    doc["title"] = "imagebot configuration"
    return doc


def render() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
