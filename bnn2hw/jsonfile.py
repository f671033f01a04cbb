"""JSON files bnn2hw reads back (``verify.json``, ``estimates.json``, ``io_spec.json``, ...).

Contract: ``read_json(path, error)`` returns the parsed object of an existing file, or raises
``error`` (the calling stage's exception class) naming the file when it cannot be read, is not
JSON, or is not a JSON object. ``read_json_if_present(path, error)`` returns ``{}`` for a missing
file. Imports nothing from bnn2hw, so every stage may use it.
"""

from __future__ import annotations

import json
from pathlib import Path


def read_json(path, error: type[Exception] = ValueError) -> dict:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as err:
        raise error(f"{path}: cannot read: {err.strerror or err}") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise error(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise error(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def read_json_if_present(path, error: type[Exception] = ValueError) -> dict:
    return read_json(path, error) if Path(path).is_file() else {}
