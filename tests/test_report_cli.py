"""``dispatch-bridge report`` end to end: a store with the replayed scenario, then html / csv / json files."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from pathlib import Path

import pytest

from dispatch_bridge.cli import main
from dispatch_bridge.outcomes import StoreSettings, open_store
from tests.pg import pg_server, pg_url, store_url  # noqa: F401
from tests.test_report import scenario


async def _fill(url: str) -> None:
    store = await open_store(StoreSettings(url=url, disposition_reasons={"MCT-UNAV": "team_unavailable"}))
    try:
        await store.write(scenario())
    finally:
        await store.close()


def _run(monkeypatch: pytest.MonkeyPatch, url: str, *args: str) -> int:
    monkeypatch.setenv("DISPATCH_BRIDGE_STORE__URL", url)
    monkeypatch.setenv("DISPATCH_BRIDGE_STORE__DISPOSITION_REASONS", '{"MCT-UNAV": "team_unavailable"}')
    monkeypatch.delenv("DISPATCH_BRIDGE_PERSONNEL_FILE", raising=False)
    return main(["report", "--from", "2026-03-02", "--to", "2026-03-03", *args])


def test_report_files_in_every_format(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A plain test: the command runs its own event loop, as it does from a shell.
    asyncio.run(_fill(store_url))
    personnel = tmp_path / "personnel.csv"
    personnel.write_text("officer_id,cit_certified_on,cit_expires_on\nO1,2024-03-01,2026-04-01\nO2,2024-01-01,2027-01-01\n")

    out = {fmt: tmp_path / f"report.{fmt}" for fmt in ("html", "csv", "json")}
    for fmt, path in out.items():
        assert _run(monkeypatch, store_url, "--format", fmt, "--output", str(path), "--personnel", str(personnel)) == 0

    data = json.loads(out["json"].read_text())
    assert {k: data["funnel"][k] for k in ("calls", "flagged", "cit_recommended", "cit_dispatched", "cit_on_scene")} \
        == {"calls": 9, "flagged": 6, "cit_recommended": 5, "cit_dispatched": 2, "cit_on_scene": 2}
    assert all(isinstance(data["funnel"][k], int) for k in ("calls", "flagged", "cit_dispatched"))
    assert data["certifications"]["expiring"] == [{"officer_id": "O1", "expires_on": "2026-04-01"}]
    assert data["overrides"]["reasons"]["team_unavailable"] == 1

    rows = list(csv.reader(io.StringIO(out["csv"].read_text())))
    assert rows[0] == ["section", "metric", "value"]
    assert ["funnel", "calls", "9"] in rows and ["overrides", "not_followed", "2"] in rows

    page = out["html"].read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # Self-contained: no script, stylesheet or image fetched from anywhere.
    assert not re.search(r"<script[^>]+src\s*=", page, re.IGNORECASE)
    assert not re.search(r"<link[^>]+href\s*=\s*[\"']?https?:", page, re.IGNORECASE)
    # (plotly.js itself mentions its topojson CDN as a default for geo maps; the report draws none.)
    assert '<script src="https://cdn.plot.ly' not in page and "window.PlotlyConfig" in page
    assert "Plotly.newPlot" in page and len(page) > 1_000_000  # plotly.js is inline
    assert "2026-03-02 to 2026-03-03" in page


def test_report_to_stdout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(monkeypatch, f"sqlite:///{tmp_path}/empty.db", "--format", "json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["funnel"]["calls"] == 0 and data["certifications"]["provided"] is False


def test_report_rejects_a_reversed_period(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DISPATCH_BRIDGE_STORE__URL", f"sqlite:///{tmp_path}/r.db")
    assert main(["report", "--from", "2026-03-03", "--to", "2026-03-02", "--format", "csv"]) == 2
    assert "--to is before --from" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["report", "--from", "March", "--to", "2026-03-02"])
    assert not (tmp_path / "r.db").exists()  # nothing opened for a bad request
