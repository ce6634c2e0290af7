"""Candidate ranking: who to send to a behavioral-crisis call, in what order, and why (pure)."""

from dispatch_bridge.recommend.ranking import rank
from dispatch_bridge.recommend.travel import StraightLineEstimator, TravelTimeEstimator, haversine_m

__all__ = ["StraightLineEstimator", "TravelTimeEstimator", "haversine_m", "rank"]
