"""Error types: a UserError is the caller's mistake (bad data, bad hyperparameter, bad model dir)."""


class UserError(Exception):
    """A problem the user can fix; its message is shown to them as is."""


class ModelFormatError(UserError):
    """A model directory that this version cannot read."""
