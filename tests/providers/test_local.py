"""The local preview renderer and its provider adapter."""

from __future__ import annotations

import hashlib
import io
import random

import pytest
from PIL import Image, ImageDraw

from shopify_app.images.storage import LocalStorage
from shopify_app.models.enums import ProviderTaskStatus
from shopify_app.providers import get_provider
from shopify_app.providers.base import (
    Capability,
    ContentError,
    GenerationOptions,
    Identity,
    ImageInput,
    ModelSpec,
    Provider,
    TaskState,
)
from shopify_app.providers.local import LocalProvider
from shopify_app.providers.local_render import (
    PortraitSpec,
    build_for,
    garment_colour,
    lift_garment,
    output_size,
    render_portrait,
)

SPEC = ModelSpec(gender="FEMALE", ethnicity="East Asian", body_type="athletic", age_range="25-34")


def garment_photo(colour: tuple[int, int, int] = (30, 70, 170), background: tuple[int, int, int] = (248, 248, 246),
                  fmt: str = "JPEG") -> bytes:
    """A flat-lay T-shirt on a plain studio background, with a white print on its chest."""
    image = Image.new("RGB", (800, 800), background)
    draw = ImageDraw.Draw(image)
    draw.polygon([(250, 150), (330, 120), (400, 160), (470, 120), (550, 150), (700, 280), (620, 360), (560, 310),
                  (560, 700), (240, 700), (240, 310), (180, 360), (100, 280)], fill=colour)
    draw.ellipse((360, 250, 440, 330), fill=background)  # the print, enclosed by the shirt
    out = io.BytesIO()
    image.save(out, fmt, quality=92)
    return out.getvalue()


def provider(settings, **config: object) -> LocalProvider:  # noqa: ANN001
    built = get_provider("local", {"null_latency": True, **config}, settings)
    assert isinstance(built, LocalProvider)
    return built


def run(p: LocalProvider, submitted) -> list:  # noqa: ANN001
    state = TaskState(submitted.upstream_id, submitted.state)
    result = p.poll(state)
    assert result.status is ProviderTaskStatus.SUCCEEDED
    return p.fetch_outputs(state)


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------------ protocol


def test_local_is_a_provider_with_both_capabilities(settings) -> None:  # noqa: ANN001
    p = provider(settings)
    assert isinstance(p, Provider)
    assert {Capability.MODEL_GENERATION, Capability.TRY_ON} <= p.capabilities


def test_null_latency_completes_on_the_first_poll_with_an_identity(settings) -> None:  # noqa: ANN001
    p = provider(settings)
    submitted = p.submit_model_generation(SPEC, GenerationOptions(seed=11))
    assert submitted.next_poll_in == 0
    result = p.poll(TaskState(submitted.upstream_id, submitted.state))
    assert result.status is ProviderTaskStatus.SUCCEEDED
    assert result.identity == Identity(provider_model_id="local:FEMALE:athletic:11")
    [output] = p.fetch_outputs(TaskState(submitted.upstream_id, submitted.state))
    assert output.content_type == "image/png" and (output.width, output.height) == (1024, 1536)
    assert decoded(output.data).size == (1024, 1536)


def test_without_null_latency_it_runs_for_a_moment_first(settings) -> None:  # noqa: ANN001
    now = [1000.0]
    p = LocalProvider(get_provider("local", {}, settings).config, settings, clock=lambda: now[0])
    submitted = p.submit_model_generation(SPEC, GenerationOptions(seed=1))
    state = TaskState(submitted.upstream_id, submitted.state)
    first = p.poll(state)
    assert first.status is ProviderTaskStatus.RUNNING and first.next_poll_in and first.next_poll_in > 0
    now[0] += 10
    assert p.poll(state).status is ProviderTaskStatus.SUCCEEDED


def test_outputs_survive_for_another_worker_and_cancel_removes_them(settings) -> None:  # noqa: ANN001
    p = provider(settings)
    submitted = p.submit_model_generation(SPEC, GenerationOptions(num_images=2))
    other_worker = provider(settings)
    state = TaskState(submitted.upstream_id, submitted.state)
    assert len(other_worker.fetch_outputs(state)) == 2
    other_worker.cancel(state)
    with pytest.raises(Exception) as caught:
        other_worker.fetch_outputs(state)
    assert getattr(caught.value, "code", "") == "output_missing"


# ------------------------------------------------------------------------------ portraits


