"""Installing a model as a job (``run(runtime, progress, should_stop)``): the app's Models
dialog runs these on a worker of its own (gui/workers.py), never on the compute thread.

A cancelled download keeps its ``.part`` file, so the next install resumes it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..core.jobs import Cancelled


@dataclass(frozen=True)
class InstallModel:
    """Download model ``name`` (resuming an interrupted download); returns its path.
    With ``path``: install that file instead (checked the same way), for machines offline."""

    name: str
    path: Optional[str] = None
    long = True

    @property
    def kind(self) -> str:
        return "download" if self.path is None else "import"

    def run(self, runtime=None, progress=None, should_stop=None) -> Path:
        from .. import models
        from .errors import ModelCancelled
        try:
            if self.path is None:
                return models.install(self.name, progress=progress, should_stop=should_stop)
            return models.import_model(self.name, self.path, progress=progress, should_stop=should_stop)
        except ModelCancelled as exc:
            raise Cancelled() from exc

    def describe_error(self, exc: BaseException) -> str:
        from .errors import ModelError
        if isinstance(exc, ModelError):
            return str(exc)
        return f"the {self.kind} of {self.name} failed: {type(exc).__name__}: {exc}"
