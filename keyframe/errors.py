"""Errors that the CLI turns into one line on stderr and exit code 2."""


class KeyframeError(Exception):
    """A usage or input error the user can fix: bad file, bad option, missing weights.

    The CLI prints ``str(error)`` as a single line and exits with code 2.
    """


class ConfigError(KeyframeError):
    """A configuration file that does not match the typed schema."""


class WeightsError(KeyframeError):
    """Model weights that are missing, incomplete, of the wrong class or unsafe to load."""


class InputError(KeyframeError, ValueError):
    """Arrays a stage cannot work on: wrong shape or dtype, an empty mask, too few frames.

    A ``ValueError`` for library callers and a :class:`KeyframeError` (exit 2) for the CLI; raised
    by :mod:`keyframe.validation`, the same fault with the same class in every stage.
    """
