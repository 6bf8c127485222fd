"""The edit document: hints plus mode, engine, settings and reference, and its autosave store.

A saved document is a valid hints file (format "colorstudio.hints", version 1): the
document's own fields live under the extra key ``"document"``, which the hints reader keeps
and ignores, so ``colorstudio colorize --hints edit.json`` reads a saved document as is.

Autosaves are keyed by the photo's content hash, so reopening the same photo (after a crash,
or copied to another folder) brings its hints back.
"""
from __future__ import annotations

import json
import re
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

from collections.abc import Mapping
from typing import Iterator

from .atomic import atomic_write_text
from .files import os_error_sentence
from .hints import Hints, HintsError, brief, is_number, read_json
from .reference import Reference, ReferenceError, locate_references, with_content_hash
from .spec import MODE_LABELS as _MODE_LABELS, SATURATION, STRENGTH, Mode
from .paths import data_dir  # noqa: F401 (re-exported: the autosave store's default folder)

DOCUMENT_KEY = "document"
DOCUMENT_VERSION = 1
MODES = tuple(m.value for m in Mode)
MODE_LABELS = {m.value: label for m, label in _MODE_LABELS.items()}
SATURATION_RANGE = (SATURATION.minimum, SATURATION.maximum)
STRENGTH_RANGE = (STRENGTH.minimum, STRENGTH.maximum)
LOOKS = ("tones", "painting")


class _DefaultEngines(Mapping):
    """``DEFAULT_ENGINE[mode]``: the engine a new document of that mode starts with, as the
    engines' own declarations say (read at call time: the engines are the catalogue)."""

    def __getitem__(self, mode: str) -> str:
        from ..engines.registry import default_engine
        if mode not in MODES:
            raise KeyError(mode)
        return default_engine(mode)

    def __iter__(self) -> Iterator[str]:
        return iter(MODES)

    def __len__(self) -> int:
        return len(MODES)


DEFAULT_ENGINE: Mapping[str, str] = _DefaultEngines()


class DocumentError(ValueError):
    """A document file or autosave is malformed or unreadable; the message says which and why."""


