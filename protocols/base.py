"""The base of every payload: frozen, strict about unknown fields, JSON-lossless."""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError


class Payload(BaseModel):
    """A message body. Subclasses set ``kind`` (the union's discriminator).

    ``routing_key_field`` names the attribute subscribers may filter on (e.g. ``token_id``), so a
    strategist can follow only the books it trades.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)

    routing_key_field: ClassVar[str | None] = None

    @property
    def routing_key(self) -> str | None:
        f = self.routing_key_field
        return None if f is None else getattr(self, f)


def validation_problem(exc: ValidationError, *, with_input: bool = False) -> tuple[tuple[str | int, ...], str]:
    """The first error of a pydantic ``ValidationError`` as (field path, one-line message).

    With ``with_input`` the message names what was given (``got 'lots'``); an unknown key reads "unknown field"; a model
    validator that names its field at the front of its message (``field: reason``) has it moved to
    the path. Every one-line "bad input" error of the CLI and the scenario loader comes from here.
    """
    err = exc.errors()[0]
    loc = tuple(p for p in err.get("loc", ()) if isinstance(p, (str, int)))
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        msg = "unknown field"
    elif with_input and "input" in err and not isinstance(err["input"], (dict, list)):
        msg = f"{msg} (got {err['input']!r})"
    if not loc:
        m = re.match(r"^([A-Za-z0-9_.\-]+): (.*)$", msg, re.S)
        if m:
            loc = tuple(m.group(1).split("."))
            msg = m.group(2)
    return loc, " ".join(msg.split())
