"""Base for all config models: unknown keys are errors that suggest the closest valid key."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["StrictModel"]


class StrictModel(BaseModel):
    """A pydantic model that forbids extra keys and names the closest valid one."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @model_validator(mode="before")
    @classmethod
    def _suggest_closest_key(cls, data: Any) -> Any:
        if isinstance(data, dict):
            valid = set(cls.model_fields)
            for key in data:
                if isinstance(key, str) and key not in valid:
                    close = difflib.get_close_matches(key, sorted(valid), n=1, cutoff=0.5)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    raise ValueError(
                        f"unknown key {key!r} in {cls.__name__}{hint} "
                        f"(valid keys: {', '.join(sorted(valid))})"
                    )
        return data
