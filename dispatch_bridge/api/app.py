"""The HTTP surface on one port: probes, metrics, and read-only views for dispatch and the coordinator.

No globals: the service lives under a typed ``AppKey``. Every route is listed in ``deploy/openapi.yaml``;
a test fails when one is added without being documented.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from dispatch_bridge.api.auth import auth_middleware, load_tokens
from dispatch_bridge.feedback import StoreUnavailableError
from dispatch_bridge.service import Service

SERVICE = web.AppKey("service", Service)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data, default=str), status=status, content_type="application/json")


async def livez(request: web.Request) -> web.Response:
    ok, detail = request.app[SERVICE].live()
    return _json({"status": "ok" if ok else "stalled", **detail}, 200 if ok else 503)


async def readyz(request: web.Request) -> web.Response:
    ok, detail = request.app[SERVICE].ready()
    return _json({"status": "ready" if ok else "not_ready", **detail}, 200 if ok else 503)


async def get_incident(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    entry = service.processor.book.get(request.match_info["incident_id"])
    if entry is None:
        raise web.HTTPNotFound(text='{"error": "incident not known to this instance"}',
                               content_type="application/json")
    assessment = entry.assessment
    return _json({
        "incident_id": entry.event.incident.id,
        "revision": entry.event.incident.revision,
        "event_type": entry.event.event_type,
        "assessment": {
            "crisis": assessment.crisis,
            "score": assessment.score,
            "response": assessment.response,
            "safety_flags": list(assessment.safety_flags),
            "reasons": [{"rule": r.rule, "because": r.because, "evidence": r.evidence} for r in assessment.reasons],
            "ruleset_version": assessment.ruleset_version,
        },
        "recommendation": entry.recommendation,
    })


async def get_roster(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    return _json({"units": service.roster.view(service.clock())})


async def get_coverage(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    return _json(service.roster.coverage(service.clock()))


async def get_rules(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    status = service.rules.status()
    status["shadow"] = service.shadow.status() if service.shadow is not None else None
    return _json(status)


async def post_rules_reload(request: web.Request) -> web.Response:
    status = request.app[SERVICE].reload_rules("api")
    return _json(status)


async def post_feedback(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    try:
        payload = await request.json(loads=orjson.loads)
        feedback = service.feedback.from_api(request.match_info["incident_id"], payload)
    except ValueError as exc:  # messages from validation never echo the submitted text
        return _json({"error": str(exc) if not isinstance(exc, orjson.JSONDecodeError) else "invalid JSON"}, 400)
    try:
        await service.feedback.record(feedback)
    except StoreUnavailableError as exc:
        return _json({"error": str(exc)}, 503)
    return _json({"incident_id": feedback.incident_id, "reason_code": feedback.reason_code,
                  "source": feedback.source, "at": feedback.at}, 201)


async def get_report_summary(request: web.Request) -> web.Response:
    from dispatch_bridge.outcomes import build_report  # the report pulls in more than the hot path needs

    service = request.app[SERVICE]
    try:
        start = dt.date.fromisoformat(request.query["from"])
        end = dt.date.fromisoformat(request.query["to"])
    except (KeyError, ValueError):
        return _json({"error": "query parameters from and to are required, as YYYY-MM-DD"}, 400)
    if end < start:
        return _json({"error": "to must not be before from"}, 400)
    assert service.store is not None
    personnel = service.roster.personnel_records()
    report = await build_report(service.store, start, end, personnel=personnel or None,
                                coverage_min=service.settings.roster.coverage_min_per_district,
                                as_of=service.clock().date())
    return _json(report)


def build_app(service: Service) -> web.Application:
    settings = service.settings.api
    tokens = load_tokens(settings)
    app = web.Application(middlewares=[auth_middleware(tokens, settings.protect_metrics,
                                                       service.metrics.auth_failures.inc)],
                          client_max_size=64 * 1024)
    app[SERVICE] = service
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", make_aiohttp_handler(service.metrics.registry))
    app.router.add_get("/v1/incidents/{incident_id}", get_incident)
    app.router.add_get("/v1/roster", get_roster)
    app.router.add_get("/v1/coverage", get_coverage)
    app.router.add_get("/v1/rules", get_rules)
    app.router.add_post("/v1/rules/reload", post_rules_reload)
    app.router.add_post("/v1/incidents/{incident_id}/feedback", post_feedback)
    app.router.add_get("/v1/reports/summary", get_report_summary)
    return app
