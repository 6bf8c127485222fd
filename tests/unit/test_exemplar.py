"""Reference colours (the `exemplar` engine): matching like with like, voting, soft hints.

Synthetic pictures make the right answer obvious: a photo whose regions differ only in
texture (same mean lightness), and references that hold the same textures in colour, laid
out differently. Colours are read back with scikit-image's lab2rgb/rgb2lab, independent of
the code under test.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image
from skimage.color import lab2rgb, rgb2lab

from colorstudio.core.compose import chroma_field, compose
from colorstudio.core.hints import Hints, PointHint
from colorstudio.core.image import SourceImage, open_image
from colorstudio.core.reference import Reference, ReferenceError, ReferencePicture, load_reference
from colorstudio.engines import _exemplar
from colorstudio.engines._exemplar import ExemplarEngine, vote
from colorstudio.engines._propagation import PropagationEngine
from colorstudio.engines.base import EngineError
from colorstudio.engines.registry import ENGINES, default_engine

RED_AB = (55.0, 40.0)
BLUE_AB = (10.0, -50.0)
GREEN_AB = (-50.0, 40.0)


def stripes(h, w, period=4, amp=25.0):
    x = np.arange(w)[None, :].repeat(h, 0)
    return amp * np.sign(np.sin(2 * math.pi * (x + 0.5) / period))


def photo_L(h=96, w=128):
    """Top half flat L 50; bottom half stripes around L 50 (same mean, different texture)."""
    L = np.full((h, w), 50.0, np.float32)
    L[h // 2:] += stripes(h - h // 2, w).astype(np.float32)
    return L


def ref_picture(regions, h=80, w=120, key="ref"):
    """A colour reference from [(kind, ab)] laid out left to right: kind 'flat' or 'stripes'."""
    lab = np.zeros((h, w, 3), np.float64)
    n = len(regions)
    for i, (kind, ab) in enumerate(regions):
        x0, x1 = i * w // n, (i + 1) * w // n
        lab[:, x0:x1, 0] = 50.0 + (stripes(h, x1 - x0) if kind == "stripes" else 0.0)
        lab[:, x0:x1, 1], lab[:, x0:x1, 2] = ab
    rgb = np.clip(lab2rgb(lab), 0, 1).astype(np.float32)
    return ReferencePicture(key, key, rgb, rgb2lab(rgb).astype(np.float32))


def mean_ab(ab, rows):
    a = ab[rows]
    return a[..., 0].mean(), a[..., 1].mean()


def hue(ab):
    return math.degrees(math.atan2(ab[1], ab[0]))


def hue_gap(a, b):
    return abs((hue(a) - hue(b) + 180.0) % 360.0 - 180.0)


def chroma_len(ab):
    return math.hypot(*ab)


def regions_of(chroma):
    h = chroma.ab.shape[0]
    top = mean_ab(chroma.ab, slice(2, h // 2 - 4))
    bottom = mean_ab(chroma.ab, slice(h // 2 + 4, h - 2))
    return top, bottom


# ---------------------------------------------------------------------------------------------


def test_the_engines_are_declared_and_discovered():
    spec = ENGINES["exemplar"]
    assert spec.uses_reference and not spec.needs_weights and "reference" in [m.value for m in spec.modes]
    assert default_engine("reference") == "exemplar"
    assert ENGINES["palette"].uses_reference and default_engine("palette") == "palette"


def test_vote_takes_each_regions_mode_and_its_share_as_confidence():
    labels = np.array([0] * 10 + [1] * 10)
    ab = np.array([RED_AB] * 7 + [BLUE_AB] * 3 + [GREEN_AB] * 4 + [(0.0, 0.0)] * 6, np.float32)
    region_ab, conf = vote(labels, ab, np.ones(20))
    assert np.allclose(region_ab[0], RED_AB, atol=1.0)
    assert conf[0] == pytest.approx(0.7, abs=1e-6)
    assert np.allclose(region_ab[1], (0.0, 0.0), atol=1.0)
    assert conf[1] == pytest.approx(0.6, abs=1e-6)


def test_vote_weights_count():
    labels = np.zeros(4, int)
    ab = np.array([RED_AB, RED_AB, BLUE_AB, BLUE_AB], np.float32)
    region_ab, conf = vote(labels, ab, np.array([1.0, 1.0, 5.0, 5.0]))
    assert np.allclose(region_ab[0], BLUE_AB, atol=1.0) and conf[0] == pytest.approx(10 / 12)


def test_regions_that_differ_only_in_texture_take_the_matching_colours():
    ref = ref_picture([("stripes", BLUE_AB), ("flat", RED_AB)])
    session = ExemplarEngine().start(photo_L())
    top, bottom = regions_of(session.chroma(Hints(), references=(ref,)))
    assert hue_gap(top, RED_AB) < 15 and chroma_len(top) > 25
    assert hue_gap(bottom, BLUE_AB) < 15 and chroma_len(bottom) > 25


def test_several_references_each_give_their_colours():
    flat_red = ref_picture([("flat", RED_AB)], key="red")
    striped_blue = ref_picture([("stripes", BLUE_AB)], key="blue")
    session = ExemplarEngine().start(photo_L())
    top, bottom = regions_of(session.chroma(Hints(), references=(flat_red, striped_blue)))
    assert hue_gap(top, RED_AB) < 15 and hue_gap(bottom, BLUE_AB) < 15
    # And the other way round: the pairing follows the textures, not the references' order.
    flat_green = ref_picture([("flat", GREEN_AB)], key="green")
    top, bottom = regions_of(session.chroma(Hints(), references=(striped_blue, flat_green)))
    assert hue_gap(top, GREEN_AB) < 15 and hue_gap(bottom, BLUE_AB) < 15


def test_a_users_hint_overrides_the_reference_where_placed():
    ref = ref_picture([("stripes", BLUE_AB), ("flat", RED_AB)])
    L = photo_L()
    session = ExemplarEngine().start(L)
    hint = Hints((PointHint(64.0, 20.0, "#20a040", 4.0),), image_size=(128, 96))  # green, top half
    c = session.chroma(hint, references=(ref,))
    top, bottom = regions_of(c)
    assert hue_gap(c.ab[20, 64], GREEN_AB) < 15
    assert hue_gap(top, GREEN_AB) < 25           # the hint's region takes the hint's colour
    assert hue_gap(bottom, BLUE_AB) < 15         # elsewhere the reference still colours


def test_a_new_hint_reuses_the_matching(monkeypatch):
    ref = ref_picture([("stripes", BLUE_AB), ("flat", RED_AB)])
    session = ExemplarEngine().start(photo_L())
    session.chroma(Hints(), quality="preview", references=(ref,))
    calls = []
    real = _exemplar.reference_samples
    monkeypatch.setattr(_exemplar, "reference_samples", lambda *a, **k: calls.append(1) or real(*a, **k))
    features = []
    real_features = _exemplar.local_features
    monkeypatch.setattr(_exemplar, "local_features", lambda *a, **k: features.append(1) or real_features(*a, **k))
    hint = Hints((PointHint(10.0, 10.0, "#d02020", 3.0),), image_size=(128, 96))
    session.chroma(hint, quality="preview", references=(ref,))
    session.chroma(hint, quality="render", references=(ref,))
    assert calls == [] and features == []
    # A different reference (another key) is matched anew.
    session.chroma(hint, quality="preview", references=(ref_picture([("flat", GREEN_AB)], key="other"),))
    assert calls == [1]


def test_a_grey_reference_is_refused_with_a_sentence(tmp_path):
    path = tmp_path / "grey.png"
    Image.fromarray(np.tile(np.arange(0, 256, 2, dtype=np.uint8), (64, 1))).save(path)
    with pytest.raises(ReferenceError, match=r"grey\.png .*needs colour"):
        load_reference(path, need_color=True)
    grey = load_reference(path)
    assert not grey.was_color
    with pytest.raises(EngineError, match=r"grey\.png .*needs colour"):
        ExemplarEngine().start(photo_L()).chroma(Hints(), references=(grey,))


def test_a_rectangle_of_a_reference_limits_its_colours(tmp_path):
    ref = ref_picture([("flat", RED_AB), ("flat", GREEN_AB)], h=60, w=120)
    path = tmp_path / "two.png"
    Image.fromarray((ref.rgb * 255 + 0.5).astype(np.uint8)).save(path)
    L = np.full((64, 64), 50.0, np.float32)
    for rect, want in (((0, 0, 60, 60), RED_AB), ((60, 0, 120, 60), GREEN_AB)):
        pic = load_reference(Reference(str(path), rect=rect), need_color=True)
        c = ExemplarEngine().start(L).chroma(Hints(), references=(pic,))
        got = mean_ab(c.ab, slice(None))
        assert hue_gap(got, want) < 10 and chroma_len(got) > 30


def test_no_reference_yet_colours_with_the_hints_alone():
    L = photo_L()
    hint = Hints((PointHint(64.0, 20.0, "#d02020", 4.0),), image_size=(128, 96))
    c = ExemplarEngine().start(L).chroma(hint, references=())
    p = PropagationEngine().start(L).chroma(hint)
    assert np.allclose(c.ab, p.ab) and "no reference" in c.info["message"]


def test_the_photo_itself_as_its_reference_brings_its_colours_back(tmp_path):
    path = Path_of_colour_photo(tmp_path)
    photo = open_image(path)
    ref = load_reference(path, need_color=True)
    c = ExemplarEngine().start(photo.lightness, photo).chroma(Hints(), references=(ref,))
    out = compose(photo.lightness, chroma_field(c.ab, c.lightness), bit_depth=8)
    truth = np.asarray(Image.open(path).convert("RGB"))
    grey = compose(photo.lightness, chroma_field(np.zeros_like(c.ab), c.lightness), bit_depth=8)

    def err(x):
        return np.abs(rgb2lab(x / 255.0)[..., 1:] - rgb2lab(truth / 255.0)[..., 1:]).mean()
    assert err(out) < 0.4 * err(grey)


def Path_of_colour_photo(tmp_path):
    """A colour photo of three flat areas with different lightness and colour."""
    lab = np.zeros((90, 120, 3))
    lab[:, :40] = (35, 10, -45)
    lab[:, 40:80] = (55, 50, 35)
    lab[:, 80:] = (75, -35, 45)
    rgb = (np.clip(lab2rgb(lab), 0, 1) * 255 + 0.5).astype(np.uint8)
    path = tmp_path / "colour.png"
    Image.fromarray(rgb).save(path)
    return path


def test_an_enormous_reference_is_downscaled_not_refused(tmp_path):
    path = tmp_path / "wide.png"
    rgb = np.zeros((40, 3000, 3), np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb).save(path)
    pic = load_reference(path, need_color=True, max_side=1024)
    assert max(pic.size) == 1024
    c = ExemplarEngine().start(np.full((50, 50), 40.0, np.float32)).chroma(Hints(), references=(pic,))
    assert chroma_len(mean_ab(c.ab, slice(None))) > 20


def test_a_source_image_array_photo_works():
    L = SourceImage.from_array(np.full((40, 60), 120, np.uint8)).lightness
    c = ExemplarEngine().start(L).chroma(Hints(), quality="preview", references=(ref_picture([("flat", RED_AB)]),))
    assert c.ab.shape == c.lightness.shape + (2,) and c.ab.dtype == np.float32


def test_luminance_remapping_meets_the_photos_distribution():
    rng = np.random.default_rng(4)
    photo = rng.uniform(20, 80, (60, 60)).astype(np.float32)
    ref = (100 * (rng.uniform(0, 1, (50, 70)) ** 2.2)).astype(np.float32)  # another tone curve
    linear = _exemplar.remap_lightness(ref, float(photo.mean()), float(photo.std()))
    assert linear.mean() == pytest.approx(photo.mean(), abs=1e-3) and linear.std() == pytest.approx(photo.std(), rel=1e-3)
    hist = _exemplar.match_lightness(ref, photo)
    q = [5, 25, 50, 75, 95]
    assert np.allclose(np.percentile(hist, q), np.percentile(photo, q), atol=0.5)
    assert np.all(np.diff(hist.ravel()[np.argsort(ref.ravel())]) >= -1e-4)  # monotone: order kept


def test_superpixels_follow_the_photos_edges():
    # A step edge off any regular grid: every superpixel lies on one side of it (slic
    # rescales the picture to 0..1, so a compactness in L* units must be rescaled too).
    L = np.full((120, 160), 30.0, np.float32)
    L[:, 67:] = 70.0
    L[45:, :] += 10.0 * (np.arange(160)[None, :] % 2)  # some texture below, none above
    labels = _exemplar.superpixels(L, 60, _exemplar.ExemplarParams().compactness)
    left = L < 50
    for k in np.unique(labels):
        side = left[labels == k]
        assert side.all() or not side.any(), f"superpixel {k} straddles the edge"


def test_a_doubtful_region_hears_its_alike_neighbours_not_those_across_an_edge():
    # Regions 0..3 in a row: 1 and 2 have split votes; 0 is red and alike 1, 3 is blue and
    # alike 2; 1 and 2 differ in lightness (an edge between them).
    labels = np.repeat(np.arange(4), 25).reshape(5, 20)
    L_mean = np.array([40.0, 41.0, 70.0, 71.0])
    W = _exemplar.region_graph(labels, L_mean, 8.0)
    vl = np.array([0] * 4 + [1] * 4 + [2] * 4 + [3] * 4)
    va = np.array([RED_AB] * 4 + [RED_AB, RED_AB, BLUE_AB, BLUE_AB] * 2 + [BLUE_AB] * 4, np.float32)
    vw = np.ones(len(vl))
    vw[4:6] = 0.9    # region 1 leans (barely) blue alone...
    vw[10:12] = 0.9  # ... and region 2 red
    alone, _ = vote(vl, va, vw)
    assert np.allclose(alone[1], BLUE_AB, atol=1) and np.allclose(alone[2], RED_AB, atol=1)
    pooled, conf = vote(vl, va, vw, neighbours=W, pool=1.0)
    assert np.allclose(pooled[1], RED_AB, atol=1) and np.allclose(pooled[2], BLUE_AB, atol=1)
    assert np.allclose(pooled[0], RED_AB, atol=1) and np.allclose(pooled[3], BLUE_AB, atol=1)


def test_several_references_share_one_lightness_map():
    rng = np.random.default_rng(5)
    photo = np.concatenate([rng.normal(75, 4, (40, 60)), rng.normal(30, 4, (40, 60))]).astype(np.float32)
    sky = rng.normal(85, 3, (50, 50)).astype(np.float32)      # printed lighter than the photo
    street = rng.normal(45, 3, (50, 50)).astype(np.float32)
    joint = _exemplar.lightness_map([sky, street], photo)
    s, t = joint(sky), joint(street)
    pooled = np.concatenate([s.ravel(), t.ravel()])
    assert pooled.mean() == pytest.approx(photo.mean(), abs=0.5)
    assert pooled.std() == pytest.approx(photo.std(), rel=0.02)
    assert s.mean() == pytest.approx(photo[:40].mean(), abs=3) and t.mean() == pytest.approx(photo[40:].mean(), abs=3)
    # Each alone would be given the whole photo's tones: the sky no lighter than the street.
    alone = [_exemplar.lightness_map([x], photo)(x).mean() for x in (sky, street)]
    assert abs(alone[0] - alone[1]) < 1
    hist = _exemplar.lightness_map([sky, street], photo, "histogram")
    pooled = np.concatenate([hist(sky).ravel(), hist(street).ravel()])
    q = [5, 25, 50, 75, 95]
    assert np.allclose(np.percentile(pooled, q), np.percentile(photo, q), atol=1.5)
    assert hist(sky).mean() > 65 and hist(street).mean() < 40


def test_flat_references_of_a_light_and_a_dark_thing_colour_each_in_its_place():
    # Nothing but lightness tells the sky from the street: remapped jointly, the light
    # reference stays light and colours the light half; alone, each would match both.
    L = np.full((96, 128), 72.0, np.float32)
    L[48:] = 32.0
    sky, street = np.zeros((60, 80, 3)), np.zeros((60, 80, 3))
    sky[..., 0], sky[..., 1:] = 85.0, BLUE_AB
    street[..., 0], street[..., 1:] = 45.0, RED_AB
    refs = []
    for lab, key in ((sky, "sky"), (street, "street")):
        rgb = np.clip(lab2rgb(lab), 0, 1).astype(np.float32)
        refs.append(ReferencePicture(key, key, rgb, rgb2lab(rgb).astype(np.float32)))
    sky_ab, street_ab = (tuple(r.lab[..., 1:].reshape(-1, 2).mean(axis=0)) for r in refs)  # in gamut
    top, bottom = regions_of(ExemplarEngine().start(L).chroma(Hints(), references=tuple(refs)))
    assert hue_gap(top, sky_ab) < 10 and chroma_len(top) > 0.7 * chroma_len(sky_ab)
    assert hue_gap(bottom, street_ab) < 10 and chroma_len(bottom) > 0.7 * chroma_len(street_ab)


def test_matching_a_pixel_per_block_gives_the_targets_of_matching_every_pixel():
    """The search runs for one pixel per 2x2 block (drawn at random, so a texture whose
    period is a multiple of the block is seen in every phase); the regions' colours and
    confidence come out as with every pixel matched, and the interpolated detail stays close."""
    ref = ref_picture([("stripes", BLUE_AB), ("flat", RED_AB)])
    every = ExemplarEngine(query_stride=1).start(photo_L()).targets((ref,))
    block = ExemplarEngine(query_stride=2).start(photo_L()).targets((ref,))
    h = every[0].shape[0]
    for rows in (slice(2, h // 2 - 4), slice(h // 2 + 4, h - 2)):
        a, b = mean_ab(every[0], rows), mean_ab(block[0], rows)
        assert math.hypot(a[0] - b[0], a[1] - b[1]) < 2.0
        assert abs(float(every[1][rows].mean()) - float(block[1][rows].mean())) < 0.05
    assert block[0].shape == every[0].shape and block[1].shape == every[1].shape


def test_block_sampling_covers_every_block_once_and_spread_returns_the_grid():
    y, x = _exemplar._jittered(7, 9, 2)
    assert y.shape == x.shape == (4, 5)
    assert (y // 2 == np.arange(4)[:, None]).all() and (x // 2 == np.arange(5)[None, :]).all()
    assert y.max() <= 6 and x.max() <= 8
    # A ramp sampled at the blocks' centres comes back as the ramp between them.
    ramp = (np.arange(4, dtype=np.float32)[:, None] * 2 + 0.5) + np.zeros((4, 5), np.float32)
    out = _exemplar._spread(ramp, 2, 7, 9)
    assert out.shape == (7, 9)
    assert np.allclose(out[1:, 0], np.arange(1, 7), atol=1e-5)
    assert out[0, 0] == pytest.approx(0.5)          # before the first centre: held
    assert np.allclose(out, out[:, :1])              # constant along rows


def test_the_feature_planes_follow_an_affine_lightness_map():
    """A reference's planes are filtered once and remapped to each photo's tones: the
    features so made are those of the remapped lightness filtered anew."""
    rng = np.random.default_rng(3)
    L = (_exemplar._gauss(rng.normal(50, 20, (40, 56)).astype(np.float32), 1.0) + photo_L(40, 56) * 0.5)
    for gain, shift in ((1.0, 0.0), (0.7, 12.0), (1.6, -20.0)):
        direct = _exemplar.local_features(L * np.float32(gain) + np.float32(shift))
        remapped = _exemplar.features_of_planes(_exemplar.local_planes(L), gain, shift)
        assert remapped.shape == direct.shape == (40, 56, 16)
        assert np.allclose(remapped, direct, atol=0.02 * max(gain, 1.0), rtol=1e-4)


def test_photos_sharing_a_reference_build_its_samples_once_and_get_the_same_colours():
    """The reference's samples stay in its own tones and each photo is brought to them (the
    linear lightness map undone on the photo's feature planes): photos of one size share them."""
    ref = ref_picture([("stripes", BLUE_AB), ("flat", RED_AB)])
    engine = ExemplarEngine()
    engine.start(photo_L()).targets((ref,))
    assert engine.shared.computed == 1
    # Another photo of the same size with other tones: the samples are not built again...
    darker = engine.start(photo_L() * 0.8 + 5.0).targets((ref,))
    assert engine.shared.computed == 1
    # ...its colours are what a fresh engine, building them for it, gives...
    fresh = ExemplarEngine().start(photo_L() * 0.8 + 5.0).targets((ref,))
    assert np.array_equal(darker[0], fresh[0]) and np.array_equal(darker[1], fresh[1])
    # ...and still the right ones: its tones were matched to the reference's.
    h = darker[0].shape[0]
    assert hue_gap(mean_ab(darker[0], slice(2, h // 2 - 4)), RED_AB) < 15
    assert hue_gap(mean_ab(darker[0], slice(h // 2 + 4, h - 2)), BLUE_AB) < 15
    # Another reference (its own key), or another photo size, builds its own.
    engine.start(photo_L()).targets((ref_picture([("flat", GREEN_AB)], key="other"),))
    assert engine.shared.computed == 2
    engine.start(photo_L(64, 80)).targets((ref,))
    assert engine.shared.computed == 3
    # A histogram map remaps the reference to each photo: nothing to share between tones.
    hist = ExemplarEngine(lightness_remap="histogram")
    hist.start(photo_L()).targets((ref,))
    hist.start(photo_L() * 0.8 + 5.0).targets((ref,))
    assert hist.shared.computed == 2


def test_a_copy_of_a_reference_met_before_is_named_as_asked_and_shares_its_pixels(tmp_path):
    a = np.zeros((40, 60, 3), np.uint8)
    a[:, :30] = (200, 40, 40)
    a[:, 30:] = (40, 60, 200)
    first, copy = tmp_path / "first.png", tmp_path / "elsewhere" / "copy.png"
    copy.parent.mkdir()
    Image.fromarray(a).save(first)
    copy.write_bytes(first.read_bytes())
    one, two = load_reference(first), load_reference(copy)
    assert one.path == str(first) and two.path == str(copy)
    assert two.content_hash == one.content_hash and two.lab is one.lab   # decoded once
    assert load_reference(first).path == str(first)


def test_photos_a_few_pixels_apart_in_size_share_the_references_samples():
    """Hand-cropped scans all differ a little in size: photos whose match grids are within
    AREA_STEP in area share the reference's samples (one build), each is matched at its own
    size and gets its colours; a clearly larger photo builds its own."""
    from colorstudio.engines._exemplar import AREA_STEP, sample_area
    ref = ref_picture([("stripes", BLUE_AB), ("flat", RED_AB)])
    engine = ExemplarEngine()
    sizes = [(96, 128), (96, 127), (95, 128), (97, 128)]          # areas within 1.1 % of each other
    areas = {h * w for h, w in sizes}
    assert max(areas) / min(areas) < AREA_STEP and len({sample_area(a) for a in areas}) == 1
    for h, w in sizes:
        ab, conf = engine.start(photo_L(h, w)).targets((ref,))
        assert ab.shape[:2] == (h, w)
        assert hue_gap(mean_ab(ab, slice(2, h // 2 - 4)), RED_AB) < 15
        assert hue_gap(mean_ab(ab, slice(h // 2 + 4, h - 2)), BLUE_AB) < 15
    assert engine.shared.computed == 1
    engine.start(photo_L(120, 128)).targets((ref,))                # 25 % more area
    assert engine.shared.computed == 2
    # The area a build is for is a function of the grid's own area alone (no order, no history).
    assert sample_area(96 * 128) == sample_area(96 * 127) and sample_area(96 * 128) != sample_area(120 * 128)
    assert abs(sample_area(96 * 128) / (96 * 128) - 1) <= (AREA_STEP - 1) / 2 + 1e-9


def _vote_by_hand(labels, ab, weights, bin_size, W, pool, k, limit=110.0):
    """The vote written out plainly: every region's a*, b* histograms of mass and chroma sums
    (pooled with its neighbours' when W is given), all boxed 3x3, the mass's best bin."""
    nb = int(np.ceil(2 * limit / bin_size))
    ia = np.clip(((ab[:, 0] + limit) / bin_size).astype(int), 0, nb - 1)
    ib = np.clip(((ab[:, 1] + limit) / bin_size).astype(int), 0, nb - 1)
    hist = np.zeros((3, k, nb + 2, nb + 2))
    for l, i, j, w, a in zip(labels, ia, ib, weights, ab):
        hist[:, l, i + 1, j + 1] += (w, w * a[0], w * a[1])
    if W is not None:
        own = hist / hist[0].sum(axis=(1, 2))[None, :, None, None]
        hist = own + pool * np.einsum("rj,cjxy->crxy", W.toarray(), own)
    out, conf = np.zeros((k, 2)), np.zeros(k)
    for r in range(k):
        box = sum(hist[:, r, 1 + di:1 + di + nb, 1 + dj:1 + dj + nb] for di in (-1, 0, 1) for dj in (-1, 0, 1))
        i, j = np.unravel_index(np.argmax(box[0]), (nb, nb))
        out[r] = box[1, i, j] / box[0, i, j], box[2, i, j] / box[0, i, j]
        conf[r] = box[0, i, j] / hist[0, r].sum()
    return out, conf


@pytest.mark.parametrize("pool", [0.0, 1.0, 0.5])
def test_vote_matches_the_plain_histogram_vote_with_and_without_pooling(pool):
    # vote gathers the chroma sums only in each region's winning window: the same numbers
    # as boxing every bin of every (pooled) histogram.
    rng = np.random.default_rng(3)
    k = 12
    labels_2d = np.repeat(np.arange(k), 10).reshape(6, 20)
    L_mean = rng.random(k) * 60 + 20
    W = _exemplar.region_graph(labels_2d, L_mean, 8.0) if pool else None
    n = 600
    vl = rng.integers(0, k, n)
    va = (rng.normal(0, 25, (n, 2)) + rng.normal(0, 30, (k, 2))[vl]).astype(np.float32)
    vw = rng.random(n)
    got_ab, got_conf = vote(vl, va, vw, 6.0, neighbours=W, pool=pool, regions=k)
    want_ab, want_conf = _vote_by_hand(vl, va, vw, 6.0, W, pool, k)
    assert np.allclose(got_ab, want_ab, atol=1e-3)
    assert np.allclose(got_conf, want_conf, atol=1e-5)


def test_the_solve_grid_takes_its_lightness_from_the_match_grid_in_one_pass_over_the_photo(monkeypatch):
    from colorstudio.core.resample import downsample_area
    from colorstudio.engines import _propagation
    rng = np.random.default_rng(0)
    L = np.clip(photo_L(300, 400) + rng.normal(0, 3, (300, 400)), 0, 100).astype(np.float32)
    ref = ref_picture([("flat", RED_AB), ("stripes", BLUE_AB)])
    passes = []
    real = _propagation.downsample_lightness_bands
    monkeypatch.setattr(_propagation, "downsample_lightness_bands",
                        lambda a, h, w: passes.append((h, w)) or real(a, h, w))
    engine = ExemplarEngine(match_side=256, render_side=192, preview_side=96)
    session = engine.start(L)
    out = session.chroma(Hints(), references=(ref,))
    assert passes == [(192, 256)]        # the match grid's; the 144 x 192 solve grid came from it
    grid = session.propagation.grid(192)
    assert out.ab.shape[:2] == grid.L.shape == (144, 192)
    assert np.array_equal(grid.L, downsample_area(session.propagation.grid(256).L, 144, 192))
    # The same answer whatever came first: a session asked without a reference (and for a
    # preview) before gets the same render with one as a fresh session.
    other = engine.start(L)
    other.chroma(Hints(), quality="preview")
    other.chroma(Hints())
    again = other.chroma(Hints(), references=(ref,))
    assert np.array_equal(again.ab, out.ab)
