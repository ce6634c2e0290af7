"""The live roster: units, crews' CIT certification, mobile crisis / co-responder teams, coverage."""

from dispatch_bridge.roster.personnel import PersonnelFormatError, PersonnelRecord, parse_personnel_record
from dispatch_bridge.roster.table import Roster, RosterChange, TeamState, needs_rerank, newest_per_unit
from dispatch_bridge.roster.teams import TeamsFileError

__all__ = [
    "PersonnelFormatError",
    "PersonnelRecord",
    "Roster",
    "RosterChange",
    "TeamState",
    "TeamsFileError",
    "needs_rerank",
    "newest_per_unit",
    "parse_personnel_record",
]
