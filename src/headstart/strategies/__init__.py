"""Training strategies as plans of phases: ``plan_for("two-phase", StrategyOptions(...))``."""
from . import feature_extraction, fine_tune, lora, two_phase  # noqa: F401  (registration)
from .base import STRATEGIES, Phase, StrategyOptions, plan_for

__all__ = ["STRATEGIES", "Phase", "StrategyOptions", "plan_for"]
