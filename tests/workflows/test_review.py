"""The merchant's actions on results, as the embedded UI calls them: scoped to the shop."""

from __future__ import annotations

import pytest

from shopify_app import credits
from shopify_app.models import LedgerKind, ReviewState, Shop
from shopify_app.workflows import review
from tests.workflows.conftest import Studio


@pytest.fixture
def reviewed(studio: Studio, ready_model):  # noqa: ANN001, ANN201
    model = ready_model()
    shoot = studio.create("catalog-shoot", catalog_model_id=model.id, product_ids=studio.products()[:1])
    studio.run()
    [image] = review.job_assets(studio.session, studio.shop, shoot.id)
    return shoot, image


def test_another_shops_results_are_not_found(studio: Studio, reviewed) -> None:  # noqa: ANN001
    shoot, image = reviewed
    other = Shop(domain="someone-else.myshopify.com")
    studio.session.add(other)
    studio.session.flush()
    for action in (lambda: review.set_review(studio.session, other, image.id, ReviewState.APPROVED),
                   lambda: review.set_alt_text(studio.session, other, image.id, "mine now"),
                   lambda: review.regenerate(studio.session, other, image.id),
                   lambda: review.publish_approved(studio.session, other, shoot.id),
                   lambda: review.undo(studio.session, other, shoot.id),
                   lambda: review.cancel(studio.session, other, shoot.id)):
        with pytest.raises(review.NotFound) as caught:
            action()
        assert caught.value.status == 404


def test_held_back_images_cannot_be_approved(studio: Studio, reviewed) -> None:  # noqa: ANN001
    _, image = reviewed
    image.held_reason = "The image is blank (a flat colour)."
    studio.session.flush()
    with pytest.raises(review.ReviewError) as caught:
        review.set_review(studio.session, studio.shop, image.id, "approved")
    assert caught.value.status == 409
    assert review.set_review(studio.session, studio.shop, image.id, "rejected").review_state == ReviewState.REJECTED


def test_alt_text_and_variant_are_validated(studio: Studio, reviewed) -> None:  # noqa: ANN001
    _, image = reviewed
    assert review.set_alt_text(studio.session, studio.shop, image.id, "  Olive  shirt\n on Amara ").alt_text == \
        "Olive shirt on Amara"
    with pytest.raises(review.ReviewError) as caught:
        review.set_alt_text(studio.session, studio.shop, image.id, "x" * 513)
    assert caught.value.status == 422
    assert review.set_variant(studio.session, studio.shop, image.id, "123").shopify_variant_id == \
        "gid://shopify/ProductVariant/123"
    with pytest.raises(review.ReviewError):
        review.set_variant(studio.session, studio.shop, image.id, "not-a-variant")


def test_regenerate_charges_a_new_try_on_and_rejects_the_old_image(studio: Studio, reviewed) -> None:  # noqa: ANN001
    _, image = reviewed
    before = studio.balance()
    job = review.regenerate(studio.session, studio.shop, image.id)
    studio.session.commit()
    assert job.workflow == "try-on" and job.credits_cost == 1 and studio.balance() == before - 1
    assert job.inputs["product_id"] == image.shopify_product_id and job.inputs["regenerates"] == image.id
    studio.session.refresh(image)
    assert image.review_state == ReviewState.REJECTED
    studio.run()
    job = studio.job(job.id)
    assert job.status == "SUCCESS" and job.stage == "review"
    [new] = review.job_assets(studio.session, studio.shop, job.id)
    assert new.shopify_product_id == image.shopify_product_id and new.id != image.id


def test_publishing_needs_an_approved_image(studio: Studio, reviewed) -> None:  # noqa: ANN001
    shoot, _ = reviewed
    with pytest.raises(review.ReviewError, match="no approved image"):
        review.publish_approved(studio.session, studio.shop, shoot.id)
    with pytest.raises(review.ReviewError, match="nothing this job published"):
        review.undo(studio.session, studio.shop, shoot.id)


def test_a_merchant_cancel_refunds_what_was_not_delivered(studio: Studio, ready_model) -> None:  # noqa: ANN001
    model = ready_model()
    shoot = studio.create("catalog-shoot", catalog_model_id=model.id, product_ids=studio.products(), num_images=2)
    review.cancel(studio.session, studio.shop, shoot.id)
    studio.session.commit()
    studio.run()
    shoot = studio.job(shoot.id)
    assert shoot.status == "FAILURE" and shoot.error_code == "cancelled" and shoot.credits_refunded == 6
    assert [r.amount for r in studio.ledger(LedgerKind.REFUND)] == [6]
    assert credits.balance(studio.session, studio.shop.id) == 100 - 4
    with pytest.raises(review.ReviewError):
        review.cancel(studio.session, studio.shop, shoot.id)