@dataclass(frozen=True)
class PhotoRef:
    """Which photo a document belongs to: where it was and what it holds."""

    path: str = ""
    content_hash: str = ""
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class Document:
    """Everything a user made for one photo; immutable, edits return a new Document."""

    hints: Hints = field(default_factory=Hints)
    mode: str = "hints"
    engine: str = "propagation"
    saturation: float = 1.0
    references: tuple = ()          # Reference, ...: reference, palette and style modes
    photo: Optional[PhotoRef] = None
    extra: dict = field(default_factory=dict, compare=False, hash=False, repr=False)
    strength: float = 1.0           # how much of the reference/style (composition, no engine run)
    look: str = "tones"             # "tones" keeps the photo's L; "painting" (style) takes the painting's
    options: tuple = ()             # (name, value) pairs: the engine's own settings

    def __post_init__(self):
        if isinstance(self.mode, Mode):
            object.__setattr__(self, "mode", self.mode.value)
        if self.mode not in MODES:
            raise DocumentError(f"mode: {brief(self.mode)} is not one of {', '.join(MODES)}")
        if not isinstance(self.engine, str) or not self.engine:
            raise DocumentError(f"engine: {brief(self.engine)} is not an engine name")
        lo, hi = SATURATION_RANGE
        if not is_number(self.saturation) or not lo <= self.saturation <= hi:
            raise DocumentError(f"settings.saturation: {brief(self.saturation)} is not a number from {lo:g} to {hi:g}")
        lo, hi = STRENGTH_RANGE
        if not is_number(self.strength) or not lo <= self.strength <= hi:
            raise DocumentError(f"settings.strength: {brief(self.strength)} is not a number from {lo:g} to {hi:g}")
        if self.look not in LOOKS:
            raise DocumentError(f"settings.look: {brief(self.look)} is not one of {', '.join(LOOKS)}")
        refs = self.references
        if isinstance(refs, (str, Reference)):
            refs = (refs,)
        object.__setattr__(self, "references", tuple(r if isinstance(r, Reference) else Reference(str(r))
                                                     for r in (refs or ())))
        if isinstance(self.options, dict):
            object.__setattr__(self, "options", tuple(sorted(self.options.items())))

    @property
    def reference(self) -> Optional[str]:
        """The first reference's path, or None."""
        return self.references[0].path if self.references else None

    # -- edits ---------------------------------------------------------------------------
    def with_hints(self, hints: Hints) -> "Document":
        return replace(self, hints=hints)

    def with_saturation(self, saturation: float) -> "Document":
        return replace(self, saturation=float(saturation))

    def with_mode(self, mode: str, engine: Optional[str] = None) -> "Document":
        return replace(self, mode=mode, engine=engine or self.engine)

    def with_engine(self, engine: str) -> "Document":
        return replace(self, engine=engine)

    def with_reference(self, reference) -> "Document":
        """One reference (a path or a Reference), or none."""
        if not reference:
            return replace(self, references=())
        return replace(self, references=(reference if isinstance(reference, Reference) else Reference(str(reference)),))

    def with_references(self, references) -> "Document":
        return replace(self, references=tuple(references))

    def with_strength(self, strength: float) -> "Document":
        return replace(self, strength=float(strength))

    def with_look(self, look: str) -> "Document":
        return replace(self, look=look)

    def with_option(self, name: str, value) -> "Document":
        opts = dict(self.options)
        opts[name] = value
        return replace(self, options=tuple(sorted(opts.items())))

    def for_photo(self, photo: PhotoRef) -> "Document":
        """This document attached to ``photo``; hints are rescaled to its size if they differ."""
        hints = self.hints
        if photo.width and photo.height:
            hints = hints.scaled_to(photo.width, photo.height)
        return replace(self, photo=photo, hints=hints)

    # -- file format ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = self.hints.to_dict()
        settings: dict[str, Any] = {"saturation": round(float(self.saturation), 4)}
        if self.strength != 1.0:
            settings["strength"] = round(float(self.strength), 4)
        if self.look != "tones":
            settings["look"] = self.look
        if self.options:
            settings["options"] = dict(self.options)
        doc: dict[str, Any] = {**self.extra, "version": DOCUMENT_VERSION, "mode": self.mode,
                               "engine": self.engine, "settings": settings}
        doc["reference"] = self.reference   # read by older versions
        if self.references:
            doc["references"] = [r.to_dict() for r in self.references]
        if self.photo is not None:
            doc["photo"] = {"path": self.photo.path, "content_hash": self.photo.content_hash,
                            "width": self.photo.width, "height": self.photo.height}
        d[DOCUMENT_KEY] = doc
        return d

    @classmethod
    def from_dict(cls, data: Any) -> "Document":
        """Read a document, or a plain hints file (which becomes a Hints-mode document)."""
        try:
            hints = Hints.from_dict(data)
        except HintsError as exc:
            raise DocumentError(str(exc)) from None
        doc = hints.extra.get(DOCUMENT_KEY)
        hints = replace(hints, extra={k: v for k, v in hints.extra.items() if k != DOCUMENT_KEY})
        if doc is None:
            return cls(hints=hints)
        if not isinstance(doc, dict):
            raise DocumentError(f"{DOCUMENT_KEY}: must be an object")
        version = doc.get("version", DOCUMENT_VERSION)
        if version != DOCUMENT_VERSION:
            raise DocumentError(f"{DOCUMENT_KEY}.version: {brief(version)} is not supported "
                                f"(this Colorstudio reads version {DOCUMENT_VERSION})")
        mode = doc.get("mode", "hints")
        if mode not in MODES:
            raise DocumentError(f"{DOCUMENT_KEY}.mode: {brief(mode)} is not one of {', '.join(MODES)}")
        engine = doc["engine"] if "engine" in doc else DEFAULT_ENGINE[mode]
        if not isinstance(engine, str) or not engine:
            raise DocumentError(f"{DOCUMENT_KEY}.engine: {brief(engine)} is not an engine name")
        settings = doc.get("settings", {})
        if not isinstance(settings, dict):
            raise DocumentError(f"{DOCUMENT_KEY}.settings: must be an object")
        saturation = settings.get("saturation", 1.0)
        lo, hi = SATURATION_RANGE
        if not is_number(saturation) or not lo <= saturation <= hi:
            raise DocumentError(f"{DOCUMENT_KEY}.settings.saturation: {brief(saturation)} is not a number "
                                f"from {lo:g} to {hi:g}")
        reference = doc.get("reference")
        if reference is not None and not isinstance(reference, str):
            raise DocumentError(f"{DOCUMENT_KEY}.reference: {brief(reference)} is not a file path")
        refs = doc.get("references")
        if refs is None:
            references = (Reference(reference),) if reference else ()
        else:
            if not isinstance(refs, list):
                raise DocumentError(f"{DOCUMENT_KEY}.references: must be a list")
            try:
                references = tuple(Reference.from_dict(r) for r in refs)
            except ReferenceError as exc:
                raise DocumentError(f"{DOCUMENT_KEY}.references: {exc}") from None
        strength = settings.get("strength", 1.0)
        lo, hi = STRENGTH_RANGE
        if not is_number(strength) or not lo <= strength <= hi:
            raise DocumentError(f"{DOCUMENT_KEY}.settings.strength: {brief(strength)} is not a number "
                                f"from {lo:g} to {hi:g}")
        look = settings.get("look", "tones")
        if look not in LOOKS:
            raise DocumentError(f"{DOCUMENT_KEY}.settings.look: {brief(look)} is not one of {', '.join(LOOKS)}")
        options = settings.get("options", {})
        if not isinstance(options, dict) or not all(
                isinstance(v, (str, bool)) or is_number(v) for v in options.values()):
            raise DocumentError(f"{DOCUMENT_KEY}.settings.options: must be an object of names and values")
        photo = None
        if doc.get("photo") is not None:
            p = doc["photo"]
            if not isinstance(p, dict):
                raise DocumentError(f"{DOCUMENT_KEY}.photo: must be an object")
            for key in ("width", "height"):
                v = p.get(key, 0)
                if not is_number(v) or v < 0:
                    raise DocumentError(f"{DOCUMENT_KEY}.photo.{key}: {brief(v)} is not a size in pixels")
            photo = PhotoRef(str(p.get("path", "")), str(p.get("content_hash", "")),
                             int(p.get("width", 0)), int(p.get("height", 0)))
        known = ("version", "mode", "engine", "settings", "reference", "references", "photo")
        extra = {k: v for k, v in doc.items() if k not in known}
        return cls(hints, mode, engine, float(saturation), references, photo, extra, float(strength), look,
                   tuple(sorted(options.items())))

    @classmethod
    def load(cls, path) -> "Document":
        """Read a document (or a hints file) from ``path``; errors are DocumentError sentences."""
        path = Path(path)
        data = read_json(path, DocumentError, "Colorstudio document")
        try:
            return cls.from_dict(data)
        except DocumentError as exc:
            raise DocumentError(f"{path.name}: {exc}") from None

    def save(self, path) -> None:
        """Write the document atomically as JSON (a valid hints file); each reference is
        recorded with its file's content hash (SHA-256), so that it can be found again."""
        doc = self.with_reference_hashes(Path(path).parent)
        atomic_write_text(path, json.dumps(doc.to_dict(), indent=2) + "\n")

    def with_reference_hashes(self, base=None) -> "Document":
        """This document with each reference's content hash filled in from its file (kept
        as it is when the file cannot be read; relative paths from the folder ``base``)."""
        refs = tuple(with_content_hash(r, base) for r in self.references)
        return self if refs == self.references else replace(self, references=refs)

    def locate_references(self, near=()) -> tuple["Document", list]:
        """(this document with its references found again, sentences for the user): see
        :func:`colorstudio.core.reference.locate_references`; ``near`` are the folders of
        the document and of the photo. A missing reference is reported, never an error."""
        if not self.references:
            return self, []
        refs, notes = locate_references(self.references, near)
        return (self if refs == self.references else replace(self, references=refs)), notes



