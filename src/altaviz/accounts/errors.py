"""Errors services raise that a caller can act on; the API maps each to one HTTP status."""


class ServiceError(Exception):
    """Base: `str(error)` is a sentence for the user."""


class NotFound(ServiceError, LookupError):
    """No such object in the caller's organization (another organization's looks the same)."""


class Conflict(ServiceError):
    """The object's state does not allow the action (e.g. resolving a resolved alert)."""


class UpgradeRequired(ServiceError, PermissionError):
    """The organization's plan does not include this."""

    def __init__(self, message: str, plan: str) -> None:
        super().__init__(message)
        self.plan = plan


class Forbidden(ServiceError, PermissionError):
    """The caller's role or kind of credential does not allow this."""


class NotAuthenticated(ServiceError):
    """No valid session or API key came with the request."""
