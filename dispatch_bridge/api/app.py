"""The HTTP surface on one port: probes, metrics, and read-only views for dispatch and the coordinator.

No globals: the service lives under a typed ``AppKey``. Every route is listed in ``deploy/openapi.yaml``;
a test fails when one is added without being documented.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from dispatch_bridge.api.auth import auth_middleware, load_tokens
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
    return _json(request.app[SERVICE].rules.status())


async def post_rules_reload(request: web.Request) -> web.Response:
    status = request.app[SERVICE].reload_rules("api")
    return _json(status)


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
    return app
