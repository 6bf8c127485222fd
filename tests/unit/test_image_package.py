"""The photo reader as a package: old import paths, no decode lock, bugs not disguised as damaged
files, and Pillow's private tile layout checked in one place."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

import colorstudio.core.image as image
from colorstudio.core.image import ImageError, open_image
from colorstudio.core.image import pil_tiles, pillow as pillow_mod, tiff as tiff_mod


def _rand(shape, dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    top = 255 if dtype == np.uint8 else 65535
    return rng.integers(0, top + 1, size=shape).astype(dtype)


def test_the_public_names_import_from_the_package():
    from colorstudio import ImageError as E, SourceImage as S, open_image as o
    from colorstudio.core.image import MAX_PIXELS_ENV, SourceImage, max_pixels_default
    assert (E, S, o) == (ImageError, SourceImage, open_image)
    assert MAX_PIXELS_ENV == "COLORSTUDIO_MAX_PIXELS" and max_pixels_default() > 0
    assert Path(image.__file__).name == "__init__.py"


# -- programming errors propagate; data errors are sentences -------------------------------------

@pytest.mark.parametrize("bug", [TypeError, KeyError, IndexError, AttributeError])
def test_a_bug_in_the_pillow_decoder_propagates_as_itself(tmp_path, monkeypatch, bug):
    Image.fromarray(_rand((8, 8))).save(tmp_path / "a.png")

    def broken(*args, **kwargs):
        raise bug("a programming error")

    monkeypatch.setattr(pillow_mod, "_pil_metadata", broken)
    with pytest.raises(bug):
        open_image(tmp_path / "a.png")


def test_a_bug_in_the_tiff_decoder_propagates_as_itself(tmp_path, monkeypatch):
    tifffile.imwrite(tmp_path / "a.tif", _rand((8, 8), np.uint16))

    def broken(*args, **kwargs):
        raise TypeError("a programming error")

    monkeypatch.setattr(tiff_mod, "_tifffile_page", broken)
    with pytest.raises(TypeError, match="a programming error"):
        open_image(tmp_path / "a.tif")


def test_a_key_error_from_tifffile_that_is_not_a_missing_codec_propagates(tmp_path, monkeypatch):
    tifffile.imwrite(tmp_path / "a.tif", _rand((8, 8), np.uint16))

    def broken(self, *args, **kwargs):
        raise KeyError("some_attribute")

    monkeypatch.setattr(tifffile.TiffPage, "asarray", broken)
    with pytest.raises(KeyError):
        open_image(tmp_path / "a.tif")


@pytest.mark.parametrize("data_error", [OSError("broken data stream"), SyntaxError("bad header"),
                                        ValueError("bad value"), EOFError()])
def test_data_errors_from_the_decoder_are_a_damaged_file(tmp_path, monkeypatch, data_error):
    Image.fromarray(_rand((8, 8))).save(tmp_path / "a.png")

    def broken(*args, **kwargs):
        raise data_error

    monkeypatch.setattr(pillow_mod, "_pil_metadata", broken)
    with pytest.raises(ImageError, match="^a.png is truncated or damaged$"):
        open_image(tmp_path / "a.png")


def test_truncated_files_are_still_refused_as_damaged(tmp_path):
    Image.fromarray(_rand((64, 64))).save(tmp_path / "a.png")
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="cut.png is truncated or damaged"):
        open_image(tmp_path / "cut.png")


# -- Pillow's private tile layout, in one place -----------------------------------------------------

def test_pillow_tile_layout_is_what_the_16_bit_decoder_expects(tmp_path):
    """Fails loudly when Pillow changes ``im.tile``: then pil_tiles.py needs updating."""
    a = _rand((5, 7, 3), np.uint16)
    path = tmp_path / "c16.png"
    # 48-bit PNG written through our own encoder (Pillow cannot write it).
    from colorstudio.core.export import write_image
    write_image(path, a)
    with Image.open(path) as im:
        assert im.mode == "RGB"
        assert pil_tiles.tile_rawmode(im) == "RGB;16B"
        t = im.tile[0]
        assert t.codec_name == "zip" and t.args in ("RGB;16B", ("RGB;16B",)) or t.args[0] == "RGB;16B"
        swapped = pil_tiles._retile(t, pil_tiles._swap_16_rawmode)
        assert type(swapped) is type(t) and swapped.extents == t.extents and swapped.offset == t.offset
        assert pil_tiles.tile_rawmode(type("I", (), {"tile": [swapped]})()) == "RGB;16L"
    assert pil_tiles._swap_16_rawmode("RGB;16B") == "RGB;16L"
    src = open_image(path)
    assert src.bit_depth == 16 and src.was_color
    np.testing.assert_array_equal(  # both bytes of every sample came through
        src.lightness, image.SourceImage.from_array(a).lightness)


def test_a_changed_tile_layout_is_a_loud_error_not_a_damaged_file(tmp_path, monkeypatch):
    from colorstudio.core.export import write_image
    path = tmp_path / "c16.png"
    write_image(path, _rand((5, 7, 3), np.uint16))

    class NewTile(tuple):  # what a future Pillow might hand back: no codec_name / args
        pass

    real_open = Image.open

    def open_with_new_tiles(*args, **kwargs):
        im = real_open(*args, **kwargs)
        im.tile = [NewTile(("zip", (0, 0, 7, 5), 0, "RGB;16B"))]
        return im

    monkeypatch.setattr(Image, "open", open_with_new_tiles)
    with pytest.raises(pil_tiles.PillowChanged, match="pil_tiles.py needs updating"):
        open_image(path)


# -- no process-wide lock -------------------------------------------------------------------------

def test_two_photos_decode_at_the_same_time(tmp_path, monkeypatch):
    """Each decode waits inside Pillow's part for the other to arrive: a lock would time out."""
    for i in range(2):
        Image.fromarray(_rand((16, 16), seed=i)).save(tmp_path / f"{i}.png")
    barrier = threading.Barrier(2, timeout=10)
    real = pillow_mod._decode_pil_image

    def meet_then_decode(*args, **kwargs):
        barrier.wait()
        return real(*args, **kwargs)

    monkeypatch.setattr(pillow_mod, "_decode_pil_image", meet_then_decode)
    results, errors = {}, []

    def work(i):
        try:
            results[i] = open_image(tmp_path / f"{i}.png")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(results) == [0, 1]


