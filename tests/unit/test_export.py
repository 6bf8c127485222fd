"""write_image: bit depth, alpha, sRGB profile, metadata and provenance, refusals, atomicity."""
from __future__ import annotations

import errno
import io
import os

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms

import colorstudio
from colorstudio.core import export as export_mod
from colorstudio.core.export import ExportError, format_for_path, srgb_icc_profile, write_image
from colorstudio.core.image import SourceImage, open_image

RNG = np.random.default_rng(11)


def rand(shape, dtype=np.uint8):
    top = 65535 if dtype == np.uint16 else 255
    return RNG.integers(0, top + 1, size=shape).astype(dtype)


def profile_name(icc: bytes) -> str:
    return ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).strip()


# ---------------------------------------------------------------------------------------------
# Pixels, depth and alpha


@pytest.mark.parametrize("with_alpha", [False, True])
def test_16bit_png_reads_back_exactly(tmp_path, png_raw, with_alpha):
    rgb = rand((13, 17, 3), np.uint16)
    alpha = rand((13, 17), np.uint16) if with_alpha else None
    out = write_image(tmp_path / "c.png", rgb, alpha=alpha)
    pixels, chunks = png_raw.read(out)  # an independent, spec-level decoder
    assert pixels.dtype == np.uint16
    np.testing.assert_array_equal(pixels[..., :3], rgb)
    if with_alpha:
        np.testing.assert_array_equal(pixels[..., 3], alpha)
    assert "iCCP" in chunks
    # And our own reader agrees, at 16 bits.
    src = open_image(out)
    assert src.bit_depth == 16
    if with_alpha:
        np.testing.assert_array_equal(src.alpha, alpha)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("with_alpha", [False, True])
def test_tiff_reads_back_exactly(tmp_path, dtype, with_alpha):
    rgb = rand((9, 11, 3), dtype)
    alpha = rand((9, 11), dtype) if with_alpha else None
    out = write_image(tmp_path / "c.tif", rgb, alpha=alpha)
    data = tifffile.imread(out)
    assert data.dtype == dtype
    np.testing.assert_array_equal(data[..., :3], rgb)
    if with_alpha:
        np.testing.assert_array_equal(data[..., 3], alpha)
    with tifffile.TiffFile(out) as tif:
        assert profile_name(bytes(tif.pages.first.tags[34675].value)) == "sRGB built-in"


def test_8bit_png_and_lossless_webp_keep_pixels_and_alpha(tmp_path):
    rgb, alpha = rand((8, 9, 3)), rand((8, 9))
    for name, kwargs in (("c.png", {}), ("c.webp", {"quality": 100})):
        out = write_image(tmp_path / name, rgb, alpha=alpha, **kwargs)
        im = Image.open(out)
        assert im.mode == "RGBA"
        got = np.asarray(im)
        np.testing.assert_array_equal(got[..., 3], alpha)
        visible = alpha > 0  # lossless WebP may drop colour under fully transparent pixels
        np.testing.assert_array_equal(got[..., :3][visible], rgb[visible])


def test_jpeg_and_bmp_drop_alpha(tmp_path):
    rgb, alpha = rand((8, 9, 3)), rand((8, 9))
    assert Image.open(write_image(tmp_path / "c.jpg", rgb, alpha=alpha)).mode == "RGB"
    assert Image.open(write_image(tmp_path / "c.bmp", rgb, alpha=alpha)).mode == "RGB"


def test_16bit_is_rounded_not_truncated_for_8bit_formats(tmp_path):
    # 257k + 128 rounds down to k, 257k + 129 rounds up to k + 1; truncation (>> 8) differs.
    v = np.array([[257 * 10 + 128, 257 * 10 + 129, 65535, 0, 257 * 200 + 200]], dtype=np.uint16)
    rgb = np.repeat(v[..., None], 3, axis=2)
    got = np.asarray(Image.open(write_image(tmp_path / "c.bmp", rgb)))[..., 0]
    np.testing.assert_array_equal(got[0], [10, 11, 255, 0, 201])


def test_uint16_alpha_with_uint8_image_and_back(tmp_path):
    rgb8 = rand((4, 5, 3))
    a16 = np.full((4, 5), 257 * 77, np.uint16)
    got = np.asarray(Image.open(write_image(tmp_path / "a.png", rgb8, alpha=a16)))
    assert np.all(got[..., 3] == 77)
    rgb16 = rand((4, 5, 3), np.uint16)
    a8 = np.full((4, 5), 3, np.uint8)
    src = open_image(write_image(tmp_path / "b.png", rgb16, alpha=a8))
    assert src.alpha.dtype == np.uint16 and np.all(src.alpha == 3 * 257)


# ---------------------------------------------------------------------------------------------
# Profile, metadata, provenance


@pytest.mark.parametrize("name", ["o.png", "o16.png", "o.jpg", "o.webp", "o.tif"])
def test_srgb_profile_is_embedded(tmp_path, name):
    rgb = rand((4, 4, 3), np.uint16 if "16" in name else np.uint8)
    out = write_image(tmp_path / name, rgb)
    with Image.open(out) as im:
        icc = im.info.get("icc_profile")
    assert icc == srgb_icc_profile()
    assert "sRGB" in profile_name(icc)


