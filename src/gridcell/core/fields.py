"""Field types for API models that bound what the store and the arithmetic on them can hold."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, Field, StrictInt, StringConstraints

from gridcell.core.clock import in_range

# 1970-2199, with an offset (core.clock.in_range); the pattern tells clients the year range.
Instant = Annotated[AwareDatetime, AfterValidator(in_range),
                    Field(json_schema_extra={"pattern": r"^(19[7-9][0-9]|2[01][0-9]{2})-"})]
# A natural id as it appears in URL paths and query lists: no '/', no control characters.
NaturalId = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^/\x00-\x1f\x7f]+$")]
Plmn = Annotated[str, StringConstraints(pattern=r"^[0-9]{5,6}$")]  # MCC + MNC
Int64 = Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]  # what a BIGINT column holds


def nul_path(value: Any, path: str = "") -> str | None:
    """The path of the first string (or key) holding a NUL character, or None. PostgreSQL text cannot hold one,
    and no peer means one: such input is refused on every store alike."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for k, v in value.items():
            sub = f"{path}/{k}" if path else str(k)
            if isinstance(k, str) and "\x00" in k:
                return sub
            found = nul_path(v, sub)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = nul_path(v, f"{path}/{i}" if path else str(i))
            if found is not None:
                return found
    return None


def refuse_nul(value: Any) -> Any:
    """A `model_validator(mode="before")` body: the raw input, or ValueError naming where the NUL is."""
    found = nul_path(value)
    if found is not None:
        raise ValueError(f"{found or 'the value'} holds a NUL character")
    return value
