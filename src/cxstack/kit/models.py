"""The strict pydantic base every input model derives from."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Input models refuse fields they do not know, so a typo is an error rather than silently ignored.

    Strings are stripped of surrounding whitespace before their length is checked: a length limit applies
    to the value as stored. (The HTTP edge has already refused U+0000, NaN and integers beyond 64 bits.)
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)
