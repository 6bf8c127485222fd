"""Composition and the one invariant: the output's lightness is the input's, pixel for pixel.

The photos are bigger than the engine's render grid, so chroma really is upsampled; the
hints are saturated primaries that no sRGB colour has at most lightnesses, so gamut mapping
really runs. L* is read back with scikit-image from the pixels as written to disk.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import tifffile
from PIL import Image
from skimage.color import rgb2lab

from colorstudio.core.color import hex_to_ab, in_gamut
from colorstudio.core.compose import chroma_field, compose, lab_to_srgb_keep_l
from colorstudio.core.hints import Hints
from colorstudio.core.image import SourceImage, open_image
from colorstudio.core.jobs import Cancelled
from colorstudio.core.resample import (
    downsample_area,
    downsample_lightness_bands,
    fit_size,
    resize_bilinear,
)
from colorstudio.core.session import ColorizeSession

H, W = 300, 400  # larger than the 256-px render grid
PRIMARIES = ["#ff0000", "#00ff00", "#0000ff", "#ffff00", "#ff00ff", "#00ffff"]
SATURATED = Hints.of(
    points=[(30 + i * 60, 60 + (i % 2) * 150, c, 12) for i, c in enumerate(PRIMARIES)],
    strokes=[([(0, 280), (399, 280)], 14, "#00ff00"), ([(200, 0), (200, 299)], 10, "#0000ff")])

# 8-bit output: the exact result (L kept, computed in float) is rounded to 8 bits per channel,
# 0.5 level each (0.55 with the encoder's lookup table). The largest first-order change of L*
# that can cause, sum_i |dL*/dc_i| * 0.55/255 over every 8-bit sRGB colour, is 0.29 (at dark
# saturated greens, e.g. (0, 29, 0)); for a grey it is at most 0.15.
MAX_DL_8BIT = 0.3
# 16-bit output: the bound (rounding alone accounts for 0.001).
MAX_DL_16BIT = 0.01


def L_of(rgb: np.ndarray) -> np.ndarray:
    a = np.asarray(rgb)
    top = 65535.0 if a.dtype == np.uint16 else 255.0
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    return rgb2lab(a.astype(np.float64) / top)[..., 0]


def grey_photo(dtype=np.uint8, seed=11) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    g = xx / (W - 1) + 0.15 * np.sin(yy / 9.0) + rng.normal(0, 0.05, (H, W))  # every tone, black to white
    top = 65535 if dtype == np.uint16 else 255
    return np.clip(np.rint(g * top), 0, top).astype(dtype)


def colour_photo(seed=12) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    rgb = np.stack([xx / W, yy / H, 0.5 + 0.5 * np.sin(xx / 13.0 + yy / 17.0)], -1) + rng.normal(0, 0.04, (H, W, 3))
    return np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Grey 8-bit, grey 16-bit and colour inputs, colorized with SATURATED and saved (done once)."""
    folder = tmp_path_factory.mktemp("invariant")
    out = {}
    for name, pixels, suffix in (("grey8", grey_photo(np.uint8), ".png"), ("grey16", grey_photo(np.uint16), ".png"),
                                 ("grey16tif", grey_photo(np.uint16, seed=13), ".tif"),
                                 ("rgb8", colour_photo(), ".png")):
        src = folder / f"{name}{suffix}"
        if suffix == ".tif":
            tifffile.imwrite(src, pixels)
        else:
            Image.fromarray(pixels).save(src)
        photo = open_image(src)
        result = ColorizeSession(photo).render(SATURATED)
        dst = result.save(folder / f"{name}-colour{suffix}")
        out[name] = (pixels, photo, result, dst)
    return out


def _read(path) -> np.ndarray:
    if str(path).endswith(".tif"):
        return tifffile.imread(path)
    with Image.open(path) as im:
        if im.mode in ("RGB", "RGBA", "L", "LA"):
            return np.asarray(im)
    raise AssertionError("use _read16 for 16-bit PNG")


@pytest.mark.parametrize("name", ["grey8", "rgb8"])
def test_8bit_output_lightness_is_the_input_lightness(written, name):
    pixels, photo, result, dst = written[name]
    back = _read(dst)
    assert back.shape == (H, W, 3) and back.dtype == np.uint8
    np.testing.assert_array_equal(back, result.rgb)
    dL = np.abs(L_of(back) - L_of(pixels))
    assert dL.max() <= MAX_DL_8BIT
    assert dL.mean() <= 0.1
    # The hints were strong enough to colour the photo, and to need gamut mapping.
    lab = rgb2lab(back / 255.0)
    assert np.percentile(np.hypot(lab[..., 1], lab[..., 2]), 75) > 20
    requested = np.array([[L, *hex_to_ab("#00ff00")] for L in np.linspace(5, 95, 19)])
    assert not in_gamut(requested).all()


