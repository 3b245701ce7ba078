"""`flask studio create-api-key --shop DOMAIN [--name N]`: mint an API key and print it once."""

from __future__ import annotations

import click
from sqlalchemy import select

from shopify_app import db
from shopify_app.api.keys import create_api_key
from shopify_app.cli import register
from shopify_app.models import Shop


@click.command("create-api-key")
@click.option("--shop", "shop_domain", required=True, help="The shop's myshopify domain.")
@click.option("--name", default="", help="A label for the key (who or what uses it).")
@click.option("--rate-limit", type=click.IntRange(min=1), default=None,
              help="Requests per minute (default 120).")
def create_api_key_command(shop_domain: str, name: str, rate_limit: int | None) -> None:
    """Create an API key for a shop. The key is printed once and only its hash is stored."""
    domain = shop_domain.strip().lower()
    with db.transaction() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == domain))
        if shop is None:
            raise click.ClickException(f"no shop {domain!r} has installed Catalog Studio")
        if shop.uninstalled_at is not None:
            raise click.ClickException(f"{domain} has uninstalled Catalog Studio")
        new = create_api_key(session, shop, name=name, rate_limit_per_minute=rate_limit)
    click.echo(f"API key for {domain} (client {new.client.id}, {new.client.rate_limit_per_minute}/min):")
    click.echo(new.key)
    click.echo("Store it now: it is not shown again. Send it as `Authorization: Bearer <key>`.", err=True)


register(create_api_key_command)
