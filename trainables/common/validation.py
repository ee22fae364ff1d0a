"""Type-check parsed YAML/JSON against dataclasses with pydantic; one-line UserErrors.

Validation runs in pydantic's strict JSON mode: "3" is not an integer, 3.0 is not an integer,
"yes" is not a boolean, a string is not a list, NaN and infinities are not numbers, unknown
keys are refused where the dataclass says so (``__pydantic_config__``). pydantic is imported
when something is validated, not when the CLI starts.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any, TypeVar

from trainables.common.errors import ConfigError, UserError

if TYPE_CHECKING:
    from pydantic import TypeAdapter, ValidationError

T = TypeVar("T")
STRICT: dict[str, Any] = {"strict": True, "extra": "forbid", "allow_inf_nan": False}
PHRASES = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "dataclass_type": "must be a mapping",
    "missing": "is missing",
    "missing_argument": "is missing",
    "unexpected_keyword_argument": "is not a known setting",
    "extra_forbidden": "is not a known setting",
    "none_required": "must be empty (null)",
}
BOUNDS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}
NO_INPUT = {"missing", "missing_argument", "unexpected_keyword_argument", "extra_forbidden"}
MAX_SHOWN = 60


@functools.cache
def _adapter(kind: type) -> TypeAdapter:
    from pydantic import TypeAdapter

    return TypeAdapter(kind)


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def _phrase(kind: str, error: Any) -> str:
    """What is wrong, in the words of the project's other one-line errors."""
    if kind in BOUNDS:
        key, sign = BOUNDS[kind]
        return f"must be {sign} {error['ctx'][key]}"
    if kind == "literal_error":
        return f"must be one of {error['ctx']['expected']}"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    return PHRASES.get(kind, error["msg"].lower())


def describe(exc: ValidationError) -> str:
    """The first problem of a pydantic ValidationError as one line: ``where what, got value``."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    kind = first["type"]
    if kind == "json_invalid":
        return "not valid JSON (" + " ".join(str(first["ctx"].get("error", "")).split()) + ")"
    where = _location(first["loc"])
    what = _phrase(kind, first)
    text = f"{where} {what}" if where else what
    if kind not in NO_INPUT:
        text += f", got {_shown(first.get('input'))}"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more problem(s))"
    return " ".join(text.split())


def validated(kind: type[T], raw: Any, source: str, error: type[UserError] = ConfigError) -> T:
    """``raw`` (plain YAML/JSON data) as a ``kind`` instance; ``error`` naming ``source`` if not.

    ``raw`` goes through JSON first so that strict mode accepts mappings for dataclasses.
    """
    try:
        text = json.dumps(raw, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise error(f"{source}: holds a value that is not plain data ({exc})") from None
    return validated_json(kind, text, source, error)


def validated_json(
    kind: type[T], text: str | bytes, source: str, error: type[UserError] = ConfigError
) -> T:
    """JSON ``text`` (a file's bytes: any encoding error is reported too) as a ``kind``."""
    from pydantic import ValidationError

    try:
        return _adapter(kind).validate_json(text, strict=True)
    except ValidationError as exc:
        raise error(f"{source}: {describe(exc)}" if source else describe(exc)) from None