def test_16bit_png_output_lightness_is_the_input_lightness(written, png_raw):
    pixels, photo, result, dst = written["grey16"]
    assert photo.bit_depth == 16 and result.rgb.dtype == np.uint16
    back, chunks = png_raw.read(dst)
    assert back.dtype == np.uint16 and back.shape == (H, W, 3)
    np.testing.assert_array_equal(back, result.rgb)
    assert np.abs(L_of(back) - L_of(pixels)).max() <= MAX_DL_16BIT


def test_16bit_tiff_output_lightness_is_the_input_lightness(written):
    pixels, photo, result, dst = written["grey16tif"]
    back = tifffile.imread(dst)
    assert back.dtype == np.uint16 and back.shape == (H, W, 3)
    assert np.abs(L_of(back) - L_of(pixels)).max() <= MAX_DL_16BIT


def test_gamut_mapping_keeps_the_hue_near_the_hints(written):
    _, _, result, _ = written["grey8"]
    lab = rgb2lab(result.rgb / 255.0)
    for p in SATURATED.points:
        x, y = int(p.x), int(p.y)
        if not 15 < L_of(result.rgb[y:y + 1, x:x + 1])[0, 0] < 85:
            continue  # near black and white no chroma fits, so there is no hue to check
        want = math.degrees(math.atan2(*hex_to_ab(p.color)[::-1]))
        got = math.degrees(math.atan2(lab[y, x, 2], lab[y, x, 1]))
        assert abs((got - want + 180) % 360 - 180) < 8, p.color


@pytest.mark.parametrize("shape", [(1, 1), (1, 50), (50, 1), (2, 3), (37, 53), (3, 700), (301, 517)])
def test_output_size_is_the_input_size(shape):
    grey = np.random.default_rng(1).integers(0, 256, shape).astype(np.uint8)
    session = ColorizeSession(SourceImage.from_array(grey))
    hints = Hints.of(points=[(0.5, 0.5, "#c86432", 2)])
    out = session.render(hints).rgb
    assert out.shape == shape + (3,) and out.dtype == np.uint8
    assert np.abs(L_of(out) - L_of(grey)).max() <= MAX_DL_8BIT


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_alpha_is_carried_through_to_the_file(tmp_path, dtype, png_raw):
    top = 65535 if dtype == np.uint16 else 255
    rng = np.random.default_rng(4)
    grey = rng.integers(0, top + 1, (40, 60)).astype(dtype)
    alpha = rng.integers(0, top + 1, (40, 60)).astype(dtype)
    src = tmp_path / "la.png"
    png_raw.write(src, np.dstack([grey, alpha]))
    photo = open_image(src)
    result = ColorizeSession(photo).render(Hints.of(points=[(30, 20, "#3366aa", 5)]))
    np.testing.assert_array_equal(result.alpha, alpha)
    out = result.save(tmp_path / "out.png")
    back, _ = png_raw.read(out)
    assert back.shape == (40, 60, 4) and back.dtype == dtype
    np.testing.assert_array_equal(back[..., 3], alpha)
    bound = MAX_DL_16BIT if dtype == np.uint16 else MAX_DL_8BIT
    assert np.abs(L_of(back[..., :3]) - L_of(grey)).max() <= bound


# ---------------------------------------------------------------------------------------------
# Composition pieces


def test_chroma_upsampling_snaps_to_the_photos_own_edges():
    """A chroma step computed on a 4x coarser grid lands on the full-resolution edge."""
    for edge in (128, 130, 133):  # on and off the coarse grid's pixel boundaries
        L = np.full((256, 256), 30, np.float32)
        L[:, edge:] = 70
        Lc = downsample_area(L, 64, 64)
        t = (Lc - 30) / 40  # chroma that follows the coarse lightness: +40 on the left, -40 on the right
        ab = np.stack([40 * (1 - t) - 40 * t, np.zeros_like(t)], -1)
        out = compose(L, chroma_field(ab, Lc))
        a = rgb2lab(out[100] / 255.0)[:, 1]
        assert a[edge - 1] > 30 and a[edge] < -30, edge
        assert np.all(a[:edge - 1] > 30) and np.all(a[edge + 1:] < -30)


def test_compose_in_bands_equals_compose_in_one_piece():
    rng = np.random.default_rng(2)
    L = rng.uniform(0, 100, (97, 61)).astype(np.float32)
    Lc = downsample_area(L, 31, 20)
    ab = rng.uniform(-60, 60, (31, 20, 2)).astype(np.float32)
    whole = compose(L, chroma_field(ab, Lc), band_rows=1000)
    for rows in (1, 7, 50):
        np.testing.assert_array_equal(compose(L, chroma_field(ab, Lc), band_rows=rows), whole)
    np.testing.assert_array_equal(compose(L, chroma_field(ab, Lc), band_rows=7, bit_depth=16),
                                  compose(L, chroma_field(ab, Lc), band_rows=1000, bit_depth=16))


