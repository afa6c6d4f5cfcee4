"""One small error hierarchy.  Every message says what was wrong and what to do."""


class HakisaError(Exception):
    """Base class: the CLI prints the message (no traceback) and exits with status 2."""


class ProfileError(HakisaError):
    """A game profile is missing, malformed or has an invalid field."""


class DatasetError(HakisaError):
    """A dataset file is missing, truncated, foreign or inconsistent."""


class DisplayError(HakisaError):
    """A screen is needed but no display can be reached."""


class WindowNotFoundError(HakisaError):
    """The game's window could not be found (or disappeared)."""


class OutputError(HakisaError):
    """An output path exists, cannot be written, or the disk is full."""


class DeviceError(HakisaError):
    """A compute device was asked for that this torch cannot use."""


class ConfigError(HakisaError):
    """A command-line flag or config field is out of its allowed range."""


class ResourceError(HakisaError):
    """The machine lacks what a run needs (memory, disk space) or a declared size is past a limit."""
