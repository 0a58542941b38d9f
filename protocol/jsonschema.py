"""Generate protocol/schemas/*.json from the models (``python -m protocol.jsonschema``).

The files are checked in so that people and other languages can read the
contract; a test fails when they no longer match the models.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from protocol.events import EVENT_TYPES
from protocol.messages import MESSAGE_TYPES

SCHEMA_DIR = Path(__file__).parent / "schemas"


def render_schemas() -> dict[str, str]:
    """File name → file text, for every event type and message."""
    models: dict[str, type[BaseModel]] = {f"event.{n}": m for n, m in EVENT_TYPES.items()}
    models.update(MESSAGE_TYPES)
    rendered = {}
    for name, model in sorted(models.items()):
        schema = model.model_json_schema(mode="validation")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"masar/v1/{name}.json"
        rendered[f"{name}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return rendered


def write_schemas(directory: Path = SCHEMA_DIR) -> list[str]:
    """Write the schemas; return the names of files that changed."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    wanted = render_schemas()
    for name, text in wanted.items():
        path = directory / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed.append(name)
    for stale in directory.glob("*.json"):
        if stale.name not in wanted:
            stale.unlink()
            changed.append(stale.name)
    return changed


def stale_schemas(directory: Path = SCHEMA_DIR) -> list[str]:
    """Names of schema files that differ from what the models generate."""
    wanted = render_schemas()
    stale = [
        name
        for name, text in wanted.items()
        if not (directory / name).exists() or (directory / name).read_text() != text
    ]
    stale += [p.name for p in directory.glob("*.json") if p.name not in wanted]
    return sorted(stale)


if __name__ == "__main__":
    for name in write_schemas():
        print(f"wrote {SCHEMA_DIR / name}")
    sys.exit(0)
