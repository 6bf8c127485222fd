"""``colorstudio --version``: the version, torch and Qt versions, the device, the folders, and
the installed models with their licences."""
from __future__ import annotations

import colorstudio
from colorstudio.core import resources
from colorstudio.models import registry


def test_version_names_everything_a_bug_report_needs(cli, isolated_home):
    import PySide6
    import torch
    r = cli("--version")
    assert r.rc == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == f"colorstudio {colorstudio.__version__}"
    assert f"torch {torch.__version__}" in lines
    assert any(ln.startswith("Qt ") and f"PySide6 {PySide6.__version__}" in ln for ln in lines)
    device = next(ln for ln in lines if ln.startswith("device: "))
    assert device.split()[1] in ("cpu", "cuda", "mps") and "(setting: auto)" in device
    assert f"data folder: {isolated_home / 'colorstudio'}" in lines
    assert f"models folder: {isolated_home / 'models'}" in lines
    # A fresh models folder: only the models bundled with Colorstudio, each with its licence text.
    from colorstudio.models.registry import MODELS
    bundled = [info for info in MODELS.values() if info.bundled]
    listed = r.out.split("models installed:", 1)[1].strip().splitlines()
    assert len(listed) == len(bundled) or (not bundled and listed == ["none"]), listed
    for info, line in zip(bundled, listed):
        assert line.startswith(f"{info.name} ({info.label}): licence {info.licence}; bundled with Colorstudio"), line
        assert "licence text: " in line, line
    assert not r.err


def test_version_lists_installed_and_bundled_models_with_licences(main, isolated_home, tmp_path, monkeypatch):
    downloaded = registry.ModelInfo("tinynet", "Tiny network", "tests", "tiny-0123.pth", "https://example.org/t.pth",
                                    "0123", licence="BSD-2-Clause")
    absent = registry.ModelInfo("absentnet", "Absent network", "tests", "absent.pth", "https://example.org/a.pth",
                                "4567", licence="Apache-2.0")
    bundled = registry.ModelInfo("packednet", "Packed network", "tests", "packed.pth", "https://example.org/p.pth",
                                 "89ab", licence="MIT", bundled=True)
    for info in (downloaded, absent, bundled):
        monkeypatch.setitem(registry.MODELS, info.name, info)
    (isolated_home / "models" / "tiny-0123.pth").write_bytes(b"weights")
    shipped = tmp_path / "resources"
    (shipped / "models" / "packednet").mkdir(parents=True)
    (shipped / "models" / "packednet" / "LICENSE").write_text("MIT License\n")
    (shipped / "models" / "packednet" / "packed.pth").write_bytes(b"weights")
    monkeypatch.setattr(resources, "resource_root", lambda: shipped)

    r = main("--version")
    assert r.rc == 0, r.err
    models = r.out.split("models installed:", 1)[1]
    assert "tinynet (Tiny network): licence BSD-2-Clause; " + str(isolated_home / "models" / "tiny-0123.pth") in models
    assert ("packednet (Packed network): licence MIT; bundled with Colorstudio; licence text: "
            + str(shipped / "models" / "packednet" / "LICENSE")) in models
    assert "absentnet" not in models
