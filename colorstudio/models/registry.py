"""The models Colorstudio knows, read from the engines' declarations.

A model is declared once, in the ``SPEC`` of the engine module that needs it (see
:mod:`colorstudio.core.spec`); this module is the model store's view of them. The catalogue
is read on first use, so importing the model layer stays cheap.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Iterator, MutableMapping

from ..core.spec import ModelFile, ModelSpec
from .errors import ModelError

def ModelInfo(name: str, label: str, purpose: str, filename: str, url: str, sha256_prefix: str,  # noqa: N802
              approx_bytes: int = 0, licence: str = "", source: str = "", citation: str = "",
              architecture: str = "", bundled: bool = False) -> ModelSpec:
    """A one-file ModelSpec, built from the file's fields (for models made at run time:
    user-trained networks, tests)."""
    return ModelSpec(name=name, label=label, purpose=purpose,
                     files=(ModelFile(filename, url, sha256_prefix, approx_bytes),), licence=licence,
                     source=source, citation=citation, architecture=architecture, bundled=bundled)


_FILE_FIELDS = {"filename": "filename", "url": "url", "sha256": "sha256", "sha256_prefix": "sha256",
                "size": "size", "approx_bytes": "size"}


def derive(info: ModelSpec, **changes) -> ModelSpec:
    """``info`` with some fields changed, its own (``name=``, ``architecture=``...) or its
    first file's (``filename``, ``url``, ``sha256`` or ``sha256_prefix``, ``size`` or
    ``approx_bytes``): a mirror, a test model."""
    file_changes = {_FILE_FIELDS[k]: changes.pop(k) for k in list(changes) if k in _FILE_FIELDS}
    if file_changes:
        changes["files"] = (replace(info.files[0], **file_changes), *info.files[1:])
    return replace(info, **changes)


def _catalogue() -> dict[str, ModelSpec]:
    # The engines declare their models; the catalogue is theirs (imported late, see above).
    from ..engines.registry import model_specs
    return model_specs()


class _Models(MutableMapping):
    """The engines' models, plus models added at run time (user-trained ones, tests)."""

    def __init__(self):
        self._added: dict[str, ModelSpec] = {}
        self._hidden: set[str] = set()

    def _all(self) -> dict[str, ModelSpec]:
        out = {k: v for k, v in _catalogue().items() if k not in self._hidden}
        out.update(self._added)
        return out

    def __getitem__(self, name: str) -> ModelSpec:
        return self._all()[name]

    def __setitem__(self, name: str, info: ModelSpec) -> None:
        self._hidden.discard(name)
        self._added[name] = info

    def __delitem__(self, name: str) -> None:
        if name not in self._all():
            raise KeyError(name)
        self._added.pop(name, None)
        if name in _catalogue():
            self._hidden.add(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


MODELS: MutableMapping[str, ModelSpec] = _Models()


def model_names() -> list[str]:
    return list(MODELS)


def get_model(name: str) -> ModelSpec:
    """The model ``name``, or a ModelError that lists the known names."""
    info = MODELS.get(name)
    if info is None:
        raise ModelError(f"there is no model called {name!r}; the known models are: {', '.join(MODELS)}")
    return info
