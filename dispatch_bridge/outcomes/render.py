"""Format a report: JSON for tools, CSV for spreadsheets, one self-contained HTML file for the coordinator.

The HTML embeds plotly.js inline (no CDN, no network): the file opens from a USB stick in a meeting room.
"""

from __future__ import annotations

import csv
import html
import io
from typing import Any

import orjson
import plotly.graph_objects as go

from dispatch_bridge.outcomes.report import Report

_STEP_LABELS = {
    "calls": "All calls",
    "flagged": "Flagged as crisis",
    "cit_recommended": "CIT officer recommended",
    "cit_dispatched": "CIT officer dispatched",
    "cit_on_scene": "CIT officer on scene",
}
_STEPS = tuple(_STEP_LABELS)[1:]


def render_json(report: Report) -> str:
    return orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n"


# -- CSV -------------------------------------------------------------------------------------------------------


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        # A list of records: label each by its first field (unit id, call type, officer id).
        for item in value:
            label = str(next(iter(item.values())))
            rest = dict(list(item.items())[1:])
            _flatten(f"{prefix}[{label}]", rest, out)
    elif isinstance(value, list):
        out.append((prefix, "; ".join(str(item) for item in value)))
    else:
        out.append((prefix, "" if value is None else str(value)))


def render_csv(report: Report) -> str:
    """A long table (section, metric, value), one figure per row: opens in any spreadsheet and pivots."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("section", "metric", "value"))
    for section, value in report.items():
        if section in ("data_sources", "caveats"):
            for i, text in enumerate(value, 1):
                writer.writerow((section, str(i), text))
            continue
        rows: list[tuple[str, str]] = []
        _flatten("", value, rows)
        for metric, item in rows:
            writer.writerow((section, metric, item))
    return buffer.getvalue()


# -- HTML ------------------------------------------------------------------------------------------------------


def _figure_html(figure: go.Figure, first: bool) -> str:
    figure.update_layout(margin={"l": 40, "r": 20, "t": 50, "b": 40}, height=380, template="plotly_white")
    # plotly.js goes inline once, with the first chart; the others reuse it.
    return figure.to_html(full_html=False, include_plotlyjs=first, config={"displaylogo": False, "displayModeBar": False, "responsive": True})


def _count_axis(values: list[int]) -> dict[str, Any]:
    """A count axis: whole numbers only (no "0.5 calls" tick) and anchored at zero, even when all are zero."""
    top = max(values, default=0)
    axis: dict[str, Any] = {"rangemode": "tozero", "tickformat": ",d"}
    if top <= 10:  # plotly picks half steps on small ranges; above 10 its automatic ticks are whole numbers
        axis["dtick"] = 1
    if top == 0:
        axis["range"] = [0, 1]
    return axis


def _in_minutes(seconds: float | None) -> float | None:
    # None leaves a gap in the bar chart; 0 would draw "arrived at once" for calls with no arrival recorded.
    return None if seconds is None else seconds / 60


def _has_data(figure: go.Figure) -> bool:
    """False when the chart would draw nothing but empty axes (a quiet period)."""
    for trace in figure.data:
        if trace.type == "heatmap":
            if any(v is not None for row in trace.z or () for v in row):
                return True
            continue
        values = trace.x if trace.type == "funnel" or trace.orientation == "h" else trace.y
        if any(values or ()):
            return True
    return False


def _minutes(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds / 60:.1f} min"


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    if not rows:
        return "<p class='muted'>None in this period.</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _n(count: int, noun: str, plural: str | None = None) -> str:
    """'1 call', '3 calls': the page is read by people, not parsers."""
    return f"{count:,} {noun if count == 1 else (plural or noun + 's')}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}%"


def _charts(report: Report) -> list[tuple[str, str, go.Figure]]:
    funnel = report["funnel"]
    charts = []
    charts.append((
        "From call to CIT officer on scene",
        f"Of {_n(funnel['calls'], 'call')}, {funnel['flagged']:,} were flagged as a behavioral-health crisis "
        f"({_pct(funnel['rates']['flagged_of_calls'])}). A CIT officer was recommended on "
        f"{_n(funnel['cit_recommended'], 'call')}, dispatched on {funnel['cit_dispatched']:,} and on scene on "
        f"{funnel['cit_on_scene']:,} ({_pct(funnel['rates']['cit_on_scene_of_recommended'])} of those recommended).",
        go.Figure(go.Funnel(y=list(_STEP_LABELS.values()), x=[funnel[k] for k in _STEP_LABELS],
                            textinfo="value+percent initial")),
    ))
    for key, title in (("by_district", "Crisis calls by district"), ("by_shift", "Crisis calls by shift")):
        groups = list(funnel[key])
        figure = go.Figure([
            go.Bar(name=_STEP_LABELS[step], x=groups, y=[funnel[key][g][step] for g in groups]) for step in _STEPS
        ])
        figure.update_layout(barmode="group", title=title,
                             yaxis=_count_axis([funnel[key][g][step] for g in groups for step in _STEPS]))
        charts.append((title, "Each group shows how many flagged calls reached each step.", figure))

    times = report["response_times"]
    unit, cit = times["first_unit_on_scene"], times["first_cit_on_scene"]
    figure = go.Figure([
        go.Bar(name="Median", x=["First unit", "First CIT officer"],
               y=[_in_minutes(unit["median_seconds"]), _in_minutes(cit["median_seconds"])]),
        go.Bar(name="90th percentile", x=["First unit", "First CIT officer"],
               y=[_in_minutes(unit["p90_seconds"]), _in_minutes(cit["p90_seconds"])]),
    ])
    figure.update_layout(barmode="group", yaxis={"title": "minutes from call", "rangemode": "tozero"})
    charts.append((
        "Time to the scene",
        f"On flagged calls the first unit arrived after a median {_minutes(unit['median_seconds'])} "
        f"({_n(unit['calls'], 'call')}); the first CIT officer after a median {_minutes(cit['median_seconds'])} "
        f"({_n(cit['calls'], 'call')}). 90% of CIT arrivals took at most {_minutes(cit['p90_seconds'])}.",
        figure,
    ))

    overrides = report["overrides"]
    reasons = overrides["reasons"] | {"no reason recorded": overrides["no_reason_recorded"]}
    figure = go.Figure(go.Bar(x=list(reasons.values()), y=[k.replace("_", " ") for k in reasons], orientation="h"))
    figure.update_layout(xaxis=_count_axis(list(reasons.values())))
    charts.append((
        "When the recommendation was not followed",
        f"Dispatch followed the recommendation on {overrides['followed']} of {_n(overrides['judged'], 'call')} "
        f"({_pct(overrides['follow_rate'])}). Reasons given for the other {overrides['not_followed']}:",
        figure,
    ))

    missed = report["missed_at_intake"]
    rows = missed["by_initial_call_type"]
    figure = go.Figure([
        go.Bar(name="Never flagged", y=[r["initial_call_type"] for r in rows], x=[r["not_flagged"] for r in rows],
               orientation="h"),
        go.Bar(name="Flagged only later", y=[r["initial_call_type"] for r in rows],
               x=[r["flagged_later"] for r in rows], orientation="h"),
    ])
    figure.update_layout(barmode="stack", xaxis=_count_axis([r["not_flagged"] + r["flagged_later"] for r in rows]))
    charts.append((
        "Crisis calls the intake rules missed",
        f"{_n(missed['ended_as_crisis'], 'call')} ended as a crisis: {missed['not_flagged']:,} never flagged by "
        f"the bridge and {missed['flagged_later']:,} flagged only on a later update. By the call type they "
        "started as (where the rules could widen):",
        figure,
    ))

    coverage = report["coverage"]
    districts = list(coverage["districts"])
    shifts = list(report["funnel"]["by_shift"])
    z = [[coverage["districts"][d]["by_shift"][s]["mean_on_duty_cit"] for s in shifts] for d in districts]
    figure = go.Figure(go.Heatmap(
        x=shifts, y=districts, z=z, zmin=0, colorscale="Blues", colorbar={"title": "CIT on duty"},
        # The number in every cell: 0 officers (the finding that matters) is otherwise near-white, the same
        # as a cell without roster data.
        text=[["no data" if v is None else f"{v:g}" for v in row] for row in z], texttemplate="%{text}",
        hovertemplate="%{y}, %{x} shift: %{text}<extra></extra>",
    ))
    charts.append((
        "CIT coverage by district and shift",
        f"Average CIT officers on duty. The minimum is {coverage['minimum_per_district']} per district; "
        f"{_n(coverage['hours_below_minimum'], 'district-hour')} fell below it.",
        figure,
    ))
    return charts


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2rem auto;padding:0 1rem;
color:#1d2733;line-height:1.45}h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #d6dde5}
.muted{color:#5b6b7b}.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{background:#f2f6fa;border-radius:8px;
padding:.8rem 1.1rem;min-width:150px}.card b{display:block;font-size:1.6rem}table{border-collapse:collapse;
margin:.5rem 0}td,th{border:1px solid #d6dde5;padding:.3rem .7rem;text-align:left}th{background:#f2f6fa}
"""