def test_same_seed_same_bytes_and_different_seed_different_bytes(settings) -> None:  # noqa: ANN001
    p = provider(settings)
    a = run(p, p.submit_model_generation(SPEC, GenerationOptions(seed=42)))[0].data
    b = run(p, p.submit_model_generation(SPEC, GenerationOptions(seed=42)))[0].data
    c = run(p, p.submit_model_generation(SPEC, GenerationOptions(seed=43)))[0].data
    assert digest(a) == digest(b)
    assert digest(a) != digest(c)


def test_no_seed_is_derived_from_the_spec_deterministically(settings) -> None:  # noqa: ANN001
    p = provider(settings)
    a = run(p, p.submit_model_generation(SPEC, GenerationOptions()))[0].data
    b = run(p, p.submit_model_generation(SPEC, GenerationOptions()))[0].data
    assert digest(a) == digest(b)


@pytest.mark.parametrize(
    ("options", "spec_changes", "size"),
    [
        (GenerationOptions(width=768, height=1024), {}, (768, 1024)),
        (GenerationOptions(aspect_ratio="1:1"), {}, (1536, 1536)),
        (GenerationOptions(aspect_ratio="16:9"), {}, (1536, 864)),
        (GenerationOptions(aspect_ratio="3:4", width=900), {}, (900, 1200)),
        (GenerationOptions(), {"aspect_ratio": "4:5", "resolution": "1K"}, (819, 1024)),
        (GenerationOptions(), {}, (1024, 1536)),
    ],
)
def test_requested_size_and_aspect_ratio_are_honoured(settings, options, spec_changes, size) -> None:  # noqa: ANN001
    import dataclasses

    p = provider(settings)
    spec = dataclasses.replace(SPEC, **spec_changes)
    [output] = run(p, p.submit_model_generation(spec, options))
    assert decoded(output.data).size == size


def test_output_size_is_clamped() -> None:
    assert output_size(10_000, 20_000) == (2048, 4096)
    assert output_size(width=100, height=100) == (256, 256)
    assert output_size(aspect_ratio="nonsense") == (1024, 1536)


@pytest.mark.parametrize(
    ("text", "name"),
    [("slim", "Slim"), ("Athletic", "Athletic"), ("plus size", "Plus-size"), ("Plus-Size", "Plus-size"),
     ("hourglass", "Curvy"), ("muscular", "Athletic"), ("petite", "Slim"), ("mystery", "Average"), ("", "Average")],
)
def test_body_types_map_sensibly(text: str, name: str) -> None:
    assert build_for(text).name == name


def _silhouette_width(image: Image.Image, y_fraction: float) -> int:
    """Width of the figure (pixels unlike the backdrop) across one row."""
    row = image.convert("RGB").crop((0, int(image.height * y_fraction), image.width, int(image.height * y_fraction) + 1))
    background = row.getpixel((5, 0))
    return sum(1 for p in row.get_flattened_data() if sum(abs(a - b) for a, b in zip(p, background, strict=True)) > 30)


def test_body_types_give_different_figures() -> None:
    spec = {name: PortraitSpec("FEMALE", name) for name in ("slim", "average", "curvy", "plus-size")}
    images = {name: render_portrait((512, 768), s, 5) for name, s in spec.items()}
    hashes = {name: digest(im.tobytes()) for name, im in images.items()}
    assert len(set(hashes.values())) == 4
    hips = {name: _silhouette_width(im, 0.48) for name, im in images.items()}
    assert hips["slim"] < hips["average"] < hips["curvy"] < hips["plus-size"]


def test_the_portrait_carries_a_preview_label() -> None:
    from shopify_app.providers.local_render import build_for as b
    from shopify_app.providers.local_render import spec_lines

    lines = spec_lines(PortraitSpec("FEMALE", "curvy", "Latina", "35-44"), b("curvy"), 9, (1024, 1536))
    assert lines[0] == "Preview renderer"
    assert "Curvy" in lines[1] and "35-44" in lines[2] and "Latina" in lines[2]


# ------------------------------------------------------------------------------ try-on


