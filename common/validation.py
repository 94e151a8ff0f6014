"""Pydantic validation errors as messages for people: the reason without pydantic's prefixes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# pydantic prefixes the message of a ValueError / assert raised in a validator with these
_PREFIXES = ("Value error, ", "Assertion failed, ")


def error_reason(error: Mapping[str, Any]) -> str:
    """The reason in one item of ``ValidationError.errors()`` ("unknown field" for a forbidden extra)."""
    if error.get("type") == "extra_forbidden":
        return "unknown field"
    message = str(error.get("msg", "invalid value"))
    for prefix in _PREFIXES:
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message
