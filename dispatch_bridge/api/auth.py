"""Bearer-token authentication: every route but the probes needs a token; wrong or missing gives 401, nothing else.

Several tokens may be valid at once (rotation). Comparison is constant-time. With no token configured the API
stays closed (only /livez and /readyz answer) and the service says so at start.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

from dispatch_bridge.api.config import ApiSettings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

OPEN_PATHS = frozenset({"/livez", "/readyz"})


def load_tokens(settings: ApiSettings) -> tuple[bytes, ...]:
    raw: list[str] = []
    if settings.token_file is not None:
        raw += settings.token_file.read_text(encoding="utf-8").splitlines()
    elif settings.token is not None:
        raw += settings.token.get_secret_value().split(",")
    return tuple(t.strip().encode() for t in raw if t.strip())


def auth_middleware(tokens: tuple[bytes, ...], protect_metrics: bool,
                    on_refused: Callable[[], None]) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    open_paths = OPEN_PATHS if protect_metrics else OPEN_PATHS | {"/metrics"}

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in open_paths or _authorized(request.headers.get("Authorization", ""), tokens):
            return await handler(request)
        on_refused()
        raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Bearer realm="dispatch-bridge"'})

    return middleware


def _authorized(header: str, tokens: tuple[bytes, ...]) -> bool:
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented or not tokens:
        return False
    candidate = presented.strip().encode()
    # Compare against every token, without an early exit, so timing says nothing about which one matched.
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(candidate, token)
    return matched
