"""Serve the Solara app (:mod:`channelsim.solara_app`) on this machine only, with nothing fetched from elsewhere.

:func:`serve` runs Solara's Starlette app under uvicorn on a socket bound to ``127.0.0.1`` (or the
``host`` given), behind :class:`LocalOnly`: the ``Host`` header must name this server (so a web page the
user visits cannot reach it through a DNS name rebound to 127.0.0.1), and a browser's ``Origin`` must be
this server's own for the websocket that drives the app and for any request other than GET/HEAD (so another
site cannot drive the app).  Before Solara is imported, :func:`offline_environment` makes it serve its
front-end from the installed ``solara-assets`` package (never a CDN), send no telemetry and run in production
mode.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import warnings
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]

#: Environment variable with the app's configuration (JSON), read by :func:`channelsim.solara_app.config`.
CONFIG_ENV = "CHANNELSIM_APP"

#: Solara settings (environment variables) that keep the app offline and local.
OFFLINE_SETTINGS = {
    "SOLARA_ASSETS_PROXY": "true",  # the browser loads /_solara/cdn/..., served from solara-assets' files
    # ... and a file missing from them is not fetched from jsdelivr: the "CDN" is a closed local port.
    "SOLARA_ASSETS_CDN": "http://127.0.0.1:9/",
    "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "false",  # no usage reports to mixpanel (nor api.ipify.org)
    "SOLARA_MODE": "production",  # no hot reload, no version check iframe to solara.dev
    "SOLARA_THEME_SHOW_BANNER": "false",
    "SOLARA_CHECK_HOOKS": "off",
}


def offline_environment(config: dict[str, Any]) -> dict[str, str]:
    """The environment variables for an offline, local Solara app serving ``config`` (see ``solara_app``)."""
    return {**OFFLINE_SETTINGS, "SOLARA_APP": "channelsim.solara_app", CONFIG_ENV: json.dumps(config),
            "SOLARA_SESSION_SECRET_KEY": secrets.token_hex(16)}


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """The ``Host`` header values the server answers: its address and the loopback names, with its port."""
    names = {"127.0.0.1", "localhost", "[::1]", host.lower()}
    if host in ("0.0.0.0", "::", ""):  # every interface: also this machine's own names
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
    names = {f"[{n}]" if ":" in n and not n.startswith("[") else n for n in names}
    return frozenset(f"{n}:{port}" for n in names) | (frozenset(names) if port == 80 else frozenset())


class LocalOnly:
    """ASGI middleware: refuse requests for another ``Host`` (421) or from another site's page (403).

    The ``Origin`` and ``Sec-Fetch-Site`` checks apply to websockets (which drive the app) and to requests
    other than ``GET``/``HEAD``, so following a link to the app from another page still opens it.

    Args:
        app: the ASGI app behind it.
        hosts: the ``Host`` values allowed (see :func:`allowed_hosts`).
    """

    def __init__(self, app: ASGIApp, hosts: frozenset[str]):
        self.app = app
        self.hosts = hosts

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """``(status, reason)`` when the request must be refused, else None."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "").strip().lower()
        if host not in self.hosts:
            return 421, f"this server answers for {', '.join(sorted(self.hosts))} only"
        if scope["type"] == "http" and scope.get("method") in ("GET", "HEAD"):
            return None  # reading a page (a link followed from elsewhere too): another site cannot read the answer
        origin = headers.get("origin")
        if origin is not None and origin.strip().lower() not in (f"http://{host}", f"https://{host}"):
            return 403, "cross-site request refused: the app's own pages only"
        site = headers.get("sec-fetch-site")
        if site is not None and site.strip().lower() not in ("same-origin", "none"):
            return 403, "cross-site request refused: the app's own pages only"
        return None

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refused = self.refusal(scope)
        if refused is None:
            await self.app(scope, receive, send)
            return
        status, reason = refused
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": reason[:120]})
            return
        body = reason.encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port=0``: a free port).

    Raises:
        OSError: the address cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve(sock: socket.socket, config: dict[str, Any], *, verbose: bool = False) -> None:
    """Serve the app on the bound ``sock`` until interrupted.

    Args:
        sock: from :func:`bind`.
        config: the app's configuration (``scenario``, ``sets``, ``months``, ``seed``, ``replications``).
        verbose: log every request to stderr.
    """
    os.environ.update(offline_environment(config))
    # Solara warns on every page load served over http to 127.0.0.1 that its cookie falls back to SameSite=Lax:
    # that is the setting wanted here (no iframe embedding).
    warnings.filterwarnings("ignore", message="Cookies with samesite=none require https")
    import solara.server.starlette as solara_starlette  # reads the settings above when imported
    import uvicorn

    host, port = sock.getsockname()[:2]
    app = LocalOnly(solara_starlette.app, allowed_hosts(host, port))
    cfg = uvicorn.Config(app, log_level="info" if verbose else "warning", access_log=verbose,
                         ws="websockets-sansio" if _has_sansio() else "websockets", lifespan="on")
    uvicorn.Server(cfg).run(sockets=[sock])


def _has_sansio() -> bool:
    try:
        import uvicorn.protocols.websockets.websockets_sansio_impl  # noqa: F401
    except ImportError:
        return False
    return True


__all__ = ["CONFIG_ENV", "OFFLINE_SETTINGS", "LocalOnly", "allowed_hosts", "bind", "offline_environment", "serve"]
