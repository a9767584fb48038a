"""The exceptions scalesearch raises for problems a user can fix.

Every subclass of `ScaleSearchError` carries a message that names the problem and the
fix; the CLI prints it on one line and exits with code 2, never with a traceback.
"""

from __future__ import annotations


class ScaleSearchError(Exception):
    """Base class of user-facing errors (bad input, missing files, unknown names)."""


class SpecError(ScaleSearchError, ValueError):
    """An architecture spec breaks a rule (a width the heads do not divide, ...)."""


class UnknownModelError(ScaleSearchError, ValueError):
    """A model name is neither a preset nor a search space."""
