"""The training job's one error type: a sentence for the user."""
from __future__ import annotations


class TrainingError(RuntimeError):
    """Training cannot go on; the message says what happened and what to do."""
