"""Spec → catalog model → shoot 3 products → review → publish → media READY → undo, on the dev shop."""

from __future__ import annotations

from shopify_app.models import AssetKind, CatalogModelStatus, LedgerKind, PushState, ReviewState
from shopify_app.workflows import review
from tests.workflows.conftest import Studio


def test_local_provider_end_to_end(studio: Studio, ready_model) -> None:  # noqa: ANN001
    model = ready_model()
    assert model.display_name  # coined by the studio
    assert studio.shop.default_catalog_model_id == model.id
    products = studio.products()
    before = {p: len(studio.our_media(p)) for p in products}

    shoot = studio.create("catalog-shoot", catalog_model_id=model.id, product_ids=products, num_images=2)
    assert shoot.credits_cost == 6
    studio.run()
    shoot = studio.job(shoot.id)
    assert shoot.status == "SUCCESS", shoot.error_message
    assert shoot.stage == "review"
    children = studio.children(shoot.id)
    assert len(children) == 3 and all(c.status == "SUCCESS" for c in children)
    assets = review.job_assets(studio.session, studio.shop, shoot.id)
    try_ons = [a for a in assets if a.kind == AssetKind.TRY_ON]
    assert len(try_ons) == 6
    assert all(a.eval_scores.get("colour_delta_e") is not None and a.held_reason is None for a in try_ons)
    assert {a.shopify_product_id for a in try_ons} == set(products)
    assert before == {p: 0 for p in products}

    # Review: approve one image per product, reject the other.
    for product in products:
        first, second = sorted((a for a in try_ons if a.shopify_product_id == product), key=lambda a: a.id)
        review.set_review(studio.session, studio.shop, first.id, ReviewState.APPROVED)
        review.set_review(studio.session, studio.shop, second.id, ReviewState.REJECTED)
    studio.session.commit()

    push = review.publish_approved(studio.session, studio.shop, shoot.id)
    studio.session.commit()
    studio.run()
    push = studio.job(push.id)
    assert push.status == "SUCCESS", push.error_message
    for product in products:
        media = studio.our_media(product)
        assert len(media) == 1 and media[0]["status"] == "READY"
    approved = [a for a in review.job_assets(studio.session, studio.shop, shoot.id)
                if a.review_state == ReviewState.APPROVED]
    assert all(a.push_state == PushState.READY and a.shopify_media_id for a in approved)

    undo = review.undo(studio.session, studio.shop, shoot.id)
    studio.session.commit()
    studio.run()
    assert studio.job(undo.id).status == "SUCCESS"
    assert all(studio.our_media(p) == [] for p in products)
    assert studio.ledger(LedgerKind.REFUND) == []
    assert studio.balance() == 100 - 4 - 6
    assert studio.session.get(type(model), model.id).status == CatalogModelStatus.READY
