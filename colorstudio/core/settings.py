"""Typed, versioned application settings that are not window geometry (that lives in QSettings).

One accessor, :func:`load_settings`, reads ``<data>/settings.json`` (``COLORSTUDIO_DATA``
overrides the folder); unknown or broken values fall back to defaults with a warning
sentence rather than stopping the app.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Optional

from .atomic import atomic_write_text
from .document import data_dir

SETTINGS_VERSION = 1
DEVICES = ("auto", "cpu", "cuda", "mps")


class SettingsError(ValueError):
    """A setting has a value it cannot take; the message names it."""


@dataclass(frozen=True)
class AppSettings:
    device: str = "auto"              # where neural engines run
    drag_preview_side: int = 384      # preview long side while the user drags
    preview_side: int = 1024          # preview long side when the user stops
    autosave_delay_ms: int = 800      # autosave this long after the last edit

    def __post_init__(self):
        if self.device not in DEVICES:
            raise SettingsError(f"device: {self.device!r} is not one of {', '.join(DEVICES)}")
        for name, lo, hi in (("drag_preview_side", 64, 4096), ("preview_side", 128, 8192),
                             ("autosave_delay_ms", 0, 60000)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise SettingsError(f"{name}: {v!r} is not a whole number from {lo} to {hi}")

    def to_dict(self) -> dict:
        return {"version": SETTINGS_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data) -> tuple["AppSettings", list[str]]:
        """Settings from a dict, keeping every valid value; also the sentences for those dropped."""
        problems: list[str] = []
        if not isinstance(data, dict):
            return cls(), ["the settings file does not hold an object; using the defaults"]
        if data.get("version", SETTINGS_VERSION) != SETTINGS_VERSION:
            problems.append(f"settings version {data.get('version')!r} is not {SETTINGS_VERSION}; "
                            "reading what is understood")
        out = cls()
        for f in fields(cls):
            if f.name not in data:
                continue
            try:
                out = replace(out, **{f.name: data[f.name]})
            except SettingsError as exc:
                problems.append(f"{exc}; using {getattr(out, f.name)!r}")
        return out, problems


def settings_path() -> Path:
    return data_dir() / "settings.json"


def load_settings(path: Optional[Path] = None) -> tuple[AppSettings, list[str]]:
    """The saved settings (defaults when there are none) and sentences about anything ignored."""
    path = Path(path) if path is not None else settings_path()
    from .files import MAX_TEXT_BYTES, FileError, read_regular_bytes
    if not path.exists() and not path.is_symlink():
        return AppSettings(), []
    try:
        text = read_regular_bytes(path, what="settings file", max_bytes=MAX_TEXT_BYTES).decode("utf-8")
    except FileError as exc:
        return AppSettings(), [f"{exc}; using the defaults"]
    except UnicodeDecodeError:
        return AppSettings(), [f"{path} is not UTF-8 text; using the defaults"]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return AppSettings(), [f"{path} is not valid JSON ({exc.msg}); using the defaults"]
    except (ValueError, RecursionError):
        return AppSettings(), [f"{path} is not a settings file; using the defaults"]
    return AppSettings.from_dict(data)


def save_settings(settings: AppSettings, path: Optional[Path] = None) -> None:
    path = Path(path) if path is not None else settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(settings.to_dict(), indent=2) + "\n")