@pytest.fixture
def camera_source(tmp_path, make_exif):
    """A JPEG with EXIF (turned camera, make, date), dpi and its SourceImage."""
    path = tmp_path / "grandma.jpg"
    Image.fromarray(rand((6, 8))).save(path, exif=make_exif(6, make="Leica", datetime_original="1950:06:01 12:00:00"),
                                       dpi=(300, 300))
    return open_image(path)


def _exif(path) -> Image.Exif:
    with Image.open(path) as im:
        return im.getexif()


@pytest.mark.parametrize("name", ["out.jpg", "out.png", "out16.png", "out.webp"])
def test_exif_dpi_and_provenance_are_carried(tmp_path, camera_source, name):
    h, w = camera_source.height, camera_source.width
    rgb = rand((h, w, 3), np.uint16 if "16" in name else np.uint8)
    out = write_image(tmp_path / name, rgb, source=camera_source, provenance={"engine": "propagation"})
    exif = _exif(out)
    assert exif[0x0112] == 1
    assert exif[0x010F] == "Leica"
    assert exif.get_ifd(0x8769)[0x9003] == "1950:06:01 12:00:00"
    assert exif[0x0131] == f"Colorstudio {colorstudio.__version__}"
    description = exif[0x010E]
    assert "grandma.jpg" in description and camera_source.content_hash in description
    assert "propagation" in description
    if name != "out.webp":
        with Image.open(out) as im:
            assert im.info["dpi"] == pytest.approx((300, 300), abs=0.01)


def test_png_text_chunks_hold_provenance(tmp_path, camera_source):
    rgb = rand((camera_source.height, camera_source.width, 3), np.uint16)
    for name in ("a.png", "b.png"):
        data = rgb if name == "a.png" else (rgb >> 8).astype(np.uint8)
        out = write_image(tmp_path / name, data, source=camera_source, provenance={"engine": "eccv16"})
        with Image.open(out) as im:
            text = im.text
        assert text["Software"] == f"Colorstudio {colorstudio.__version__}"
        assert text["colorstudio:source"] == "grandma.jpg"
        assert text["colorstudio:source_sha256"] == camera_source.content_hash
        assert text["colorstudio:engine"] == "eccv16"


def test_tiff_holds_provenance_in_tags_even_for_non_ascii_names(tmp_path):
    src = SourceImage.from_array(rand((4, 5)))
    out = write_image(tmp_path / "o.tif", rand((4, 5, 3)), source=src,
                      provenance={"source": "Großmutter é.jpg", "engine": "style"})
    with tifffile.TiffFile(out) as tif:
        tags = tif.pages.first.tags
        assert tags[305].value.startswith("Colorstudio ")
        assert "from Gro?mutter e.jpg" in tags[270].value  # 7-bit ASCII tags: accents folded
        assert src.content_hash in tags[270].value


def test_png_source_text_and_non_latin_provenance(tmp_path):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Title", "Wedding, 1931")
    Image.fromarray(rand((3, 4))).save(tmp_path / "s.png", pnginfo=info)
    src = open_image(tmp_path / "s.png")
    for name, dtype in (("o.png", np.uint8), ("o16.png", np.uint16)):
        out = write_image(tmp_path / name, rand((3, 4, 3), dtype), source=src, provenance={"engine": "写真"})
        with Image.open(out) as im:
            assert im.text["Title"] == "Wedding, 1931"
            assert im.text["colorstudio:engine"] == "写真"


# ---------------------------------------------------------------------------------------------
# Refusals


