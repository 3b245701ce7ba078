from __future__ import annotations

import pytest

from shopify_app.models import GenerationModel
from shopify_app.registry import OutputLimitExceeded, check_output_limits


def _model(**limits: int | None) -> GenerationModel:
    return GenerationModel(name="Fal try-on", provider="fal_standard", **limits)


def test_message_names_the_model() -> None:
    with pytest.raises(OutputLimitExceeded, match="generation model 'Fal try-on' cannot produce a 4096×10 image"):
        check_output_limits(_model(max_output_width=2048), 4096, 10)


def test_within_limits_passes() -> None:
    check_output_limits(_model(max_output_width=2048, max_output_height=2048, max_size_pixels=4_194_304), 2048, 2048)
    check_output_limits(_model(), 10_000, 10_000)  # no limits recorded


@pytest.mark.parametrize("width,height,needle", [
    (4096, 1024, "width 4096 px is over its maximum of 2048 px"),
    (1024, 3000, "height 3000 px is over its maximum of 2048 px"),
    (2048, 2048, "4,194,304 pixels is over its maximum of 3,000,000 pixels"),
    (0, 10, "must be positive, got 0×10"),
])
def test_over_a_limit_raises_with_a_clear_message(width: int, height: int, needle: str) -> None:
    with pytest.raises(OutputLimitExceeded) as exc:
        check_output_limits(_model(max_output_width=2048, max_output_height=2048, max_size_pixels=3_000_000),
                            width, height)
    assert needle in str(exc.value)
