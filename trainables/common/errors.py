"""Errors a user can act on: the CLI prints their one-line message and exits 2."""


class UserError(Exception):
    """A problem with the user's input (files, flags, configuration), not a bug."""


class DataError(UserError):
    """A data file is missing, damaged or inconsistent; the message names the file."""


class ConfigError(UserError):
    """A configuration, search space or flag value is invalid."""


class TrainingDiverged(UserError):
    """A loss or metric became NaN or infinite: the run stops, reported as failed."""