def render_html(report: Report) -> str:
    """One self-contained HTML page: headline numbers, charts, tables, period, sources and caveats."""
    period = report["period"]
    funnel = report["funnel"]
    esc = html.escape
    cards = "".join(
        f"<div class='card'><b>{funnel[k]:,}</b>{esc(label)}</div>" for k, label in _STEP_LABELS.items()
    )
    sections = []
    plotly_included = False
    for title, text, figure in _charts(report):
        if _has_data(figure):
            chart = _figure_html(figure, first=not plotly_included)
            plotly_included = True
        else:  # empty axes say nothing to a reader; say it in words
            chart = "<p class='muted no-data'>No data for this chart in this period.</p>"
        sections.append(f"<h2>{esc(title)}</h2><p>{esc(text)}</p>{chart}")

    mobile = report["mobile_crisis"]
    missed = mobile["eligible_missed"]
    sections.append(
        "<h2>Mobile crisis teams</h2>"
        f"<p>A team was recommended on {_n(mobile['team_recommended'], 'call')} and went to "
        f"{mobile['team_dispatched_when_recommended']:,} of them ({_n(mobile['team_dispatched'], 'call')} with a team "
        f"in all). {_n(missed['total'], 'eligible call')} got no team because of:</p>"
        + _table(["Cause", "Calls"], [[k.replace("_", " "), v] for k, v in missed.items() if k != "total"])
    )
    coverage = report["coverage"]
    sections.append(
        "<h2>Hours below the CIT minimum</h2>"
        + _table(
            ["District", "Hours below minimum", "Hours with roster data", "Hours without data"],
            [[d, v["hours_below_minimum"], v["hours_with_data"], v["hours_without_data"]]
             for d, v in coverage["districts"].items()],
        )
    )
    certs = report["certifications"]
    if certs["provided"]:
        body = (f"<p>{_n(len(certs['expiring']), 'certification')} expiring in the {certs['window_days']} days "
                f"from {esc(certs['as_of'])}; {certs['expired']:,} already expired.</p>"
                + _table(["Officer", "Expires on"], [[c["officer_id"], c["expires_on"]] for c in certs["expiring"]]))
    else:
        body = "<p class='muted'>No certification records were supplied with this report.</p>"
    sections.append("<h2>Certifications expiring soon</h2>" + body)
    sections.append(
        "<h2>Candidates for the next CIT class</h2><p>Units that most often handled crisis calls without a "
        "CIT-certified officer on board.</p>"
        + _table(["Unit", "Crisis calls without CIT"],
                 [[c["unit_id"], c["crisis_calls_without_cit"]] for c in report["cit_class_candidates"]])
    )
    sources = "".join(f"<li>{esc(s)}</li>" for s in report["data_sources"])
    caveats = "".join(f"<li>{esc(c)}</li>" for c in report["caveats"])
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{esc(report['title'])}: {esc(period['from'])} to {esc(period['to'])}</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>{esc(report['title'])}</h1>"
        f"<p class='muted'>Period: {esc(period['from'])} to {esc(period['to'])} (inclusive, "
        f"{esc(period['timezone'])} time). Produced by dispatch-bridge from its outcome store "
        f"({esc(report['store']['backend'])}).</p>"
        f"<div class='cards'>{cards}</div>"
        + "".join(sections)
        + f"<h2>Where these numbers come from</h2><ul>{sources}</ul><h2>Read with care</h2><ul>{caveats}</ul>"
        "</body></html>\n"
    )
