"""The base of every payload: frozen, strict about unknown fields, JSON-lossless."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


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
