"""The base of every config model: unknown keys are errors, values are frozen, and a boolean is never a number."""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError


def _is_number(annotation: Any) -> bool:
    """``int``, ``float`` or an optional / union of them (``bool`` aside, which pydantic would coerce to 1)."""
    if annotation in (int, float):
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        members = [member for member in get_args(annotation) if member is not type(None)]
        return bool(members) and all(member in (int, float) for member in members)
    return False


class StrictModel(BaseModel):
    """Config and stage parameters: ``--set batch_size=true`` is refused, not read as 1."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and _is_number(field.annotation):
            raise PydanticCustomError("bool_number", "Input should be a number, not a boolean")
        return value