# -- the autosave store (in the user data folder, see core/paths.py) --------------------

_HASH = re.compile(r"^[0-9a-fA-F]{8,128}$")


class AutosaveStore:
    """Documents kept in ``<data>/autosave/<content hash>.json``, written atomically."""

    def __init__(self, folder: Optional[Path | str] = None):
        self.folder = Path(folder) if folder is not None else data_dir() / "autosave"
        self._checked: set[Path] = set()  # autosaves this store wrote or found readable

    def keep_aside(self, path: Path) -> Optional[Path]:
        """Rename an unreadable autosave to ``<name>.corrupt-<time>`` so nothing overwrites it.

        Returns the new path (None if it could not be moved; the caller then leaves it alone).
        """
        from .atomic import WriteError, rename_no_replace
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for n in range(100):
            aside = path.with_name(f"{path.name}.corrupt-{stamp}" + (f"-{n}" if n else ""))
            try:
                rename_no_replace(path, aside)
                return aside
            except WriteError:
                continue  # a copy kept aside in the same second: try the next name
            except OSError:
                return None
        return None

    def path_for(self, content_hash: str) -> Path:
        if not isinstance(content_hash, str) or not _HASH.match(content_hash):
            raise DocumentError(f"{content_hash!r} is not a photo content hash")
        return self.folder / f"{content_hash.lower()}.json"

    def save(self, document: Document) -> Path:
        """Autosave ``document`` under its photo's content hash and return the file's path."""
        if document.photo is None or not document.photo.content_hash:
            raise DocumentError("a document can only be autosaved once it belongs to a photo")
        path = self.path_for(document.photo.content_hash)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DocumentError(f"could not create the autosave folder {self.folder}: "
                                f"{os_error_sentence(exc, self.folder / 'x')}") from None
        if path not in self._checked and os.path.lexists(path):
            # An autosave this store has not read or written: if it is unreadable, keep it aside
            # (the user was told when the photo opened) rather than overwrite it.
            try:
                Document.load(path)
            except DocumentError:
                if self.keep_aside(path) is None:
                    raise DocumentError(f"the autosave {path} is unreadable and could not be kept aside; "
                                        "it was left as it is") from None
        document.save(path)
        self._checked.add(path)
        return path

    def load(self, content_hash: str) -> Optional[Document]:
        """The autosaved document for a photo, or None when there is none."""
        path = self.path_for(content_hash)
        if not os.path.lexists(path):
            return None
        doc = Document.load(path)
        self._checked.add(path)
        return doc

    def discard(self, content_hash: str) -> None:
        for path in (self.path_for(content_hash), self._link_path(content_hash)):
            try:
                path.unlink()
            except FileNotFoundError:
                pass

    # The file a photo's hints were last saved to or opened from, so the link survives a
    # restart (the window's title keeps its name; Save writes there again).
    def _link_path(self, content_hash: str) -> Path:
        return self.path_for(content_hash).with_suffix(".link")

    def save_link(self, content_hash: str, document_path: Optional[Path | str]) -> None:
        """Remember (or with None, forget) the document file of a photo."""
        path = self._link_path(content_hash)
        if document_path is None:
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DocumentError(f"could not create the autosave folder {self.folder}: {exc.strerror}") from None
        atomic_write_text(path, str(Path(document_path).resolve()) + "\n")

    def load_link(self, content_hash: str) -> Optional[Path]:
        """The document file of a photo, when one was remembered and is still there."""
        try:
            text = self._link_path(content_hash).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return None
        p = Path(text) if text else None
        return p if p is not None and p.is_file() else None
