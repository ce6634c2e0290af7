"""How triage time per event grows with the size of the narrative lexicon (50 -> 500 -> 5,000 phrases).

    python bench/rules_scaling.py

Every pack here has the same 20 facts and include rules and the default pack's negation words; only the number
of phrases changes. All phrases are compiled into one Aho-Corasick automaton, so cost per event should barely
grow with the lexicon (target: 5,000 / 50 < 2x). Also prints the default pack on the same 1 KB narrative
(target: well under 50 us per event). Plain script, no arguments; takes a few seconds.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dispatch_bridge.contracts import IncidentEvent  # noqa: E402
from dispatch_bridge.triage import load_ruleset, triage  # noqa: E402

FACTS = 20
# A 1 KB CAD narrative: abbreviations, upper case, several updates, a few hits and one negation.
NARRATIVE = (
    "RP IS NEIGHBOR. STATES MALE SUBJ IN APT 3B YELLING AND BANGING ON WALLS SINCE 0200. RP ADV SUBJ HAS HX OF "
    "SCHIZOPHRENIA AND IS OFF HIS MEDS PER FAMILY. SUBJ WAS SEEN IN HALLWAY EARLIER TALKING TO HIMSELF. "
    "NO WEAPONS SEEN. RP DOES NOT KNOW SUBJ NAME. SUBJ IS W/M 30S, 6FT, THIN, BEARD, GRAY HOODIE, JEANS. "
    "RP STATES SUBJ HAS BEEN LIKE THIS FOR 3 DAYS. MGMT HAS BEEN NOTIFIED. NO KNOWN DRUG USE. RP REQ NO "
    "CONTACT. UPDATE 0215: SUBJ NOW IN PARKING LOT, SCREAMING AT CARS. UPDATE 0221: SUBJ WALKING TOWARD "
    "MAIN ST. RP LOST SIGHT. UPDATE 0224: 2ND CALLER REPORTS SAME SUBJ IN ROADWAY, CARS SWERVING. 2ND RP "
    "STATES SUBJ APPEARS CONFUSED AND DISORIENTED. UPDATE 0230: SUBJ SITTING ON CURB NEAR BUS STOP, CALM. "
    "UPDATE 0236: UNIT 2A14 ENRT. RP CALLED BACK, SUBJ NOW WALKING NB ON MAIN ST TOWARD THE GAS STATION AT "
    "5TH AVE. RP STATES SUBJ HAS NOT EATEN IN DAYS PER FAMILY, MOTHER LIVES OUT OF STATE, PHONE ON FILE. "
    "UPDATE 0241: STATION CLERK CALLED, SUBJ INSIDE STORE ASKING FOR WATER, NOT AGGRESSIVE, CLERK OK. "
    "UPDATE 0244: SUBJ LEFT STORE, NOW SITTING ON BENCH OUTSIDE, CLERK WATCHING FROM WINDOW. NO INJURIES."
)[:1024]
REAL_PHRASES = [
    "schizophreni*", "off his meds", "talking to himself", "weapon*", "screaming at cars", "confused",
    "disoriented", "suicid*", "hearing voices", "knife", "gun*", "overdos*", "hallucinat*", "paranoi*",
    "edp", "10-96", "5150", "9.41", "pink slip", "unk weaps", "drunk", "intox*", "erratic*", "bizarre",
    "delusion*", "manic", "bipolar", "depressed", "crying", "distraught", "psychotic", "agitated", "combative",
    "assault*", "fighting", "hostage*", "barricad*", "shots fired", "took pills", "unresponsive",
    "not breathing", "bleeding", "cut his wrists", "jumper", "on the ledge", "mental health", "crisis",
    "baker act", "legal 2000", "emergency hold",
]


def synthetic_phrases(count: int, rng: random.Random) -> list[str]:
    phrases = list(REAL_PHRASES[:count])
    alphabet = "abcdefghijklmnopqrstuvwxyz"
    seen = set(phrases)
    while len(phrases) < count:
        words = rng.randint(1, 3)
        phrase = " ".join("".join(rng.choice(alphabet) for _ in range(rng.randint(4, 9))) for _ in range(words))
        if phrase not in seen:
            seen.add(phrase)
            phrases.append(phrase)
    return phrases


def write_pack(directory: Path, phrase_count: int) -> None:
    directory.mkdir()
    shutil.copy(REPO / "rules" / "default" / "pack.yaml", directory / "pack.yaml")
    phrases = synthetic_phrases(phrase_count, random.Random(phrase_count))
    lines = ["facts:"]
    for fact in range(FACTS):
        lines.append(f"  fact_{fact}:")
        lines.append(f"    phrases: {json.dumps(phrases[fact::FACTS])}")
    lines.append("include:")
    for fact in range(FACTS):
        lines += [
            f"  - id: fact-{fact}",
            f"    because: Fact {fact}",
            "    weight: 0.3",
            f"    when: {{facts: {{fact_{fact}: yes}}}}",
        ]
    lines += ["route:", "  - id: team", "    because: Mobile crisis team", "    tier: mobile_crisis"]
    for tier in ("cit_officer", "co_response", "ems_with_cit", "police_only"):
        lines += [f"  - id: to-{tier}", "    because: Tier", f"    tier: {tier}", "    when: {apco: [EDP]}"]
    # The catch-all must be last: move it there.
    text = "\n".join(lines) + "\n"
    head, catch_all = text.split("  - id: team\n", 1)
    catch_all_block, rest = catch_all.split("  - id: to-", 1)
    text = head + "  - id: to-" + rest + "  - id: team\n" + catch_all_block
    (directory / "lexicon.yaml").write_text(text)


def event() -> IncidentEvent:
    return IncidentEvent.model_validate_json(
        json.dumps(
            {
                "schema_version": 1,
                "event_id": "bench",
                "event_type": "incident.updated",
                "occurred_at": "2026-03-03T02:30:00-06:00",
                "agency": "metro",
                "incident": {
                    "id": "bench-1",
                    "revision": 3,
                    "nature_code": "DISTURB",
                    "nature_text": "DISTURBANCE - MENTAL",
                    "priority": 2,
                    "caller_party": "third",
                    "narrative": [{"text": NARRATIVE}],
                },
            }
        )
    )


def microseconds_per_event(ruleset_dir: Path, rounds: int = 5000, repeats: int = 5) -> tuple[float, int]:
    ruleset = load_ruleset(ruleset_dir)
    call = event()
    for _ in range(500):
        triage(call, ruleset)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(rounds):
            triage(call, ruleset)
        best = min(best, (time.perf_counter() - started) / rounds)
    return best * 1e6, ruleset.matcher.phrase_count


def main() -> int:
    print(f"narrative: {len(NARRATIVE)} bytes; best of 5 x 5,000 events; {FACTS} facts and include rules per pack")
    results: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in (50, 500, 5000):
            directory = Path(tmp) / f"pack{size}"
            write_pack(directory, size)
            micros, compiled = microseconds_per_event(directory)
            results[size] = micros
            print(f"{size:>5} phrases ({compiled} compiled): {micros:6.1f} us/event")
    ratio = results[5000] / results[50]
    print(f"ratio 5000/50: {ratio:.2f}x (target < 2x)")
    default_micros, phrases = microseconds_per_event(REPO / "rules" / "default")
    print(f"default pack ({phrases} phrases, full include + route stages): {default_micros:.1f} us/event")
    return 0 if ratio < 2.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
