"""``channelsim app [SCENARIO]``: serve the what-if page (see :mod:`channelsim.app` and ``docs/APP.md``).

``channelsim.cli`` calls :func:`register` to add the command to its typer app.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

SET_HELP = r"Override a field of the base scenario: a.b.c=VALUE, VALUE parsed as YAML. Repeatable."


def app_cmd(
    scenario: Annotated[str, typer.Argument(help="Base scenario: a file or a name in scenarios/.")] = "baseline",
    port: Annotated[int, typer.Option("--port", help="Port (0: pick a free one; the URL is printed).")] = 8050,
    host: Annotated[str, typer.Option("--host", help="Address to bind (the page is for this machine).")] = "127.0.0.1",
    seed: Annotated[int, typer.Option("--seed", "-s", help="The page's initial seed.")] = 0,
    replications: Annotated[int, typer.Option("--replications", "-r", help="The page's initial replications.")] = 3,
    months: Annotated[int | None, typer.Option("--months", help="Reported months (replaces time.months).")] = None,
    sets: Annotated[list[str] | None, typer.Option("--set", help=SET_HELP)] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Log every request to stderr.")] = False,
) -> None:
    """Serve the what-if page: levers, a Run button, KPIs and charts against the baseline with 95 % CIs."""
    from sim.errors import ScenarioError

    from .app import MAX_REPLICATIONS, make_server
    from .cli import build_scenario  # the plugin runs inside the command line: reuse its scenario loading

    if not 0 <= port <= 65535:
        typer.echo(f"error: --port {port}: allowed: 0 (a free port) to 65535", err=True)
        raise typer.Exit(2)
    if seed < 0 or not 1 <= replications <= MAX_REPLICATIONS:
        typer.echo(f"error: --seed must be >= 0 and --replications 1..{MAX_REPLICATIONS}", err=True)
        raise typer.Exit(2)
    try:
        sc, path = build_scenario(scenario, sets or [], months)
    except ScenarioError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    try:
        server = make_server(sc, host, port, label=sc.name, seed=seed, replications=replications, verbose=verbose)
    except OSError as err:
        typer.echo(f"error: cannot listen on {host}:{port}: {err.strerror or err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"channelsim app: {sc.name} ({path}) at {server.url}  (Ctrl-C to stop)")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def register(app: typer.Typer) -> None:
    """Add ``channelsim app`` to the command line."""
    app.command("app")(app_cmd)


__all__ = ["app_cmd", "register"]
