"""Rule and ranking scaling: runs the owners' scripts (``bench/rules_scaling.py``, ``bench/ranking_scaling.py``) as
they are, in their own process, and reads their printed figures back. The scripts stay the one definition of each
measurement; this module only repeats them and parses their output."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent

_RULES_SIZE = re.compile(r"^\s*(\d+) phrases \((\d+) compiled\):\s+([\d.]+) us/event", re.M)
_RULES_DEFAULT = re.compile(r"^default pack \((\d+) phrases.*?:\s+([\d.]+) us/event", re.M)
_RANKING = re.compile(
    r"^\s*(\d+) units, gap\s+(\d+) us \| rank: n=\s*(\d+) p50=\s*([\d.]+) us\s+p99=\s*([\d.]+) us\s+max=\s*([\d.]+) us"
    r" \| AVL applied\s+(\d+)/s\s+apply p50=\s*([\d.]+) us\s+p99=\s*([\d.]+) us", re.M)


def _script(name: str, args: list[str], timeout: float) -> str:
    done = subprocess.run([sys.executable, str(BENCH / name), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=BENCH.parent, check=False)
    if not done.stdout.strip():
        raise RuntimeError(f"{name} printed nothing (exit {done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def rules_scaling(timeout: float = 600) -> dict[str, Any]:
    """us per event by lexicon size, and the default pack; from one run of ``rules_scaling.py``."""
    out = _script("rules_scaling.py", [], timeout)
    sizes = {int(m[1]): float(m[3]) for m in _RULES_SIZE.finditer(out)}
    default = _RULES_DEFAULT.search(out)
    if not sizes:
        raise RuntimeError(f"rules_scaling.py output not understood:\n{out}")
    return {
        "us_per_event": sizes,
        "ratio": sizes[max(sizes)] / sizes[min(sizes)],
        "default_pack_us": float(default[2]) if default else None,
        "default_pack_phrases": int(default[1]) if default else None,
        "raw": out,
    }


def ranking_scaling(seconds: float = 3.0, sizes: str = "100,1000,10000", gaps_us: str = "0,200",
                    rate: float = 2000, timeout: float = 900) -> dict[str, Any]:
    """Per (units, gap): rank p50/p99/max and AVL apply figures; from one run of ``ranking_scaling.py``."""
    out = _script("ranking_scaling.py", ["--seconds", str(seconds), "--sizes", sizes, "--gaps-us", gaps_us,
                                         "--rate", str(rate)], timeout)
    rows = {}
    for m in _RANKING.finditer(out):
        rows[(int(m[1]), int(m[2]))] = {
            "rankings": int(m[3]), "p50_us": float(m[4]), "p99_us": float(m[5]), "max_us": float(m[6]),
            "avl_per_s": int(m[7]), "apply_p50_us": float(m[8]), "apply_p99_us": float(m[9]),
        }
    if not rows:
        raise RuntimeError(f"ranking_scaling.py output not understood:\n{out}")
    return {"rows": rows, "raw": out}
