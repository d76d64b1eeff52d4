"""Exceptions that the CLI turns into one clear line and a non-zero exit."""


class NeurokitError(Exception):
    """A problem with the user's input or environment, reported without a traceback.

    Raise it (or a subclass) wherever the user can fix the cause: an unknown task or model, a missing
    column, a label outside the label set, an empty split, a prompt that does not fit the model, a store
    that does not match the requested run. The message must stand alone on one line.
    """


class ConfigError(NeurokitError, ValueError):
    """An invalid setting in a config dataclass or on the command line."""


class StoreError(NeurokitError):
    """A store that is missing, incomplete, corrupt or belongs to another run."""
