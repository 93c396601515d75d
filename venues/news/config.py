"""Configuration of the RSS/Atom news feed."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class NewsFeedConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    urls: tuple[str, ...] = Field(min_length=1)
    timeout_s: float = Field(default=10.0, gt=0)
    #: how many item ids to remember for de-duplication (oldest forgotten first)
    max_seen: int = Field(default=20_000, ge=100)
    user_agent: str = "polyagents-news/0.1"

    @field_validator("urls")
    @classmethod
    def _urls(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for u in v:
            if not u.startswith(("http://", "https://")):
                raise ValueError(f"not an http(s) URL: {u!r}")
        return v
