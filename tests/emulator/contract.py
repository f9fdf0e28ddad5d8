"""The discovery document as a test oracle: methods by id, and JSON Schemas of responses."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import googleapiclient

DISCOVERY_PATH = (
    Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "gmail.v1.json"
)


@functools.cache
def document() -> dict:
    return json.loads(DISCOVERY_PATH.read_text())


@functools.cache
def methods() -> dict[str, dict]:
    found: dict[str, dict] = {}

    def walk(resources: dict) -> None:
        for resource in resources.values():
            for method in resource.get("methods", {}).values():
                found[method["id"]] = method
            walk(resource.get("resources", {}))

    walk(document()["resources"])
    return found


def _convert(schema: dict) -> dict:
    """Discovery schema -> JSON Schema, strict: no property the contract does not declare."""
    if "$ref" in schema:
        return {"$ref": f"#/definitions/{schema['$ref']}"}
    kind = schema.get("type")
    fmt = schema.get("format")
    if kind == "object":
        out: dict = {"type": "object"}
        if "properties" in schema:
            out["properties"] = {k: _convert(v) for k, v in schema["properties"].items()}
            out["additionalProperties"] = False
        if "additionalProperties" in schema:
            out["additionalProperties"] = _convert(schema["additionalProperties"])
        return out
    if kind == "array":
        return {"type": "array", "items": _convert(schema.get("items", {}))}
    if kind == "string":
        out = {"type": "string"}
        if fmt in ("int64", "uint64"):
            out["pattern"] = r"^-?[0-9]+$"
        if "enum" in schema:
            out["enum"] = schema["enum"]
        return out
    if kind == "integer":
        out = {"type": "integer"}
        if fmt and fmt.startswith("uint"):
            out["minimum"] = 0
        return out
    if kind in ("boolean", "number"):
        return {"type": kind}
    return {}


@functools.cache
def response_schema(method_id: str) -> dict | None:
    ref = methods()[method_id].get("response", {}).get("$ref")
    if ref is None:
        return None
    definitions = {name: _convert(s) for name, s in document()["schemas"].items()}
    return {"$ref": f"#/definitions/{ref}", "definitions": definitions}
