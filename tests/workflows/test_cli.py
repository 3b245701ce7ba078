"""`flask studio shoot`: a catalog shoot from a terminal, followed with a progress bar."""

from __future__ import annotations

from shopify_app.models import LedgerKind
from tests.workflows.conftest import Studio


def test_shoot_from_the_terminal_publishes_and_says_where(studio: Studio, ready_model) -> None:  # noqa: ANN001
    model = ready_model()
    products = studio.products()[:2]
    studio.session.commit()
    runner = studio.app.test_cli_runner()
    numeric = products[1].rsplit("/", 1)[-1]
    result = runner.invoke(args=["studio", "shoot", "--shop", studio.shop.domain, "--model", model.id,
                                 "--products", f"{products[0]},{numeric}", "--publish", "direct", "--inline",
                                 "--timeout", "120"])
    assert result.exit_code == 0, result.output
    assert "2 product(s) × 1 image(s), 2 credits, publish: direct" in result.output
    assert "SUCCESS" in result.output
    for product in products:
        media = studio.our_media(product)
        assert len(media) == 1 and media[0]["status"] == "READY"
        assert f"→ {media[0]['gid']} on {product}" in result.output
    assert studio.ledger(LedgerKind.REFUND) == []


def test_shoot_refuses_unknown_shops_and_models(studio: Studio, ready_model) -> None:  # noqa: ANN001
    runner = studio.app.test_cli_runner()
    result = runner.invoke(args=["studio", "shoot", "--shop", "nope.myshopify.com", "--model", "0" * 26,
                                 "--products", "1", "--no-wait"])
    assert result.exit_code != 0 and "no shop" in result.output
    result = runner.invoke(args=["studio", "shoot", "--shop", studio.shop.domain, "--model", "0" * 26,
                                 "--products", "1", "--no-wait"])
    assert result.exit_code != 0 and "not found" in result.output
    result = runner.invoke(args=["studio", "shoot", "--shop", studio.shop.domain, "--model", "bad",
                                 "--products", "1", "--no-wait"])
    assert result.exit_code == 2 and "catalog_model_id" in result.output
