"""The one error tree of haplane.

Every error that can reach a client is a :class:`HaplaneError` with an HTTP code and a
Kubernetes ``Status`` reason. The API turns them into Status objects; the client turns
Status objects back into the same classes (:func:`from_status`), so callers on both sides
of the wire catch the same exceptions.
"""

from __future__ import annotations

from typing import Any


class HaplaneError(Exception):
    code: int = 500
    reason: str = "InternalError"

    def __init__(self, message: str = "", *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message or self.reason)
        self.message = message or self.reason
        self.details = details or {}

    def to_status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            status["details"] = self.details
        return status


class BadRequest(HaplaneError):
    code, reason = 400, "BadRequest"


class Unauthorized(HaplaneError):
    code, reason = 401, "Unauthorized"


class Forbidden(HaplaneError):
    code, reason = 403, "Forbidden"


class NotFound(HaplaneError):
    code, reason = 404, "NotFound"


class MethodNotAllowed(HaplaneError):
    code, reason = 405, "MethodNotAllowed"


class NotAcceptable(HaplaneError):
    code, reason = 406, "NotAcceptable"


class AlreadyExists(HaplaneError):
    code, reason = 409, "AlreadyExists"


class Conflict(HaplaneError):
    code, reason = 409, "Conflict"


class Gone(HaplaneError):
    code, reason = 410, "Gone"


class Expired(Gone):
    """410 with Kubernetes' ``Expired`` reason: a continue token or resourceVersion older than the
    history this replica keeps. ``continue_token`` (when set) resumes the list inconsistently."""

    code, reason = 410, "Expired"

    def __init__(self, message: str = "", *, continue_token: str | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details=details)
        self.continue_token = continue_token

    def to_status(self) -> dict[str, Any]:
        status = super().to_status()
        if self.continue_token:
            status["metadata"]["continue"] = self.continue_token
        return status


class RequestEntityTooLarge(HaplaneError):
    code, reason = 413, "RequestEntityTooLarge"


class UnsupportedMediaType(HaplaneError):
    code, reason = 415, "UnsupportedMediaType"


class Invalid(HaplaneError):
    code, reason = 422, "Invalid"


class TooManyRequests(HaplaneError):
    code, reason = 429, "TooManyRequests"


class Unavailable(HaplaneError):
    """No quorum or no leader: the request may be retried, here or at another replica."""

    code, reason = 503, "ServiceUnavailable"

    def __init__(self, message: str = "", *, retry_after: float = 1.0, details: dict[str, Any] | None = None):
        super().__init__(message, details=details)
        self.retry_after = retry_after

    def to_status(self) -> dict[str, Any]:
        status = super().to_status()
        status.setdefault("details", {})["retryAfterSeconds"] = max(1, int(round(self.retry_after)))
        return status


class InsufficientStorage(Unavailable):
    """This replica cannot persist the Raft log (its disk is full or failing): the write was
    not acknowledged. Writes resume by themselves once the disk takes writes again."""

    code, reason = 507, "InsufficientStorage"


class OutcomeUnknown(HaplaneError):
    """A write timed out or lost its leader: it may or may not have been applied.

    Retrying with the same request id is safe: the state machine applies it at most once.
    """

    code, reason = 504, "Timeout"


_BY_REASON: dict[str, type[HaplaneError]] = {
    cls.reason: cls
    for cls in (
        BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed, AlreadyExists, Conflict, Gone, Expired,
        NotAcceptable, RequestEntityTooLarge, UnsupportedMediaType, Invalid, TooManyRequests, Unavailable,
        InsufficientStorage, OutcomeUnknown,
    )
}


def from_status(status: dict[str, Any], http_code: int | None = None) -> HaplaneError:
    """Rebuild the exception a Status object describes (the client side of ``to_status``)."""
    reason = str(status.get("reason") or "")
    message = str(status.get("message") or reason or "request failed")
    details = status.get("details") if isinstance(status.get("details"), dict) else None
    cls = _BY_REASON.get(reason)
    if cls is None:
        err = HaplaneError(message, details=details)
        err.code = int(status.get("code") or http_code or 500)
        err.reason = reason or "InternalError"
        return err
    if cls is Unavailable:
        retry = float((details or {}).get("retryAfterSeconds", 1))
        return Unavailable(message, retry_after=retry, details=details)
    return cls(message, details=details)
