"""Request and response bodies, with the title rules the API promises."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, WithJsonSchema, model_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

TITLE_MAX_LENGTH = 200

# Every character str.strip() removes (all of them are in the Basic Multilingual Plane).
STRIPPED_CHARACTERS = "".join(chr(code) for code in range(0x10000) if chr(code).isspace())


def _character_class(characters: str, negated: bool = False) -> str:
    """A regular expression class of these characters, consecutive ones as ranges.

    \\uXXXX escapes read the same in ECMA 262 (JSON Schema's dialect), Python and Rust.
    """
    codes = sorted(map(ord, characters))
    runs: list[list[int]] = []
    for code in codes:
        if runs and code == runs[-1][1] + 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    parts = [
        f"\\u{first:04x}" if first == last else f"\\u{first:04x}-\\u{last:04x}"
        for first, last in runs
    ]
    return f"[{'^' if negated else ''}{''.join(parts)}]"


def _title_pattern() -> str:
    """The title rule as a JSON Schema pattern, so that clients can check a title themselves.

    It accepts exactly what clean_title accepts: optional surrounding whitespace (what strip()
    removes), then 1 to 200 characters that start and end with a non-whitespace character,
    none of them NUL.
    """
    space = _character_class(STRIPPED_CHARACTERS)
    edge = _character_class(STRIPPED_CHARACTERS + "\x00", negated=True)
    inner = _character_class("\x00", negated=True)
    return f"^{space}*{edge}(?:{inner}{{0,{TITLE_MAX_LENGTH - 2}}}{edge})?{space}*$"


TITLE_PATTERN = _title_pattern()


def clean_title(value: str) -> str:
    """Trim the title and enforce 1..200 characters of text PostgreSQL can store."""
    title = value.strip()
    if not 1 <= len(title) <= TITLE_MAX_LENGTH:
        raise PydanticCustomError(
            "title_length",
            "title must be 1 to {max} characters long once surrounding spaces are trimmed",
            {"max": TITLE_MAX_LENGTH},
        )
    # JSON can carry both "\u0000" and lone surrogates ("\ud800"); neither can be stored in
    # a UTF-8 text column, and letting them through would turn bad input into a 500.
    if "\x00" in title or not _is_encodable(title):
        raise PydanticCustomError(
            "title_characters", "title must not contain NUL characters or lone surrogates"
        )
    return title


def _is_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


Title = Annotated[
    str,
    AfterValidator(clean_title),
    # The validator is Python code, invisible to the schema: publish the same rule.
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "pattern": TITLE_PATTERN,
            "description": f"Trimmed of surrounding whitespace, then 1 to {TITLE_MAX_LENGTH}"
            " characters, without NUL characters or lone surrogates.",
        }
    ),
]

# strict: "yes" is not a boolean and 5 is not a title; extra=forbid: a misspelt field is an
# error rather than a silent no-op.
_INPUT_CONFIG = ConfigDict(strict=True, extra="forbid")


class TaskCreate(BaseModel):
    model_config = _INPUT_CONFIG

    title: Title


def _update_schema(schema: dict[str, Any]) -> None:
    # An empty update is refused (422): the schema says so. A null is refused too, so the
    # internal default None is not published either: an absent field is left unchanged.
    schema["minProperties"] = 1
    for field_schema in schema["properties"].values():
        field_schema.pop("default", None)


class TaskUpdate(BaseModel):
    model_config = ConfigDict(**_INPUT_CONFIG, json_schema_extra=_update_schema)

    # None stands for "absent" and is never accepted from a client (see below): the schema
    # shows the field types without null.
    title: Title | SkipJsonSchema[None] = None
    done: bool | SkipJsonSchema[None] = None

    @model_validator(mode="before")
    @classmethod
    def reject_null_and_empty(cls, data: Any) -> Any:
        # None only stands for "absent" inside the API; an explicit null from a client is
        # more likely a bug than a wish to leave the field alone.
        if isinstance(data, dict):
            if not data:
                raise PydanticCustomError("empty_update", "give title and/or done to update")
            nulls = sorted(key for key, value in data.items() if value is None)
            if nulls:
                raise PydanticCustomError(
                    "null_field", "{fields} must not be null", {"fields": ", ".join(nulls)}
                )
        return data


class Task(BaseModel):
    id: int
    title: str
    done: bool


class Health(BaseModel):
    status: str
    database: str


class ErrorMessage(BaseModel):
    detail: str
