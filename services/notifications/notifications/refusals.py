"""Why a use case refuses, without HTTP: the routes map each to its status in one place
(notifications.routes.refusals)."""


class NotFound(LookupError):
    """404: the record named does not exist (or is not the caller's)."""


class Conflict(Exception):
    """409: the record's state refuses the step; the message says why and what would do."""


class Refused(Exception):
    """403: the caller's role may not take this step."""


class Invalid(ValueError):
    """422 naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
