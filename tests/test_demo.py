"""`dispatch-bridge demo` runs end to end on a machine with nothing running: broker, service, replay, summary."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_demo_replays_a_small_shift_and_prints_recommendations_and_a_summary(tmp_path):
    exe = Path(sys.executable).with_name("dispatch-bridge")
    result = subprocess.run([str(exe), "demo", "--calls", "40", "--speed", "2500"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    out = result.stdout
    assert "CRISIS" in out and "send: 1)" in out
    assert "shift summary" in out
    flagged = re.search(r"crisis calls flagged\s+(\d+)", out)
    assert flagged and int(flagged.group(1)) > 0
    assert re.search(r"calls replayed\s+40\b", out)
    assert re.search(r"dead letters\s+0\b", out)
    report = re.search(r"coordinator report for the shift: (\S+)", out)
    assert report and Path(report.group(1)).read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
