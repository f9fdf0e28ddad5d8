"""The JSON files named on a plugin's command line (``--config``, ``--state``), checked
before the SDK reads them: the SDK answers a missing, broken or non-object file with a
traceback; the plugins answer with one line naming the file and the fix."""

from __future__ import annotations

import json


def flag_values(argv: list[str], flag: str) -> list[str]:
    """Every value of ``flag`` in ``argv``, as ``--flag value`` or ``--flag=value``;
    ``ENV`` (the SDK's "settings from the environment") is not a file and is left out."""
    values = [value for name, value in zip(argv, argv[1:], strict=False) if name == flag]
    values += [arg.partition("=")[2] for arg in argv if arg.startswith(f"{flag}=")]
    return [value for value in values if value != "ENV"]


def json_object_problem(path: str) -> str | None:
    """Why the file is not a JSON object (unreadable, not JSON, another JSON type), or None."""
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except OSError as problem:
        return f"cannot read it ({problem.strerror or type(problem).__name__})"
    except ValueError as problem:
        return f"not valid JSON ({problem})"
    if isinstance(data, dict):
        return None
    return f"a JSON {type(data).__name__}, not an object"