def test_one_band_and_many_bands_give_the_same_pixels():
    """A target composed in one band (small previews) and in thin bands on the thread pool
    (what big renders do): the same pixels."""
    rng = np.random.default_rng(3)
    L = rng.uniform(0, 100, (130, 170)).astype(np.float32)
    Lc = downsample_area(L, 40, 52)
    ab = rng.uniform(-50, 50, (40, 52, 2)).astype(np.float32)
    fast = compose(L, chroma_field(ab, Lc), band_rows=130)
    banded = compose(L, chroma_field(ab, Lc), band_rows=16)
    assert np.abs(fast.astype(int) - banded).max() <= 1


def test_out_of_gamut_chroma_keeps_lightness_and_hue():
    rng = np.random.default_rng(8)
    L = rng.uniform(1, 99, (64, 64)).astype(np.float32)
    ab = rng.uniform(-128, 127, (2, 64, 64)).astype(np.float32)
    rgb = lab_to_srgb_keep_l(L, ab)
    assert rgb.shape == (64, 64, 3) and rgb.min() >= 0.0 and rgb.max() <= 1.0
    lab = rgb2lab(rgb.astype(np.float64))
    assert np.abs(lab[..., 0] - L).max() <= 0.01
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    ok = chroma > 2
    want = np.degrees(np.arctan2(ab[1], ab[0]))
    got = np.degrees(np.arctan2(lab[..., 2], lab[..., 1]))
    gap = np.abs((got - want + 180) % 360 - 180)
    # Scaling towards neutral in Lab keeps the hue (up to the conversion's rounding near grey).
    assert np.percentile(gap[ok], 99) < 2.0
    # And never adds chroma.
    assert np.all(chroma <= np.hypot(ab[0], ab[1]) + 0.5)


def test_saturation_scales_chroma_and_zero_is_grey():
    L = np.linspace(10, 85, 50, dtype=np.float32)[None, :].repeat(4, 0)  # where this chroma fits
    ab = np.stack([np.full_like(L, 20.0), np.full_like(L, -15.0)])
    full = rgb2lab(lab_to_srgb_keep_l(L, ab).astype(np.float64))
    half = rgb2lab(lab_to_srgb_keep_l(L, ab, saturation=0.5).astype(np.float64))
    none = lab_to_srgb_keep_l(L, ab, saturation=0.0)
    assert np.abs(none[..., 0] - none[..., 1]).max() < 1e-4 and np.abs(none[..., 1] - none[..., 2]).max() < 1e-4
    np.testing.assert_allclose(half[..., 1:], full[..., 1:] * 0.5, atol=0.05)


def test_compose_reports_progress_and_stops_when_asked():
    L = np.full((600, 20), 50, np.float32)
    field = chroma_field(np.zeros((60, 2, 2), np.float32), downsample_area(L, 60, 2))
    calls = []
    compose(L, field, band_rows=100, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 6) for i in range(1, 7)]
    with pytest.raises(Cancelled):
        compose(L, field, band_rows=100, should_stop=lambda: True)


# ---------------------------------------------------------------------------------------------
# Resampling


def test_resize_bilinear_is_pixel_centre_aligned_and_band_consistent():
    ramp = np.arange(16, dtype=np.float32)[None, :].repeat(3, 0)  # value = column index
    up = resize_bilinear(ramp, 3, 64)
    # Output pixel j has its centre at (j + 0.5) / 4 input pixels, i.e. value (j + 0.5) / 4 - 0.5.
    j = np.arange(64)
    expect = np.clip((j + 0.5) / 4 - 0.5, 0, 15)
    np.testing.assert_allclose(up[0], expect, atol=1e-5)
    maps = np.random.default_rng(0).random((2, 9, 13)).astype(np.float32)
    whole = resize_bilinear(maps, 40, 50)
    np.testing.assert_allclose(resize_bilinear(maps, 40, 50, rows=(7, 19)), whole[:, 7:19], atol=1e-6)
    assert resize_bilinear(maps, 9, 13).shape == (2, 9, 13)


@pytest.mark.parametrize("size", [(10, 10), (7, 9), (1, 1), (33, 47)])
def test_downsample_area_preserves_the_mean_and_constants(size):
    a = np.random.default_rng(1).random((66, 94)).astype(np.float32)
    d = downsample_area(a, *size)
    assert d.shape == size
    assert d.mean() == pytest.approx(a.mean(), rel=1e-4)
    assert np.allclose(downsample_area(np.full((66, 94), 3.5, np.float32), *size), 3.5)


