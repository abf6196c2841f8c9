"""Many lanes (repositories), one registry round: see imagebot.lanes for what a lane is."""

from imagebot.fleet.index import ImageIndex
from imagebot.fleet.round import Fleet, LaneOutcome, LaneState, RoundResult

__all__ = ["Fleet", "ImageIndex", "LaneOutcome", "LaneState", "RoundResult"]
