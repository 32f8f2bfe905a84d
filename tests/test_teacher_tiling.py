"""teacher.tiling: tile placement, blend weights that form a partition of unity without seams, and tiled
inference that reproduces whole-image inference."""

from __future__ import annotations

import numpy as np
import pytest

from teacher.tiling import choose_mode, plan_tiles, ramp, tile_starts

torch = pytest.importorskip("torch")


@pytest.mark.parametrize(("length", "tile", "overlap", "expected"), [
    (448, 448, 112, [0]),
    (300, 448, 112, [0]),
    (1000, 448, 112, [0, 336, 552]),
    (1920, 448, 112, [0, 336, 672, 1008, 1344, 1472]),
])
def test_tile_starts_cover_with_the_last_tile_flush(length, tile, overlap, expected):
    starts = tile_starts(length, tile, overlap)
    assert starts == expected
    if length >= tile:
        assert starts[-1] + tile == length
        assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))  # at least `overlap` shared


def test_ramp_is_positive_smooth_and_flat_on_untapered_sides():
    w = ramp(64, 16, left=True, right=False)
    assert (w > 0).all() and w.max() == 1.0
    assert np.all(w[16:] == 1.0) and np.all(np.diff(w[:17]) > 0)
    assert w[0] < 0.01  # a tile's edge contributes almost nothing where a neighbour covers it
    assert np.all(ramp(64, 16, left=False, right=False) == 1.0)


@pytest.mark.parametrize(("height", "width"), [(1080, 1920), (450, 449), (448, 448), (700, 1001)])
def test_blend_weights_sum_to_one_without_seams(height, width):
    tile = 448
    plan = plan_tiles(height, width, tile, overlap=0.25)
    total = plan.weight_sum()
    assert total.min() > 0  # every pixel covered with positive weight
    normalised = np.zeros((len(plan.origins), height, width))
    for k, ((y, x), w) in enumerate(zip(plan.origins, plan.windows)):
        normalised[k, y:y + tile, x:x + tile] = w
    normalised /= total
    np.testing.assert_allclose(normalised.sum(0), 1.0, atol=1e-12)
    # no seam: a tile's share changes gradually (a hard cut would jump by 1 between neighbouring pixels)
    steps = max(np.abs(np.diff(normalised, axis=1)).max(), np.abs(np.diff(normalised, axis=2)).max())
    assert steps < 0.05
    # the top-left tile is tapered only where a neighbour overlaps it, not along the image border
    inner = tile - 112
    assert np.all(plan.windows[0][:inner, :inner] == 1.0)


def test_choose_mode():
    assert choose_mode(1080, 1920, 448) == "tile"
    assert choose_mode(1500, 2000, 448) == "tile"
    assert choose_mode(400, 600, 448) == "resize"
    assert choose_mode(672, 672, 448) == "resize" and choose_mode(673, 100, 448) == "tile"
    assert choose_mode(100, 100, 448, "tile") == "tile"
    with pytest.raises(ValueError, match="mode must be one of auto, tile, resize"):
        choose_mode(10, 10, 448, "crop")


def _per_pixel(batch):
    """A fake model whose output at a pixel depends only on that pixel's values."""
    return torch.sigmoid(batch.sum(1) * 3.0)


@pytest.mark.parametrize(("height", "width"), [(300, 500), (64, 64), (40, 150), (37, 23)])
def test_tiling_a_per_pixel_model_reproduces_the_whole_image(height, width):
    from teacher.tiling import tiled_probability

    gen = torch.Generator().manual_seed(0)
    image = torch.randn(3, height, width, generator=gen)
    calls = []

    def prob_fn(batch):
        calls.append(batch.shape)
        assert batch.shape[1:] == (3, 64, 64)
        return _per_pixel(batch)

    tiled = tiled_probability(prob_fn, image, tile=64, overlap=0.25, batch_size=3)
    assert tiled.shape == (height, width)
    torch.testing.assert_close(tiled, _per_pixel(image[None])[0], rtol=0, atol=1e-6)
    n_tiles = len(plan_tiles(max(height, 64), max(width, 64), 64, 0.25).origins)
    assert sum(c[0] for c in calls) == n_tiles and all(c[0] <= 3 for c in calls)  # batched tiles


def test_tiling_a_small_receptive_field_model_is_close_to_the_whole_image():
    """A 3x3 mean filter (zero padding) differs from the whole-image result only on a tile's outermost
    pixels; the blend window gives those almost no weight where a neighbour tile covers them."""
    from teacher.tiling import tiled_probability

    kernel = torch.full((1, 3, 3, 3), 1.0 / 27)

    def conv_model(batch):
        return torch.sigmoid(torch.nn.functional.conv2d(batch, kernel, padding=1)[:, 0] * 4.0)

    image = torch.randn(3, 200, 260, generator=torch.Generator().manual_seed(1))
    whole = conv_model(image[None])[0]
    tiled = tiled_probability(conv_model, image, tile=64, overlap=0.25)
    assert (tiled - whole).abs().max() < 0.01
    # and it is the blending that does it: an unweighted average of the tiles is much worse at tile edges
    plan = plan_tiles(200, 260, 64, 0.25)
    flat = np.zeros((200, 260))
    count = np.zeros((200, 260))
    for y, x in plan.origins:
        flat[y:y + 64, x:x + 64] += conv_model(image[None, :, y:y + 64, x:x + 64])[0].numpy()
        count[y:y + 64, x:x + 64] += 1
    assert np.abs(flat / count - whole.numpy()).max() > 5 * float((tiled - whole).abs().max())


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"mode": "crop"}, "--mode must be one of auto, tile, resize, got 'crop'"),
    ({"overlap": 1.0}, "--overlap is a fraction of the tile in [0, 1), got 1.0"),
])
def test_predict_rejects_bad_tiling_options(tmp_path, kwargs, message):
    from crackedge.errors import ConfigError
    from teacher.predict import predict_images

    with pytest.raises(ConfigError) as err:
        predict_images(None, [tmp_path], tmp_path / "out", **kwargs)
    assert message in str(err.value)
