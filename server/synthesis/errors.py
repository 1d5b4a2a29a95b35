"""The one error type for a bad input: `FieldError` names the field at fault (the API answers 422)."""


class FieldError(ValueError):
    """An input is invalid; `field` names it (None: the request as a whole), `message` says why."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field = field
        self.message = message