def _area_weights_exact(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) area-averaging weights in double precision, from the definition."""
    r = n_in / n_out
    w = np.zeros((n_out, n_in))
    for j in range(n_out):
        for i in range(n_in):
            w[j, i] = max(0.0, min((j + 1) * r, i + 1) - max(j * r, i)) / r
    return w


@pytest.mark.parametrize("shape,size", [((240, 300), (37, 53)),      # footprints of 5-7 samples
                                        ((50, 2000), (3, 7)),        # long ones (summed in double)
                                        ((3, 120, 90), (31, 17))])   # a stack of maps
def test_downsample_area_is_the_exact_area_average_to_float_rounding(shape, size):
    """Each output pixel is the mean of the input over its footprint (partial samples at its
    ends weighted by their part), in float32 to its rounding: ~1e-5 of L* 100."""
    a = (np.random.default_rng(4).random(shape) * 100).astype(np.float32)
    exact = _area_weights_exact(shape[-2], size[0]) @ a.astype(np.float64) @ _area_weights_exact(shape[-1], size[1]).T
    d = downsample_area(a, *size)
    assert d.dtype == np.float32 and d.flags.c_contiguous
    np.testing.assert_allclose(d, exact, rtol=0, atol=2e-4)
    # Transposed input (not row-major) gives the same.
    np.testing.assert_allclose(downsample_area(np.ascontiguousarray(np.swapaxes(a, -1, -2)).swapaxes(-1, -2), *size),
                               d, rtol=0, atol=1e-5)


def test_downsampling_in_bands_equals_downsampling_at_once():
    a = np.random.default_rng(2).random((500, 37)).astype(np.float32)
    np.testing.assert_allclose(downsample_lightness_bands(a, 61, 11, band=64), downsample_area(a, 61, 11),
                               atol=1e-5)


def test_fit_size_never_enlarges_and_respects_the_long_side():
    assert fit_size(4000, 3000, 1024) == (1024, 768)
    assert fit_size(3000, 4000, 1024) == (768, 1024)
    assert fit_size(500, 300, 1024) == (500, 300)
    assert fit_size(500, 300, None) == (500, 300)
    assert fit_size(10000, 1, 100) == (100, 1)
    for w, h in ((1001, 999), (7, 3000), (4096, 4095)):
        fw, fh = fit_size(w, h, 512)
        assert max(fw, fh) <= 512 and min(fw, fh) >= 1


def test_16bit_encoding_matches_the_srgb_curve_to_one_level():
    """The table-and-interpolation encoding of 16-bit output against the sRGB curve computed
    in double precision: at most one level off (only right at a rounding boundary), exact at
    black and white, never decreasing."""
    from colorstudio.core.compose import _encode16
    rng = np.random.default_rng(5)
    lin = np.concatenate([rng.random(200_000), rng.uniform(0, 0.004, 50_000),  # the toe and the knee
                          np.linspace(0, 1, 70_001)]).astype(np.float32)
    x = lin.astype(np.float64)
    exact = np.rint(np.where(x > 0.0031308, 1.055 * np.power(x, 1 / 2.4) - 0.055, 12.92 * x) * 65535)
    got = _encode16(np.stack([lin, lin, lin])[:, None, :])[0]
    assert np.array_equal(got[:, 0], got[:, 2])
    d = np.abs(got[:, 0].astype(np.int64) - exact)
    assert d.max() <= 1 and (d > 0).mean() < 0.005
    ends = _encode16(np.array([-1e-5, 0.0, 1.0, 1.0 + 1e-5], np.float32).reshape(1, 1, 4).repeat(3, 0))[0, :, 0]
    assert list(ends) == [0, 0, 65535, 65535]
    ramp = _encode16(np.linspace(0, 1, 300_000, dtype=np.float32).reshape(1, 1, -1).repeat(3, 0))[0, :, 0]
    assert np.all(np.diff(ramp.astype(np.int64)) >= 0)


@pytest.mark.parametrize("shape, target", [((816, 1225), (682, 1024)), ((300, 200), (150, 100)),
                                           ((5000, 300), (1024, 61))])
def test_downsampled_lightness_is_row_major(shape, target):
    """The preview's and the grids' lightness come out row-major whatever the ratio (a
    transposed one made every band of a preview's composition twice as slow)."""
    from colorstudio.core.resample import downsample_lightness_bands
    L = np.random.default_rng(0).uniform(0, 100, shape).astype(np.float32)
    out = downsample_lightness_bands(L, *target)
    assert out.shape == target and out.dtype == np.float32 and out.flags.c_contiguous
