"""The one exception type data loading raises, so callers can tell bad input from bugs."""


class DataError(ValueError):
    """A dataset could not be built from what the user pointed at; the message names the input and the fix."""
