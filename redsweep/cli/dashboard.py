"""``redsweep dashboard``, ``report`` and ``watch``: seeing a sweep (:mod:`redsweep.dashboard`,
imported only when one of them runs)."""

from __future__ import annotations

from pathlib import Path

import click

from redsweep.cli.context import Context, pass_ctx, redis_option
from redsweep.errors import RedsweepError


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; any but a loopback one requires the printed token.",
)
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free port; the URL printed says which).",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the dashboard in a browser.")
@redis_option
@pass_ctx
def dashboard(obj: Context, host: str, port: int, open_browser: bool) -> None:
    """A live web dashboard of every sweep: panels, runs, controls (Ctrl+C stops it)."""
    from redsweep.dashboard.serve import serve

    serve(
        obj.redis_url,
        host,
        port,
        open_browser=open_browser,
        echo=lambda line: click.echo(line) or None,
    )


@click.command()
@click.argument("sweep_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The HTML file to write (default: SWEEP_ID.html).",
)
@redis_option
@pass_ctx
def report(obj: Context, sweep_id: str, output: Path | None) -> None:
    """Write the sweep's panels and runs as one self-contained HTML file."""
    from redsweep.dashboard.serve import report_html

    html = report_html(obj.redis_url, sweep_id)
    target = output or Path(f"{sweep_id.rsplit('/', 1)[-1]}.html")
    try:
        target.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise RedsweepError(f"cannot write {target}: {exc.strerror or exc}") from None
    click.echo(f"wrote {target} ({len(html.encode()) / 1e6:.1f} MB)")


@click.command()
@click.argument("sweep_id")
@redis_option
@pass_ctx
def watch(obj: Context, sweep_id: str) -> None:
    """Follow a sweep in the terminal until it is over (q or Ctrl+C quits)."""
    from redsweep.dashboard.terminal import watch as run_watch
    from redsweep.results import Api

    with Api(obj.redis_url) as api:
        run_watch(api, sweep_id)


COMMANDS = (dashboard, report, watch)
