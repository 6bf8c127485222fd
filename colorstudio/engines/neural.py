"""Kept for older imports: the neural engines' shared machinery is in ``engines._neural``
(device, precision, working size, runner, engine), one concern per module."""
from ._neural import *  # noqa: F401,F403
from ._neural import __all__  # noqa: F401
