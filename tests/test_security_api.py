"""The HTTP API lets no one in without a bearer token: every route but the probes, wrong or missing gives a
bare 401, several tokens work at once (rotation), a mounted token file works, and with no token the API is
closed and the service says so at start.

Routes are enumerated from the application itself, so a route added later is covered without editing this.
"""

from __future__ import annotations

import asyncio

import pytest

from dispatch_bridge.api.app import build_app
from dispatch_bridge.service import Service
from tests.harness import settings_for
from tests.proc import BridgeProcess, process_settings

PROBES = {"/livez", "/readyz"}
OLD, NEW = "old-token-7f3a9c2e51", "new-token-0b64d1e8aa"


def _service(broker, unique, tmp_path, **api) -> Service:
    return Service(settings_for(broker, unique, tmp_path, api=api))


def _routes(app) -> list[tuple[str, str]]:
    """Every (method, concrete path) the app serves, with path parameters filled in."""
    out = []
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        info = route.resource.get_info()
        path = info.get("path") or info["formatter"].replace("{incident_id}", "INC-1")
        out.append((route.method, path))
    return out


async def _refused(client, method: str, path: str, headers: dict[str, str]) -> bytes:
    async with client.request(method, path, headers=headers, json={"reason_code": "other"}) as response:
        body = await response.read()
        assert response.status == 401, (method, path, headers, response.status)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        return body


BAD_AUTH = [
    {},
    {"Authorization": ""},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer "},
    {"Authorization": "Bearer wrong-token"},
    {"Authorization": f"Bearer {NEW}x"},
    {"Authorization": f"Bearer {NEW[:-1]}"},
    {"Authorization": f"Bearer {NEW.upper()}"},
    {"Authorization": f"Basic {NEW}"},
    {"Authorization": NEW},
    {"Authorization": f"Token {NEW}"},
    {"Authorization": f"Bearer {OLD},{NEW}"},
    {"X-Api-Key": NEW},
]


async def test_every_route_but_the_probes_refuses_a_missing_or_wrong_token_with_a_bare_401(
        aiohttp_client, broker, unique, tmp_path):
    service = _service(broker, unique, tmp_path, token=NEW)
    app = build_app(service)
    client = await aiohttp_client(app)
    routes = [r for r in _routes(app) if r[1] not in PROBES and r[1] != "/metrics"]
    assert len(routes) >= 7, routes  # the enumeration itself works
    bodies = set()
    for method, path in [*routes, ("GET", "/v1/no-such-route"), ("DELETE", "/v1/roster")]:
        for headers in BAD_AUTH:
            bodies.add(await _refused(client, method, path, headers))
    # The same few bytes whatever was asked: no route, token or reason disclosed.
    assert len(bodies) == 1, bodies
    (body,) = bodies
    assert len(body) < 40 and b"token" not in body.lower() and NEW.encode() not in body
    # A token in the query string is not a bearer token.
    await _refused(client, "GET", f"/v1/roster?access_token={NEW}", {})
    assert service.metrics.auth_failures._value.get() >= len(routes) * len(BAD_AUTH)
    # And the right token opens every one of them (proves the refusals above were about the token).
    async with client.get("/v1/roster", headers={"Authorization": f"Bearer {NEW}"}) as response:
        assert response.status == 200


async def test_probes_are_open_and_metrics_open_unless_protected(aiohttp_client, broker, unique, tmp_path):
    open_client = await aiohttp_client(build_app(_service(broker, unique, tmp_path, token=NEW)))
    for path in ("/livez", "/readyz", "/metrics"):
        async with open_client.get(path) as response:
            assert response.status != 401, path
    async with open_client.get("/livez") as response:
        assert response.status == 200
    protected = await aiohttp_client(build_app(_service(broker, unique, tmp_path, token=NEW, protect_metrics=True)))
    await _refused(protected, "GET", "/metrics", {})
    await _refused(protected, "GET", "/metrics", {"Authorization": "Bearer nope"})
    async with protected.get("/metrics", headers={"Authorization": f"Bearer {NEW}"}) as response:
        assert response.status == 200 and b"dispatch_bridge_" in await response.read()
    for path in PROBES:
        async with protected.get(path) as response:
            assert response.status != 401, path


async def test_several_tokens_work_at_once_for_rotation(aiohttp_client, broker, unique, tmp_path):
    client = await aiohttp_client(build_app(_service(broker, unique, tmp_path, token=f" {OLD} , {NEW} ,")))
    for token in (OLD, NEW):
        async with client.get("/v1/rules", headers={"Authorization": f"Bearer {token}"}) as response:
            assert response.status == 200, token
    await _refused(client, "GET", "/v1/rules", {"Authorization": "Bearer "})
    await _refused(client, "GET", "/v1/rules", {"Authorization": "Bearer ,"})


async def test_a_mounted_token_file_holds_one_token_per_line_and_wins_over_the_variable(
        aiohttp_client, broker, unique, tmp_path):
    secret = tmp_path / "api-tokens"
    secret.write_text(f"{OLD}\n\n  {NEW}  \n", encoding="utf-8")
    client = await aiohttp_client(build_app(_service(broker, unique, tmp_path, token="from-the-env",
                                                     token_file=str(secret))))
    for token in (OLD, NEW):
        async with client.get("/v1/coverage", headers={"Authorization": f"Bearer {token}"}) as response:
            assert response.status == 200, token
    await _refused(client, "GET", "/v1/coverage", {"Authorization": "Bearer from-the-env"})
    await _refused(client, "GET", "/v1/coverage", {"Authorization": "Bearer "})


async def test_no_token_configured_keeps_the_api_closed(aiohttp_client, broker, unique, tmp_path):
    for api in ({}, {"token": ""}, {"token": " , "}):
        client = await aiohttp_client(build_app(_service(broker, unique, tmp_path, **api)))
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer anything"}):
            await _refused(client, "GET", "/v1/roster", headers)
        async with client.get("/livez") as response:
            assert response.status == 200


async def test_the_service_says_at_start_that_the_api_is_closed(broker, unique, tmp_path):
    bridge = BridgeProcess(process_settings(broker, unique, tmp_path), tmp_path / "bridge.log").start()
    try:
        async with asyncio.timeout(30):
            while not bridge.events("api_closed"):
                assert bridge.returncode is None, bridge.output()[-2000:]
                await asyncio.sleep(0.1)
            while await bridge.probe("/livez") is None:
                await asyncio.sleep(0.1)
        (warning,) = bridge.events("api_closed")
        assert warning["level"] == "warning" and "TOKEN" in warning["reason"]
        status, body = await bridge.get("/v1/roster", token="anything")
        assert status == 401
    finally:
        bridge.terminate()
        assert await bridge.wait_exit(20) == 0
        bridge.ensure_stopped()


@pytest.mark.parametrize("header", ["Bearer  " + NEW, "bearer " + NEW, "BEARER " + NEW])
async def test_scheme_is_case_insensitive_and_spacing_tolerated(aiohttp_client, broker, unique, tmp_path, header):
    # RFC 7235: the auth scheme is case-insensitive. Lenient here, strict on the token itself (tested above).
    client = await aiohttp_client(build_app(_service(broker, unique, tmp_path, token=NEW)))
    async with client.get("/v1/rules", headers={"Authorization": header}) as response:
        assert response.status == 200