def test_threaded_decodes_give_the_same_pictures_as_one_at_a_time(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    paths = []
    for i in range(8):
        p = tmp_path / f"{i}.{['png', 'jpg', 'tif', 'png'][i % 4]}"
        if p.suffix == ".tif":
            tifffile.imwrite(p, _rand((40, 30, 3), np.uint16, seed=i), photometric="rgb")
        elif i % 4 == 3:
            from colorstudio.core.export import write_image
            write_image(p, _rand((40, 30, 3), np.uint16, seed=i))  # the two-pass 16-bit path
        else:
            Image.fromarray(_rand((40, 30, 3), seed=i)).save(p)
        paths.append(p)
    alone = [open_image(p) for p in paths]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(open_image, paths * 3))
    for k, src in enumerate(together):
        ref = alone[k % 8]
        assert src.content_hash == ref.content_hash and src.bit_depth == ref.bit_depth
        np.testing.assert_array_equal(src.lightness, ref.lightness)


def test_a_png_or_jpeg_opens_without_importing_every_pillow_plugin(tmp_path):
    """The signature names the format, so a fresh process decodes a PNG or a JPEG with Pillow's
    first few plugins only (all forty cost 30-50 ms before a first preview)."""
    import subprocess
    import sys
    Image.fromarray(np.tile(np.arange(64, dtype=np.uint8), (32, 1))).save(tmp_path / "p.png")
    Image.fromarray(np.tile(np.arange(64, dtype=np.uint8), (32, 1))).save(tmp_path / "p.jpg", quality=90)
    code = ("import sys\nfrom colorstudio.core.image import open_image\n"
            f"for name in ('p.png', 'p.jpg'):\n    assert open_image({str(tmp_path)!r} + '/' + name).size == (64, 32)\n"
            "print('PIL.EpsImagePlugin' in sys.modules, 'PIL.PdfImagePlugin' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_a_file_with_a_signature_but_another_format_is_still_read_or_refused(tmp_path):
    """A file starting with "BM" that is not a bitmap is refused with one sentence naming it
    (as when every plugin was tried), and a real bitmap still opens."""
    bogus = tmp_path / "notes.bmp"
    bogus.write_bytes(b"BM is how this text file happens to start, and nothing more.\n" * 4)
    with pytest.raises(ImageError, match="notes.bmp"):
        open_image(bogus)
    # A real photo with that signature still opens.
    Image.fromarray(np.full((8, 8), 77, np.uint8)).save(tmp_path / "real.bmp")
    assert open_image(tmp_path / "real.bmp").size == (8, 8)
