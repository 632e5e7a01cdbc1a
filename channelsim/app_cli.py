"""``channelsim app [SCENARIO]``: serve the Solara app (what-if and model views; see ``docs/APP.md``).

``channelsim.cli`` calls :func:`register` to add the command to its typer app.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

HOST_HELP = "Loopback address to bind (127.0.0.1, ::1 or localhost): the app has no log-in."
SET_HELP = r"Override a field of the base scenario: a.b.c=VALUE, VALUE parsed as YAML. Repeatable."


def _complete_scenario(incomplete: str) -> list[str]:
    """Shell completion of the scenario argument (``channelsim.cli.complete_scenario``, imported when asked)."""
    from .cli import complete_scenario

    return complete_scenario(incomplete)


def app_cmd(
    scenario: Annotated[str, typer.Argument(help="Base scenario: a file or a name in scenarios/.",
                                            autocompletion=_complete_scenario)] = "baseline",
    port: Annotated[int, typer.Option("--port", help="Port (0: pick a free one; the URL is printed).")] = 8050,
    host: Annotated[str, typer.Option("--host", help=HOST_HELP)] = "127.0.0.1",
    seed: Annotated[int, typer.Option("--seed", "-s", help="The page's initial seed.")] = 0,
    replications: Annotated[int, typer.Option("--replications", "-r", help="The page's initial replications.")] = 3,
    months: Annotated[int | None, typer.Option("--months", help="Reported months (replaces time.months).")] = None,
    sets: Annotated[list[str] | None, typer.Option("--set", help=SET_HELP)] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Log every request to stderr.")] = False,
) -> None:
    """Serve the Solara app on this machine: the what-if view and the model view (SolaraViz)."""
    from sim.errors import ScenarioError

    from .app import MAX_REPLICATIONS
    from .app_server import bind, serve
    from .cli import build_scenario  # the plugin runs inside the command line: reuse its scenario loading

    if not 0 <= port <= 65535:
        typer.echo(f"error: --port {port}: allowed: 0 (a free port) to 65535", err=True)
        raise typer.Exit(2)
    if seed < 0 or not 1 <= replications <= MAX_REPLICATIONS:
        typer.echo(f"error: --seed must be >= 0 and --replications 1..{MAX_REPLICATIONS}", err=True)
        raise typer.Exit(2)
    if not _loopback(host):
        typer.echo(f"error: --host {host}: allowed: a loopback address (127.0.0.1, ::1 or localhost); the app has "
                   "no log-in, so it is served to this machine only", err=True)
        raise typer.Exit(2)
    try:
        sc, path = build_scenario(scenario, sets or [], months)
    except ScenarioError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    try:
        sock = bind("127.0.0.1" if host.lower() == "localhost" else host.strip("[]"), port)
    except OSError as err:
        typer.echo(f"error: cannot listen on {host}:{port}: {err.strerror or err}", err=True)
        raise typer.Exit(2) from None
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    typer.echo(f"channelsim app: {sc.name} ({path}) at http://{shown}:{bound_port}/  "
               f"(model view: /model; Ctrl-C to stop)")
    sys.stdout.flush()
    config = {"scenario": str(path), "sets": list(sets or []), "months": months, "seed": seed,
              "replications": replications}
    try:
        serve(sock, config, verbose=verbose)
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()


def _loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def register(app: typer.Typer) -> None:
    """Add ``channelsim app`` to the command line."""
    app.command("app")(app_cmd)


__all__ = ["app_cmd", "register"]
