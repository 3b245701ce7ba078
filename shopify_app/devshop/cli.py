"""`flask studio devshop ...`: drive the dev shop from a terminal while `make run` is up."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from shopify_app.devshop import control
from shopify_app.devshop.catalog import CATALOG

devshop_cli = AppGroup("devshop", help="The local dev shop (development only).")


@devshop_cli.command("fault")
@click.argument("kind", type=click.Choice(control.FAULT_KINDS))
@click.option("--count", default=1, show_default=True, type=click.IntRange(1, 1000))
@click.option("--operation", default=None, help="Only for this root field, e.g. productUpdate (or 'upload').")
@click.option("--status", default=None, type=click.IntRange(500, 599), help="HTTP status for HTTP_5XX faults.")
@click.option("--retry-after", default=None, type=float, help="Retry-After seconds for HTTP_429.")
@click.option("--delay", default=None, type=float, help="Seconds for SLOW.")
def fault(kind: str, count: int, operation: str | None, status: int | None,
          retry_after: float | None, delay: float | None) -> None:
    """Inject a fault into the next Admin API calls."""
    control.inject_fault(kind, count, operation, status, retry_after, delay)
    click.echo(f"{kind} x{count} queued" + (f" for {operation}" if operation else ""))


@devshop_cli.command("product")
@click.argument("handle", type=click.Choice([p.handle for p in CATALOG]))
@click.option("--title", default=None)
def product(handle: str, title: str | None) -> None:
    """Create a product and send the app a signed products/create webhook."""
    product_gid = control.create_product(handle, title)
    status = control.send_webhook("products/create", control.product_payload(product_gid),
                                  app=current_app._get_current_object())  # type: ignore[attr-defined]
    click.echo(f"{product_gid} created; products/create answered HTTP {status}")


@devshop_cli.command("calls")
def calls() -> None:
    """Summarise the Admin API calls the dev shop answered."""
    summary: dict[tuple[str, str], int] = {}
    for call in control.calls():
        key = (",".join(call["root_fields"]) or "-", call["outcome"])
        summary[key] = summary.get(key, 0) + 1
    for (fields, outcome), count in sorted(summary.items()):
        click.echo(f"{count:6d}  {outcome:16s} {fields}")
