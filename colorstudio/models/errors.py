"""Errors of the model manager: each message is one sentence for the user."""
from __future__ import annotations


class ModelError(RuntimeError):
    """A model could not be found, downloaded, verified or loaded; the message says what to do."""


class ModelCancelled(Exception):
    """A long model job (download, import) stopped because ``should_stop()`` turned true."""
