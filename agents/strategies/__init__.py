"""The strategist's plug-ins. Importing this package registers every strategy by name."""

from agents.strategies import (  # noqa: F401  - imported for registration
    bonds,
    clv,
    complete_set,
    crypto_fair_value,
    maker,
    news_reaction,
    whale_copy,
)
from agents.strategies.base import STRATEGIES, MarketView, Proposal, Strategy, StrategyConfig, register

__all__ = ["STRATEGIES", "MarketView", "Proposal", "Strategy", "StrategyConfig", "register"]