def _torso_colour(image: Image.Image) -> tuple[int, int, int]:
    """The median colour of the torso region (centre column band, chest to waist)."""
    w, h = image.size
    region = image.convert("RGB").crop((int(w * 0.44), int(h * 0.30), int(w * 0.56), int(h * 0.42)))
    pixels = list(region.get_flattened_data())
    return tuple(sorted(c)[len(c) // 2] for c in zip(*pixels, strict=True))  # type: ignore[return-value]


def test_lift_garment_removes_the_background_and_keeps_an_enclosed_print() -> None:
    garment = lift_garment(garment_photo())
    assert garment.mode == "RGBA"
    assert garment.size[0] == pytest.approx(600, abs=12) and garment.size[1] == pytest.approx(580, abs=12)
    assert garment.getpixel((2, garment.height - 2))[3] < 30  # outside the shirt: transparent
    assert garment.getpixel((garment.width // 2, garment.height // 2 + 100))[3] > 240  # the shirt
    # The white print is inside the garment, not background: it stays opaque.
    assert garment.getpixel((400 - 100, 290 - 120))[3] > 200
    assert garment_colour(garment) == pytest.approx((30, 70, 170), abs=10)


@pytest.mark.parametrize("colour", [(30, 70, 170), (190, 30, 40), (40, 140, 60)])
def test_try_on_carries_the_garment_colour_onto_the_figure(settings, colour) -> None:  # noqa: ANN001
    p = provider(settings)
    portrait = p.submit_model_generation(SPEC, GenerationOptions(seed=3))
    identity = p.poll(TaskState(portrait.upstream_id, portrait.state)).identity
    submitted = p.submit_try_on(
        ImageInput(data=run(p, portrait)[0].data), ImageInput(data=garment_photo(colour), content_type="image/jpeg"),
        GenerationOptions(identity=identity, width=768, height=1152),
    )
    [output] = run(p, submitted)
    image = decoded(output.data)
    assert image.size == (768, 1152)
    assert _torso_colour(image) == pytest.approx(colour, abs=25)


def test_try_on_onto_a_person_photo_without_a_local_identity(settings) -> None:  # noqa: ANN001
    p = provider(settings)
    person = Image.new("RGB", (600, 900), (235, 235, 235))
    ImageDraw.Draw(person).rectangle((220, 60, 380, 860), fill=(150, 120, 100))
    out = io.BytesIO()
    person.save(out, "PNG")
    submitted = p.submit_try_on(ImageInput(data=out.getvalue()), ImageInput(data=garment_photo((190, 30, 40))),
                                GenerationOptions(aspect_ratio="2:3", width=800))
    image = decoded(run(p, submitted)[0].data)
    assert image.size == (800, 1200)
    assert _torso_colour(image) == pytest.approx((190, 30, 40), abs=30)


def test_try_on_is_deterministic(settings) -> None:  # noqa: ANN001
    p = provider(settings)
    identity = Identity(provider_model_id="local:FEMALE:curvy:8")
    options = GenerationOptions(identity=identity)
    a = run(p, p.submit_try_on(ImageInput(data=b"unused"), ImageInput(data=garment_photo()), options))[0].data
    b = run(p, p.submit_try_on(ImageInput(data=b"unused"), ImageInput(data=garment_photo()), options))[0].data
    assert digest(a) == digest(b)


@pytest.mark.parametrize("data", [b"not an image", garment_photo((248, 248, 246))])
def test_an_unusable_garment_photo_is_a_content_error(settings, data: bytes) -> None:  # noqa: ANN001
    p = provider(settings)
    with pytest.raises(ContentError) as caught:
        p.submit_try_on(ImageInput(data=b"x"), ImageInput(data=data), GenerationOptions(identity=Identity("local:MALE:slim:1")))
    assert caught.value.code == "bad_garment_image"


def test_a_garment_url_goes_through_the_safe_downloader(settings, mocked_responses) -> None:  # noqa: ANN001
    p = provider(settings)
    with pytest.raises(Exception) as caught:
        p.submit_try_on(ImageInput(data=b"x"), ImageInput(url="http://169.254.169.254/latest/"),
                        GenerationOptions(identity=Identity("local:MALE:slim:1")))
    assert getattr(caught.value, "code", "") == "scheme"
    assert len(mocked_responses.calls) == 0


def test_storage_keys_live_outside_shop_namespaces(settings, tmp_path) -> None:  # noqa: ANN001
    storage = LocalStorage(tmp_path / "media")
    p = LocalProvider(get_provider("local", {"null_latency": True}, settings).config, settings, storage=storage)
    submitted = p.submit_model_generation(SPEC, GenerationOptions())
    assert submitted.state["outputs"][0]["key"].startswith(f"_local/{submitted.upstream_id}/")


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (37, 23), (150, 120)])
def test_the_shifted_copy_filters_are_pillows_3x3_rank_filters(size: tuple[int, int]) -> None:
    from PIL import ImageFilter

    from shopify_app.providers.local_render import dilate3, erode3

    rnd = random.Random(size[0] * 1000 + size[1])
    for density in (0.02, 0.3, 0.9):
        mask = Image.frombytes("L", size, bytes(255 if rnd.random() < density else rnd.randrange(0, 40)
                                                for _ in range(size[0] * size[1])))
        assert dilate3(mask).tobytes() == mask.filter(ImageFilter.MaxFilter(3)).tobytes()
        assert erode3(mask).tobytes() == mask.filter(ImageFilter.MinFilter(3)).tobytes()


@pytest.mark.parametrize("colours", [1, 3, 50, 5000])
def test_the_median_pixel_is_that_of_the_sorted_pixels(colours: int) -> None:
    from shopify_app.providers.local_render import _median_pixel

    rnd = random.Random(colours)
    palette = [tuple(rnd.randrange(256) for _ in range(3)) for _ in range(colours)]
    for width in (1, 2, 7, 1001):
        sample = Image.new("RGB", (width, 1))
        sample.putdata([rnd.choice(palette) for _ in range(width)])
        assert _median_pixel(sample) == sorted(sample.get_flattened_data())[width // 2]


# ------------------------------------------------------------------------------ reuse and layers


def test_a_remembered_mannequin_renders_as_a_fresh_one_and_is_never_drawn_on() -> None:
    from shopify_app.providers.local_render import clear_caches, render_figure, try_on

    spec = PortraitSpec("MALE", "curvy")
    clear_caches()
    fresh = try_on((512, 768), garment_photo(), 4, figure_spec=spec).tobytes()
    figure, _ = render_figure((512, 768), spec, 4)
    ImageDraw.Draw(figure).rectangle((0, 0, 511, 767), fill=(255, 0, 0))  # the caller's copy
    assert render_portrait((512, 768), spec, 4).getpixel((256, 20)) != (255, 0, 0)
    assert try_on((512, 768), garment_photo(), 4, figure_spec=spec).tobytes() == fresh


def test_a_garment_lifted_once_fits_like_its_photo(settings) -> None:  # noqa: ANN001
    from shopify_app.providers.local_render import try_on

    spec = PortraitSpec("FEMALE", "slim")
    photo = garment_photo((190, 30, 40))
    assert (try_on((512, 768), lift_garment(photo), 9, figure_spec=spec).tobytes()
            == try_on((512, 768), photo, 9, figure_spec=spec).tobytes())
    p = provider(settings)
    outputs = run(p, p.submit_try_on(ImageInput(data=b"unused"), ImageInput(data=photo),
                                     GenerationOptions(identity=Identity("local:FEMALE:slim:9"), num_images=2)))
    assert len({digest(o.data) for o in outputs}) == 2  # two shots of the figure, one lift
    assert all(_torso_colour(decoded(o.data)) == pytest.approx((190, 30, 40), abs=25) for o in outputs)


@pytest.mark.parametrize(
    ("side", "fmt", "lifted"),
    [(1000, "PNG", 900), (1300, "JPEG", 900), (1400, "PNG", 700), (1800, "PNG", 900), (2600, "PNG", 867),
     (1800, "JPEG", 900), (2600, "JPEG", 900), (4000, "JPEG", 900)],
)
def test_a_large_garment_photo_is_lifted_at_most_at_max_side(side: int, fmt: str, lifted: int) -> None:
    """The lift is at most `max_side` (900) on the long side and at least 2/3 of it (a whole
    reduction where that lands within it); the shirt keeps its share of the photo, its colour and
    its enclosed print."""
    image = Image.open(io.BytesIO(garment_photo(fmt="PNG"))).resize((side, side), Image.Resampling.NEAREST)
    data = io.BytesIO()
    image.save(data, fmt, quality=92)
    garment = lift_garment(data.getvalue())
    assert garment.size[0] == pytest.approx(lifted * 600 / 800, abs=12)
    assert garment.size[1] == pytest.approx(lifted * 580 / 800, abs=12)
    assert garment_colour(garment) == pytest.approx((30, 70, 170), abs=10)
    scale = lifted / 800
    assert garment.getpixel((round(300 * scale), round(170 * scale)))[3] > 200  # the print stays
    assert garment.getpixel((2, garment.height - 2))[3] < 30


def test_the_contact_shadow_fades_out_rather_than_stopping_at_the_garment_box() -> None:
    from shopify_app.providers.local_render import _contact_shadow

    canvas = Image.new("RGB", (400, 400), (255, 255, 255))
    _contact_shadow(canvas, Image.new("L", (100, 100), 255), (150, 150), 8.0)
    row = [canvas.getpixel((x, 200))[0] for x in range(100, 300)]
    assert min(row) < 200  # under the garment: shadow
    assert row[0] == 255 and row[-1] == 255  # far from it: none
    assert max(abs(a - b) for a, b in zip(row, row[1:], strict=False)) <= 12  # no hard edge anywhere
