"""Gmail's error responses, in the exact JSON shape Google's front end returns.

Every failure the emulator produces is a ``GmailError``; ``responses`` renders it. Keeping
the shapes here (and nowhere else) is what lets client retry logic be tested faithfully.
"""

from __future__ import annotations


class GmailError(Exception):
    """An API error: HTTP status, message, reason and the google.rpc status name."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str,
        status: str,
        domain: str = "global",
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.status = status
        self.domain = domain
        self.headers = headers or {}

    def body(self) -> dict:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "errors": [{"message": self.message, "domain": self.domain, "reason": self.reason}],
                "status": self.status,
            }
        }


def bad_request(message: str, reason: str = "invalidArgument") -> GmailError:
    return GmailError(400, message, reason, "INVALID_ARGUMENT")


def failed_precondition(message: str = "Precondition check failed.") -> GmailError:
    return GmailError(400, message, "failedPrecondition", "FAILED_PRECONDITION")


def not_found(message: str = "Requested entity was not found.") -> GmailError:
    return GmailError(404, message, "notFound", "NOT_FOUND")


def unauthenticated(missing: bool = False) -> GmailError:
    if missing:
        message = (
            "Request is missing required authentication credential. Expected OAuth 2 access "
            "token, login cookie or other valid authentication credential. See "
            "https://developers.google.com/identity/sign-in/web/devconsole-project."
        )
    else:
        message = (
            "Request had invalid authentication credentials. Expected OAuth 2 access token, "
            "login cookie or other valid authentication credential. See "
            "https://developers.google.com/identity/sign-in/web/devconsole-project."
        )
    return GmailError(
        401,
        message,
        "authError" if not missing else "required",
        "UNAUTHENTICATED",
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
    )


def insufficient_scopes() -> GmailError:
    return GmailError(
        403,
        "Request had insufficient authentication scopes.",
        "insufficientPermissions",
        "PERMISSION_DENIED",
        headers={
            "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", '
            'error="insufficient_scope"'
        },
    )


def forbidden(message: str) -> GmailError:
    return GmailError(403, message, "forbidden", "PERMISSION_DENIED")


def rate_limited(retry_after_iso: str) -> GmailError:
    """Gmail's per-user quota error: a 403, usually without a Retry-After header."""
    return GmailError(
        403,
        f"User-rate limit exceeded.  Retry after {retry_after_iso}",
        "rateLimitExceeded",
        "PERMISSION_DENIED",
        domain="usageLimits",
    )


def too_many_concurrent() -> GmailError:
    return GmailError(
        429,
        "Too many concurrent requests for user",
        "rateLimitExceeded",
        "RESOURCE_EXHAUSTED",
        domain="usageLimits",
    )


def backend_error(code: int = 500) -> GmailError:
    if code == 503:
        return GmailError(
            503, "The service is currently unavailable.", "backendError", "UNAVAILABLE"
        )
    return GmailError(500, "Internal error encountered.", "backendError", "INTERNAL")


def method_not_allowed() -> GmailError:
    return GmailError(405, "Method Not Allowed", "httpMethodNotAllowed", "UNIMPLEMENTED")
