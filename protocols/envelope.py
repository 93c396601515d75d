"""The envelope every message travels in, and the discriminated union of payloads.

The envelope carries causality (``correlation_id`` names the first message of a chain, e.g. the
tick; ``causation_id`` the message that directly caused this one) so one tick can be traced to the
order it caused, in the journal and across actors.
"""

from __future__ import annotations

from typing import Annotated, Any, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from protocols.base import Payload
from protocols.control import AgentEvent, AgentStatus, Command, Heartbeat
from protocols.decision import OrderIntent, Signal
from protocols.execution import (
    Balance,
    Fill,
    OrderEvent,
    OrderRequest,
    PnLSnapshot,
    Position,
    Settlement,
)
from protocols.intel import NewsItem, RawNews, WalletTrade, WhaleTrade
from protocols.market import (
    BookDelta,
    BookSnapshot,
    BookStale,
    MarketClosed,
    MarketInfo,
    MarketMark,
    MarketResolved,
    ReferencePrice,
    ReferenceProbability,
    TickSizeChange,
    TopOfBook,
    TradePrint,
)
from protocols.numbers import TimeNs
from protocols.risk import RiskDecision, RiskEvent, TradingStateChange

SCHEMA_VERSION = 1

AnyPayload = Annotated[
    Union[  # noqa: UP007 - a runtime Union is what the discriminator needs
        MarketInfo,
        BookSnapshot,
        BookDelta,
        TradePrint,
        TickSizeChange,
        TopOfBook,
        BookStale,
        ReferencePrice,
        ReferenceProbability,
        MarketResolved,
        MarketClosed,
        MarketMark,
        WalletTrade,
        WhaleTrade,
        RawNews,
        NewsItem,
        Signal,
        OrderIntent,
        RiskDecision,
        RiskEvent,
        TradingStateChange,
        OrderRequest,
        OrderEvent,
        Fill,
        Position,
        Balance,
        PnLSnapshot,
        Settlement,
        Heartbeat,
        AgentStatus,
        AgentEvent,
        Command,
    ],
    Field(discriminator="kind"),
]

#: Every payload class, in the union's order (derived from it, so the two cannot drift apart).
PAYLOAD_TYPES: tuple[type[Payload], ...] = get_args(get_args(AnyPayload)[0])

KIND_TO_TYPE: dict[str, type[Payload]] = {
    t.model_fields["kind"].default: t for t in PAYLOAD_TYPES
}


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    time_ns: TimeNs
    sender: str = Field(min_length=1)
    correlation_id: str | None = None
    causation_id: str | None = None
    schema_version: int = SCHEMA_VERSION
    payload: AnyPayload

    @property
    def kind(self) -> str:
        return self.payload.kind  # type: ignore[no-any-return]

    @classmethod
    def trusted(
        cls,
        id: str,
        time_ns: int,
        sender: str,
        payload: Payload,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> Envelope:
        """Build without re-validating: for runtimes wrapping an already-validated payload.

        The payload was validated when it was constructed; the other fields come from the runtime
        itself. Skipping validation here keeps the hot path at one dict write.
        """
        return cls.model_construct(
            id=id,
            time_ns=time_ns,
            sender=sender,
            correlation_id=correlation_id,
            causation_id=causation_id,
            schema_version=SCHEMA_VERSION,
            payload=payload,  # type: ignore[arg-type]
        )


_ENVELOPE_ADAPTER: TypeAdapter[Envelope] = TypeAdapter(Envelope)
_PAYLOAD_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyPayload)


def envelope_from_json(data: str | bytes) -> Envelope:
    return _ENVELOPE_ADAPTER.validate_json(data)


def payload_from_json(data: str | bytes) -> Payload:
    result: Payload = _PAYLOAD_ADAPTER.validate_json(data)
    return result


def payload_from_dict(data: dict[str, Any]) -> Payload:
    result: Payload = _PAYLOAD_ADAPTER.validate_python(data)
    return result
