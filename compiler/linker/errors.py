"""The one exception type of the linker: a message for the user, no traceback."""


class LinkError(Exception):
    """A link failed; ``str(err)`` is the complete report (several lines allowed)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