def test_refuses_to_write_over_the_source(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    path = folder / "photo.png"
    Image.fromarray(rand((4, 4, 3))).save(path)
    before = path.read_bytes()
    src = open_image(path)
    rgb = rand((4, 4, 3))
    os.link(path, tmp_path / "hardlink.png")
    for target in (path, folder / ".." / "photos" / "photo.png", tmp_path / "hardlink.png"):
        with pytest.raises(ExportError, match="is the source photo"):
            write_image(target, rgb, source=src, overwrite=True)
    assert path.read_bytes() == before


def test_refuses_existing_file_unless_overwrite(tmp_path):
    out = tmp_path / "out.png"
    out.write_bytes(b"old")
    with pytest.raises(ExportError) as info:
        write_image(out, rand((4, 4, 3)))
    assert str(info.value) == "out.png already exists; use --overwrite to replace it"
    assert out.read_bytes() == b"old"
    write_image(out, rand((4, 4, 3)), overwrite=True)
    assert Image.open(out).size == (4, 4)


@pytest.mark.parametrize("kwargs,path,message", [
    ({}, "missing/out.png", "the folder"),
    ({}, "out.xyz", "out.xyz has the suffix '.xyz'"),
    ({"fmt": "gif"}, "out.png", "'gif' is not a format"),
    ({"quality": 0}, "out.jpg", "quality must be a whole number from 1 to 100"),
    ({"rgb": np.zeros((4, 4), np.uint8)}, "out.png", "(H, W, 3) array"),
    ({"rgb": np.zeros((4, 4, 3), np.float32)}, "out.png", "(H, W, 3) array"),
    ({"alpha": np.zeros((3, 4), np.uint8)}, "out.png", "alpha to save"),
    ({"rgb": np.zeros((1, 16384, 3), np.uint8)}, "wide.webp", "WEBP cannot hold"),
])
def test_bad_requests_get_one_sentence(tmp_path, kwargs, path, message):
    rgb = kwargs.pop("rgb", rand((4, 4, 3)))
    with pytest.raises(ExportError) as info:
        write_image(tmp_path / path, rgb, **kwargs)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_format_for_path():
    assert [format_for_path(p) for p in ("a.PNG", "b.tif", "c.tiff", "d.jpeg", "e.JPG", "f.webp", "g.bmp")] == \
        ["png", "tiff", "tiff", "jpeg", "jpeg", "webp", "bmp"]
    with pytest.raises(ExportError, match="no suffix"):
        format_for_path("noext")


# ---------------------------------------------------------------------------------------------
# Atomic writes


def _no_partial_files(folder) -> bool:
    return not [p for p in os.listdir(folder) if p.endswith(".part")]


@pytest.mark.parametrize("name,encoder", [("out16.png", "png16"), ("out.png", "pillow"), ("out.tif", "tiff")])
def test_failed_write_leaves_old_file_and_no_partial(tmp_path, monkeypatch, name, encoder):
    out = tmp_path / name
    out.write_bytes(b"the old file")
    rgb = rand((64, 64, 3), np.uint16 if "16" in name else np.uint8)

    def half_then_disk_full(fp, *args, **kwargs):
        target = fp if isinstance(fp, (str, os.PathLike)) else None
        with open(target, "wb") as fh:
            fh.write(b"\x89PNG half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    if encoder == "png16":
        monkeypatch.setattr(export_mod, "_write_png16", lambda tmp, *a, **k: half_then_disk_full(tmp))
    elif encoder == "pillow":
        monkeypatch.setattr(Image.Image, "save", lambda self, fp, *a, **k: half_then_disk_full(fp))
    else:
        monkeypatch.setattr(tifffile, "imwrite", lambda fp, *a, **k: half_then_disk_full(fp))
    with pytest.raises(ExportError, match="the disk is full"):
        write_image(out, rgb, overwrite=True)
    assert out.read_bytes() == b"the old file"
    assert _no_partial_files(tmp_path)

    # The same failure with no old file leaves nothing at all.
    fresh = tmp_path / ("new" + name)
    with pytest.raises(ExportError):
        write_image(fresh, rgb)
    assert not fresh.exists() and _no_partial_files(tmp_path)


def test_lightness_survives_a_16bit_round_trip(tmp_path):
    """The invariant seen from I/O: a 16-bit grey photo written as RGB reads back with the same L."""
    grey = rand((16, 16), np.uint16)
    src = SourceImage.from_array(grey)
    out = write_image(tmp_path / "g.png", np.repeat(grey[..., None], 3, axis=2), source=src)
    back = open_image(out)
    np.testing.assert_allclose(back.lightness, src.lightness, atol=1e-4)
    assert not back.was_color


# ---------------------------------------------------------------------------------------------
# Compression level (the batch writes at the level it is given; the pixels never change)


def _smooth(shape, dtype):
    y, x = np.mgrid[0:shape[0], 0:shape[1]]
    top = 65535 if dtype == np.uint16 else 255
    base = (x * 7 + y * 3 + (x * y) % 11).astype(np.int64)
    return np.stack([(base * k) % (top + 1) for k in (1, 3, 5)], axis=-1).astype(dtype)


@pytest.mark.parametrize("suffix,dtype", [(".png", np.uint8), (".png", np.uint16), (".tif", np.uint16)])
def test_compression_level_changes_the_bytes_never_the_pixels(tmp_path, png_raw, suffix, dtype):
    rgb = _smooth((120, 160), dtype)
    fast = write_image(tmp_path / f"fast{suffix}", rgb, compress_level=1)
    small = write_image(tmp_path / f"small{suffix}", rgb, compress_level=9)
    assert fast.read_bytes() != small.read_bytes()

    def pixels(path):
        if suffix == ".tif":
            return tifffile.imread(path)
        if dtype == np.uint16:
            return png_raw.read(path)[0]
        return np.asarray(Image.open(path).convert("RGB"))
    np.testing.assert_array_equal(pixels(fast), rgb)
    np.testing.assert_array_equal(pixels(small), rgb)


@pytest.mark.parametrize("level", [-1, 10, 2.5, True])
def test_a_compression_level_outside_0_to_9_is_refused(tmp_path, level):
    with pytest.raises(ExportError, match="compression level"):
        write_image(tmp_path / "x.png", rand((4, 4, 3)), compress_level=level)
    assert not list(tmp_path.iterdir())
