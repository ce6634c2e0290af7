"""Call scripts for the demo shift: what the caller said, how the call is coded, and how it changes over its life.

Narratives are written the way call-takers type them (upper case, CAD shorthand, negations like ``NO WPNS SEEN``
and ``DENIES SI``). People are described only by relationship, sex and age band: no names, no phone numbers.
About half of the behavioral calls arrive coded as something else (disturbance, suspicious person, trespass,
domestic) and are re-coded once units are on scene, as in real CAD data where initial and final call types
differ.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Anchor = Literal["created", "dispatched", "on_scene"]
PlaceKind = Literal["home", "street", "premise", "intersection"]


@dataclass(frozen=True, slots=True)
class Change:
    """One later CAD edit: ``delay_s`` after the anchor moment of the call."""

    after: Anchor
    delay_s: int
    narrative: tuple[str, ...] = ()
    nature: tuple[str, str, str | None] | None = None
    priority: int | None = None
    determinant: str | None = None
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CallScript:
    scenario: str
    behavioral: bool
    nature_code: str
    nature_text: str
    priority: int
    caller_party: str
    narrative: tuple[str, ...]
    apco_type: str | None = None
    determinant: str | None = None
    flags: tuple[str, ...] = ()
    changes: tuple[Change, ...] = ()
    disposition: tuple[str, ...] = ("NAT",)
    scene_minutes: tuple[int, int] = (10, 35)
    units: int = 1
    # A mobile crisis team or co-responder is a fit for this call if one is free, in hours and in area.
    team: bool = False
    weapon: bool = False
    disguised: bool = False
    place: PlaceKind = "street"
    premise_hint: tuple[str, ...] = field(default=())


_REL = ("BROTHER", "SON", "DAUGHTER", "MOTHER", "ROOMMATE", "HUSBAND", "WIFE", "NEPHEW", "FATHER", "GIRLFRIEND")
_SUBJ = ("M 20S", "M 30S", "M 40S", "M 50S", "F 20S", "F 30S", "F 40S", "F 60S", "M 60S", "M TEENS")
_CLOTHES = (
    "BLK HOODIE, JEANS", "GRY SWEATS, NO SHOES", "RED JACKET, BLUE JEANS", "TAN COAT, CARRYING BACKPACK",
    "WHT TSHIRT, SHORTS", "GRN ARMY JACKET", "HOSPITAL GOWN", "DARK CLOTHING",
)  # fmt: skip
_MEDS = ("HER SEROQUEL", "HIS LITHIUM", "UNK RX PILLS", "TYLENOL", "HIS DEPAKOTE", "SLEEPING PILLS")
_DX = ("SCHIZOPHRENIA", "BIPOLAR", "PTSD", "SCHIZOAFFECTIVE", "DEPRESSION")


def _subject(rng: random.Random) -> str:
    return f"{rng.choice(_SUBJ)}, {rng.choice(_CLOTHES)}"


# --- behavioral ------------------------------------------------------------------------------------------------


def edp_off_meds(rng: random.Random) -> CallScript:
    rel = rng.choice(_REL)
    armed = rng.random() < 0.3
    changes = [Change("created", rng.randint(40, 110), (f"HX {rng.choice(_DX)} PER RP, PRIOR CIT CONTACT",))]
    if armed:
        changes.append(
            Change(
                "created", rng.randint(120, 200),
                ("RP NOW ADV SUBJ PICKED UP KITCHEN KNIFE, WAVING IT AROUND, RP LEFT APT",),
                priority=1, flags=("WEAPON", "OFFICER SAFETY"),
            )
        )  # fmt: skip
    changes.append(Change("on_scene", rng.randint(300, 900), ("SUBJ CALMER, AGREES TO VOLUNTARY EVAL",)))
    return CallScript(
        "edp_off_meds", True, "EDP", "EMOTIONALLY DISTURBED PERSON", 2, "second",
        (
            f"RP STATES {rel} OFF MEDS {rng.randint(2, 14)} DAYS, HEARING VOICES, TALKING TO HIMSELF",
            "SUBJ PACING IN KITCHEN, YELLING AT TV" if not armed else "SUBJ IN KITCHEN, RP IN BEDROOM W/ DOOR LOCKED",
            "NO WPNS SEEN" if not armed else "UNK WEAPS",
        ),
        changes=tuple(changes), disposition=("MH TRANSPORT - VOLUNTARY",), scene_minutes=(35, 90),
        units=2 if armed else 1, team=not armed, weapon=armed, place="home",
    )  # fmt: skip


def suicidal_caller(rng: random.Random) -> CallScript:
    first = rng.random() < 0.5
    gun = rng.random() < 0.2
    lines = (
        ("1ST PTY CALLER STATES WANTS TO END IT, HAS BEEN DRINKING", "CALLER CRYING, STATES LOST JOB TODAY")
        if first
        else (f"2ND PTY {rng.choice(_REL)} STATES SUBJ TEXTED GOODBYE MSGS", "SUBJ LOCKED IN BATHROOM, NOT RESPONDING")
    )
    holding = "CT KEEPING CALLER ON LINE" if first else "RP STAYING OUTSIDE DOOR"
    changes = [Change("created", rng.randint(30, 90), (holding,))]
    if gun:
        changes.append(
            Change(
                "created", rng.randint(95, 160), ("RP ADV THERE IS A HANDGUN IN THE BEDROOM, UNK IF SUBJ HAS IT",),
                determinant="25B03V", flags=("WEAPON", "HAZ: FIREARMS IN HOME"),
            )
        )  # fmt: skip
    else:
        changes.append(Change("created", rng.randint(95, 160), ("NO WEAPONS IN HOME PER RP",)))
    changes.append(Change("on_scene", rng.randint(200, 600), ("SUBJ CONTACTED, SAFETY PLAN, 5150 EVAL REQ",)))
    return CallScript(
        "suicidal_caller", True, "SUICTHRT", "SUICIDE THREAT", 1, "first" if first else "second",
        lines, determinant="25B03", changes=tuple(changes),
        disposition=("MH TRANSPORT - INVOLUNTARY HOLD",) if gun else ("REFERRAL - CRISIS LINE", "SAFETY PLAN"),
        scene_minutes=(40, 100), units=2, team=not gun, weapon=gun, place="home",
    )  # fmt: skip


def suicidal_ideation_low(rng: random.Random) -> CallScript:
    return CallScript(
        "suicidal_ideation_low", True, "SUICTHRT", "SUICIDE THREAT", 2, "third",
        (
            "3RD PTY CRISIS LINE COUNSELOR REQ WELFARE CHK ON CLIENT",
            "CLIENT STATED PASSIVE SI, NO PLAN, NO MEANS, DENIES SI NOW",
            f"SUBJ {_subject(rng)}",
        ),
        determinant="25A02",
        changes=(Change("on_scene", rng.randint(300, 900), ("CLIENT SAFE, LINKED W/ COUNSELOR FOR F/U",)),),
        disposition=("REFERRAL - MH PROVIDER",), scene_minutes=(30, 70), team=True, place="home",
    )  # fmt: skip


def welfare_confused(rng: random.Random) -> CallScript:
    return CallScript(
        "welfare_confused", True, "WELFARE", "WELFARE CHECK", 3, "third",
        (
            "RP NEIGHBOR STATES SUBJ SCREAMING AT NOONE IN HALLWAY",
            f"SUBJ APPEARS CONFUSED, NOT DRESSED FOR WEATHER, {rng.choice(_SUBJ)}",
        ),
        changes=(
            Change(
                "on_scene", rng.randint(120, 420),
                ("UNITS ADV SUBJ DISORIENTED, PARANOID, STATES PEOPLE ARE FOLLOWING HER, REQ MCT",),
                nature=("EDP", "EMOTIONALLY DISTURBED PERSON", None), priority=2,
            ),
        ),
        disposition=("REFERRAL - MOBILE CRISIS",), scene_minutes=(30, 75), team=True, disguised=True, place="home",
    )  # fmt: skip


def disturbance_psychosis(rng: random.Random) -> CallScript:
    armed = rng.random() < 0.25
    on_scene = ["SUBJ RESPONDING TO INTERNAL STIMULI, STATES HE IS BEING POISONED, PREV PINK SLIP PER SECURITY"]
    flags: tuple[str, ...] = ()
    if armed:
        on_scene.append("SUBJ HAS BOX CUTTER IN RT HAND, REFUSING TO DROP")
        flags = ("WEAPON",)
    return CallScript(
        "disturbance_psychosis", True, "DISTURB", "DISTURBANCE", 2, "third",
        (f"MALE YELLING IN LOBBY, KNOCKING OVER CHAIRS, {_subject(rng)}", "SECURITY ON SCENE, UNK WEAPS"),
        apco_type="DISORD",
        changes=(
            Change(
                "on_scene", rng.randint(60, 240), tuple(on_scene),
                nature=("EDP", "EMOTIONALLY DISTURBED PERSON", None), priority=1 if armed else 2, flags=flags,
            ),
        ),
        disposition=("MH TRANSPORT - INVOLUNTARY HOLD",), scene_minutes=(40, 90), units=2,
        team=not armed, weapon=armed, disguised=True, place="premise",
    )  # fmt: skip


def suspicious_in_traffic(rng: random.Random) -> CallScript:
    return CallScript(
        "suspicious_in_traffic", True, "SUSP", "SUSPICIOUS PERSON", 2, "third",
        (f"SUSP PERSON WALKING IN TRAFFIC LANES, TALKING TO HIMSELF, {_subject(rng)}", "RP DRIVING PAST, DID NOT STOP"),
        changes=(
            Change(
                "on_scene", rng.randint(60, 300),
                ("SUBJ STATES GOD TOLD HIM TO STOP THE CARS, NO WPNS, COOPERATIVE",),
                nature=("EDP", "EMOTIONALLY DISTURBED PERSON", None),
            ),
        ),
        disposition=("MH TRANSPORT - VOLUNTARY",), scene_minutes=(25, 60), team=True, disguised=True,
        place="intersection",
    )  # fmt: skip


def intox_despondent(rng: random.Random) -> CallScript:
    return CallScript(
        "intox_despondent", True, "INTOX", "INTOXICATED PERSON", 3, "third",
        (
            f"SUBJ HEAVILY INTOX ON BENCH, {_subject(rng)}",
            "RP STATES SUBJ SAID HE DOESNT WANT TO LIVE ANYMORE",
        ),
        changes=(Change("created", rng.randint(60, 150), ("NO WPNS SEEN, SUBJ STILL ON BENCH",)),),
        disposition=("REFERRAL - DETOX",), scene_minutes=(20, 50), team=True, place="premise",
    )  # fmt: skip


def overdose_intentional(rng: random.Random) -> CallScript:
    return CallScript(
        "overdose_intentional", True, "OD", "OVERDOSE / INGESTION", 1, "second",
        (
            f"2ND PTY STATES {rng.choice(_REL)} TOOK UNK AMT OF {rng.choice(_MEDS)} AFTER ARGUMENT",
            "SUBJ STATED WANTED TO DIE, CONSC, BREATHING",
        ),
        flags=("EMS ENRT",),
        changes=(Change("created", rng.randint(45, 120), ("EMS STAGING, PD TO SECURE SCENE",)),),
        disposition=("EMS TRANSPORT",), scene_minutes=(25, 60), place="home",
    )  # fmt: skip


def jumper(rng: random.Random) -> CallScript:
    return CallScript(
        "jumper", True, "SUICTHRT", "SUICIDE THREAT - JUMPER", 1, "third",
        (f"SUBJ ON OUTSIDE OF RAILING, {_subject(rng)}", "MULT CALLERS, TRAFFIC STOPPED"),
        determinant="25B04", flags=("EMS ENRT", "FIRE ENRT"),
        changes=(Change("on_scene", rng.randint(300, 1200), ("SUBJ BACK OVER RAILING, IN CUSTODY FOR EVAL",)),),
        disposition=("MH TRANSPORT - INVOLUNTARY HOLD",), scene_minutes=(45, 110), units=3, place="premise",
        premise_hint=("CANAL ST BRIDGE",),
    )  # fmt: skip


def domestic_bipolar(rng: random.Random) -> CallScript:
    return CallScript(
        "domestic_bipolar", True, "DVA", "DOMESTIC DISTURBANCE", 2, "second",
        (
            "MOTHER STATES ADULT SON BREAKING THINGS IN APT",
            f"SON HAS {rng.choice(_DX)} DX, OFF MEDS, NO ONE INJURED",
            "UNK WEAPS",
        ),
        changes=(
            Change(
                "on_scene", rng.randint(120, 420), ("SUBJ MANIC, HAS NOT SLEPT 3 DAYS, NO ASSAULT OCCURRED",),
                nature=("EDP", "EMOTIONALLY DISTURBED PERSON", None),
            ),
        ),
        disposition=("MH TRANSPORT - VOLUNTARY",), scene_minutes=(40, 90), units=2, disguised=True, place="home",
    )  # fmt: skip


def trespass_disoriented(rng: random.Random) -> CallScript:
    return CallScript(
        "trespass_disoriented", True, "TRESPASS", "TRESPASS", 3, "third",
        ("MALE REFUSING TO LEAVE, BELIEVES HE LIVES HERE", f"APPEARS DISORIENTED, {_subject(rng)}"),
        changes=(
            Change(
                "on_scene", rng.randint(120, 400), ("SUBJ HX DEMENTIA/MH, REQ MOBILE CRISIS",),
                nature=("EDP", "EMOTIONALLY DISTURBED PERSON", None),
            ),
        ),
        disposition=("REFERRAL - MOBILE CRISIS",), scene_minutes=(20, 60), team=True, disguised=True, place="premise",
    )  # fmt: skip


def eloped_hold(rng: random.Random) -> CallScript:
    return CallScript(
        "eloped_hold", True, "EDP", "EMOTIONALLY DISTURBED PERSON", 2, "third",
        (
            "ER CHARGE NURSE STATES PT ON 5150 HOLD LEFT ER ON FOOT",
            f"LSW NB, {_subject(rng)}, NO WPNS KNOWN",
        ),
        changes=(Change("dispatched", rng.randint(240, 600), ("PT LOCATED BY UNITS 2 BLKS NORTH, COOPERATIVE",)),),
        disposition=("RETURNED TO FACILITY",), scene_minutes=(20, 50), place="premise",
        premise_hint=("ST AGATHA MEDICAL CTR",),
    )  # fmt: skip


# --- routine ---------------------------------------------------------------------------------------------------


def traffic(rng: random.Random) -> CallScript:
    injury = rng.random() < 0.3
    return CallScript(
        "traffic", False, "MVC", "MOTOR VEHICLE CRASH" + (" - INJURY" if injury else " - PD ONLY"),
        2 if injury else 3, "first",
        (f"{rng.randint(2, 3)} VEH, {'1 COMPLAINING OF NECK PAIN' if injury else 'NO INJ'}", "BLOCKING NB LANE"),
        apco_type="MVAINJY" if injury else "MVA",
        flags=("EMS ENRT",) if injury else (), disposition=("REPORT TAKEN",), scene_minutes=(20, 45),
        place="intersection",
    )  # fmt: skip


def alarm(rng: random.Random) -> CallScript:
    return CallScript(
        "alarm", False, "ALARM", "ALARM - BURGLAR", 3, "third",
        (f"ALARM CO REPORTS AUDIBLE, ZONE {rng.randint(1, 9)} {rng.choice(('FRONT DOOR', 'REAR DOOR', 'MOTION'))}",
         "KEYHOLDER NOTIFIED, ETA 20 MIN"),
        apco_type="ALRBA", disposition=("FALSE ALARM",), scene_minutes=(8, 20), place="street",
    )  # fmt: skip


def theft(rng: random.Random) -> CallScript:
    what = rng.choice(
        ("BIKE TAKEN FROM RACK, CABLE LOCK CUT", "CATALYTIC CONVERTER CUT FROM VEH", "PKG TAKEN FROM PORCH")
    )
    return CallScript(
        "theft", False, "THEFT", "THEFT - REPORT", 4, "first",
        (f"RP STATES {what}, LOSS APPROX ${rng.randint(1, 30) * 50}", "OCCURRED OVERNIGHT, NO SUSP INFO"),
        apco_type="LARCENY", disposition=("REPORT TAKEN",), scene_minutes=(15, 30), place="home",
    )  # fmt: skip


def shoplift(rng: random.Random) -> CallScript:
    return CallScript(
        "shoplift", False, "THEFT", "RETAIL THEFT - IN CUSTODY", 3, "third",
        (f"LP HOLDING 1 SUBJ FOR RETAIL THEFT, {rng.choice(_SUBJ)}", "SUBJ COOPERATIVE, NO WPNS"),
        apco_type="SHOPLIFT", disposition=("CITATION ISSUED",), scene_minutes=(20, 40), place="premise",
        premise_hint=("NORTHGATE MALL",),
    )  # fmt: skip


def burglary(rng: random.Random) -> CallScript:
    return CallScript(
        "burglary", False, "BURG", "BURGLARY - RESIDENTIAL", 2, "first",
        ("RP RETURNED HOME, FRONT DOOR PRIED, TV AND LAPTOP MISSING", "RP NOT INSIDE, WAITING AT CORNER"),
        disposition=("REPORT TAKEN",), scene_minutes=(25, 50), place="home",
    )  # fmt: skip


def suspicious_vehicle(rng: random.Random) -> CallScript:
    return CallScript(
        "suspicious_vehicle", False, "SUSP", "SUSPICIOUS VEHICLE", 3, "third",
        (f"{rng.choice(('GRY SEDAN', 'BLK SUV', 'WHT VAN'))} PARKED W/ ENGINE RUNNING 2 HRS", "2 OCCUPANTS"),
        apco_type="VEHSUSP", disposition=("GONE ON ARRIVAL",), scene_minutes=(5, 15), place="street",
    )  # fmt: skip


def noise(rng: random.Random) -> CallScript:
    return CallScript(
        "noise", False, "NOISE", "NOISE COMPLAINT", 4, "third",
        ("LOUD MUSIC FROM 3RD FLR UNIT, ONGOING 1 HR",),
        apco_type="DISORD", disposition=("ADVISED",), scene_minutes=(5, 15), place="home",
    )  # fmt: skip


def parking(rng: random.Random) -> CallScript:
    return CallScript(
        "parking", False, "PARKING", "PARKING COMPLAINT", 4, "first",
        ("VEH BLOCKING DRIVEWAY, RP NEEDS TO LEAVE FOR WORK",),
        disposition=("CITATION ISSUED",), scene_minutes=(5, 15), place="home",
    )  # fmt: skip


def fight(rng: random.Random) -> CallScript:
    return CallScript(
        "fight", False, "FIGHT", "FIGHT IN PROGRESS", 1, "third",
        ("2 MALES FIGHTING IN PARKING LOT, ONE ON GROUND", "NO WPNS SEEN"),
        flags=("EMS STAGING",), disposition=("ARREST",), scene_minutes=(30, 60), units=2, place="street",
    )  # fmt: skip


def domestic(rng: random.Random) -> CallScript:
    return CallScript(
        "domestic", False, "DVA", "DOMESTIC DISTURBANCE", 1, "first",
        ("RP STATES BOYFRIEND PUSHED HER, HE LEFT IN GRY SEDAN", "NO WPNS, RP REFUSES EMS"),
        flags=("DV HISTORY",), disposition=("REPORT TAKEN",), scene_minutes=(30, 60), units=2, place="home",
    )  # fmt: skip


def shots(rng: random.Random) -> CallScript:
    return CallScript(
        "shots", False, "SHOTS", "SHOTS FIRED", 1, "third",
        (f"RP HEARD {rng.randint(3, 6)} SHOTS FIRED, NO VICTIMS SEEN", "POSS BLK SUV LSW"),
        apco_type="SHOOT", flags=("OFFICER SAFETY",), disposition=("UNFOUNDED",), scene_minutes=(15, 40), units=2,
        weapon=True,
        place="intersection",
    )  # fmt: skip


def welfare_elderly(rng: random.Random) -> CallScript:
    return CallScript(
        "welfare_elderly", False, "WELFARE", "WELFARE CHECK", 3, "third",
        ("RP UNABLE TO REACH ELDERLY FATHER 2 DAYS, NO ANSWER AT DOOR", "MAIL PILING UP"),
        changes=(Change("on_scene", rng.randint(120, 300), ("SUBJ CONTACTED, OK, PHONE WAS DEAD",)),),
        disposition=("CHECKED OK",), scene_minutes=(10, 25), place="home",
    )  # fmt: skip


def trespass(rng: random.Random) -> CallScript:
    return CallScript(
        "trespass", False, "TRESPASS", "TRESPASS", 3, "third",
        ("SUBJ SLEEPING IN VESTIBULE, MGR WANTS SUBJ MOVED ALONG",),
        disposition=("ADVISED",), scene_minutes=(10, 20), place="premise",
    )  # fmt: skip


Scenario = Callable[[random.Random], CallScript]

# (scenario, relative weight). Weights inside each pool; the split between pools is fixed by the caller.
BEHAVIORAL: tuple[tuple[Scenario, int], ...] = (
    (edp_off_meds, 5), (suicidal_caller, 4), (suicidal_ideation_low, 2), (welfare_confused, 4),
    (disturbance_psychosis, 4), (suspicious_in_traffic, 2), (intox_despondent, 2), (overdose_intentional, 2),
    (jumper, 1), (domestic_bipolar, 2), (trespass_disoriented, 2), (eloped_hold, 1),
)  # fmt: skip
ROUTINE: tuple[tuple[Scenario, int], ...] = (
    (traffic, 15), (alarm, 12), (theft, 9), (shoplift, 4), (burglary, 7), (suspicious_vehicle, 8), (noise, 7),
    (parking, 6), (fight, 5), (domestic, 6), (shots, 3), (welfare_elderly, 6), (trespass, 4),
)  # fmt: skip
