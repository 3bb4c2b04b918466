"""Request and response bodies, with the title rules the API promises."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

TITLE_MAX_LENGTH = 200


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


Title = Annotated[str, AfterValidator(clean_title)]

# strict: "yes" is not a boolean and 5 is not a title; extra=forbid: a misspelt field is an
# error rather than a silent no-op.
_INPUT_CONFIG = ConfigDict(strict=True, extra="forbid")


class TaskCreate(BaseModel):
    model_config = _INPUT_CONFIG

    title: Title


class TaskUpdate(BaseModel):
    model_config = _INPUT_CONFIG

    title: Title | None = None
    done: bool | None = None

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
