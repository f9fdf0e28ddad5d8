"""One HTTP session per mailbox: governor, breaker, auth, retries and error classification.

Every request to Gmail goes through ``GmailTransport.request``: the breaker fails fast when
the mailbox is unhealthy, the governor spends quota units before sending, a 401 refreshes the
token once, and retryable failures back off with full jitter (``backoff``) while honouring
``Retry-After`` and the "Retry after <time>" in Gmail's 403 message.
"""

from __future__ import annotations

import datetime as dt
import http.client
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import backoff
import requests
import urllib3

from .errors import (
    ApiError,
    HistoryExpired,
    InvalidRequest,
    MalformedResponse,
    NotSent,
    TransientNetworkError,
)

_RETRY_AFTER_IN_MESSAGE = re.compile(r"Retry after (\S+)")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts and total time are both capped."""

    max_tries: int = 8
    max_time_s: float = 300.0
    base_s: float = 0.5
    max_wait_s: float = 32.0
    timeout_s: float = 60.0  # connect and read timeout per request: a stalled answer is retried


def is_retryable(error: BaseException) -> bool:
    if isinstance(error, TransientNetworkError):
        return True
    return isinstance(error, ApiError) and error.retryable


def is_refused_before_running(error: BaseException) -> bool:
    """Gmail turned the call away unexecuted (quota 403/429), or the request never left
    (``NotSent``): safe to repeat even a send.

    A 5xx, a broken connection or an unreadable answer says nothing about whether the call
    ran, so a call that is not idempotent must not be blindly repeated after one; its caller
    has to reconcile.
    """
    if isinstance(error, NotSent):
        return True
    return isinstance(error, ApiError) and error.quota_exceeded


# requests' errors that say the request itself is wrong: retrying cannot help.
_NOT_RETRYABLE = (
    requests.exceptions.URLRequired,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidHeader,
    requests.exceptions.TooManyRedirects,
)
# Everything the HTTP stack can raise while sending or reading an answer.
_NETWORK_ERRORS = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    ConnectionError,
    TimeoutError,
)


def network_error(problem: BaseException, method: str, mailbox: str) -> Exception:
    """The connector's error for an exception from the HTTP stack (no URL, no headers)."""
    where = f"{type(problem).__name__} calling {method} for {mailbox}"
    if isinstance(problem, requests.exceptions.InvalidJSONError) and not isinstance(
        problem, requests.exceptions.JSONDecodeError
    ):
        return InvalidRequest(f"{where}: the request body is not JSON-serialisable")
    if isinstance(problem, _NOT_RETRYABLE):
        return InvalidRequest(f"{where}: check `api_url`")
    if isinstance(
        problem,
        (
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
            requests.exceptions.JSONDecodeError,
            urllib3.exceptions.ProtocolError,
            urllib3.exceptions.DecodeError,
            http.client.IncompleteRead,
        ),
    ):
        return MalformedResponse(f"{where}: the answer was cut off or undecodable")
    if _never_connected(problem):
        return NotSent(f"{where}: no connection could be opened")
    return TransientNetworkError(where)


def _never_connected(problem: BaseException) -> bool:
    if isinstance(problem, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(problem, requests.ConnectionError):
        return False
    reason = getattr(problem.args[0], "reason", None) if problem.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def json_body(response: requests.Response) -> dict | None:
    """A 2xx answer's JSON object (None when empty); ``MalformedResponse`` when it is not one.

    Pass it as ``decode`` to ``GmailTransport.send`` so that decoding runs inside the retry.
    """
    if not response.content:
        return None
    try:
        data = response.json()
    except ValueError:  # also requests' JSONDecodeError
        raise MalformedResponse(
            f"HTTP {response.status_code} answer is not valid JSON "
            f"({len(response.content)} bytes; truncated?)"
        ) from None
    if not isinstance(data, dict):
        raise MalformedResponse(f"HTTP {response.status_code} answer is not a JSON object")
    return data


def wait_generator(*, base_s: float, max_wait_s: float):
    """Exponential backoff with full jitter, never shorter than the server's retry hint.

    Written as a ``backoff`` wait generator (it receives the exception via ``send``) because
    ``backoff.expo`` cannot see the Retry-After that came with the failure.
    """
    attempt = 0
    error = yield 0
    while True:
        ceiling = min(max_wait_s, base_s * (2**attempt))
        attempt += 1
        wait = random.uniform(0, ceiling)
        hinted = getattr(error, "retry_after_s", None)
        if hinted:
            wait = max(wait, min(hinted, max_wait_s) + random.uniform(0, base_s))
        error = yield wait


def retry_after_seconds(headers: Any, message: str, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header or Gmail's "Retry after <ISO time>" text."""
    value = headers.get("Retry-After") if headers is not None else None
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = dt.datetime.strptime(value, "%a, %d %b %Y %H:%M:%S GMT")
                when = when.replace(tzinfo=dt.timezone.utc)
                return max(0.0, when.timestamp() - (now or time.time()))
            except ValueError:
                pass
    found = _RETRY_AFTER_IN_MESSAGE.search(message or "")
    if found:
        try:
            when = dt.datetime.fromisoformat(found.group(1).replace("Z", "+00:00"))
        except ValueError:
            return None
        return max(0.0, when.timestamp() - (now or time.time()))
    return None


def api_error(response: requests.Response, method: str, mailbox: str) -> ApiError:
    """Build an ApiError from Gmail's JSON error body (or whatever came back)."""
    message, reason = response.reason or "error", ""
    try:
        error = response.json().get("error", {})
        if isinstance(error, dict):
            message = error.get("message", message)
            details = error.get("errors") or [{}]
            reason = details[0].get("reason", "") or error.get("status", "")
        elif isinstance(error, str):  # OAuth-style {"error": "invalid_grant"}
            reason, message = error, response.json().get("error_description", error)
    except (ValueError, AttributeError):
        message = (response.text or message)[:300]
    kind = (
        HistoryExpired if (response.status_code == 404 and method == "history.list") else ApiError
    )
    return kind(
        response.status_code,
        message,
        reason,
        method,
        mailbox,
        retry_after_seconds(response.headers, message),
    )


class GmailTransport:
    """All HTTP to Gmail for one mailbox."""

    def __init__(
        self,
        mailbox: str,
        auth,
        governor,
        breaker,
        metrics,
        api_url: str = "https://gmail.googleapis.com",
        user_id: str = "me",
        policy: RetryPolicy | None = None,
        session: requests.Session | None = None,
    ):
        self.mailbox = mailbox
        self.auth = auth
        self.governor = governor
        self.breaker = breaker
        self.metrics = metrics
        self.api_url = api_url.rstrip("/")
        self.user_id = user_id
        self.policy = policy or RetryPolicy()
        self.session = session or requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=32)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    @property
    def base_url(self) -> str:
        return f"{self.api_url}/gmail/v1/users/{self.user_id}"

    def call(
        self,
        method: str,
        http_method: str,
        path: str,
        params=None,
        body=None,
        idempotent: bool = True,
    ) -> dict | None:
        """One Gmail API method, e.g. ``call("messages.get", "GET", "messages/ID")``.

        ``idempotent=False`` (messages.send) retries only calls Gmail refused unexecuted; a
        broken or unreadable answer raises ``TransientNetworkError`` (``MalformedResponse``)
        for the caller to reconcile.
        """
        url = f"{self.base_url}/{path}" if path else self.base_url

        def send(headers: dict) -> requests.Response:
            return self.session.request(
                http_method,
                url,
                params=params,
                json=body,
                headers=headers,
                timeout=self.policy.timeout_s,
            )

        return self.send(method, self.governor.cost(method), send, idempotent, decode=json_body)

    def send(
        self,
        method: str,
        units: int,
        send,
        idempotent: bool = True,
        decode: Callable[[requests.Response], Any] | None = None,
    ) -> Any:
        """Run ``send(headers)`` with breaker, retries, governor and auth.

        Returns the 2xx response, or ``decode(response)`` when ``decode`` is given. Decoding
        runs inside the retry: an answer it cannot read (it raises ``MalformedResponse`` or
        ``ValueError``) is retried like a reset connection when the call is idempotent.
        """
        retrying = self._retrying(self._once, method, idempotent)
        return self.breaker.call(retrying, method, units, send, decode)

    def token(self) -> str:
        """The mailbox's access token, fetched under the retry policy and the breaker, for
        callers that need it before any call (the target's scope check): a transient
        failure of the token endpoint is retried like a failed call."""
        return self.breaker.call(self._retrying(lambda: self.auth.token(), "token", True))

    def _retrying(self, fn: Callable[..., Any], method: str, idempotent: bool):
        """``fn`` wrapped in the retry policy: backoff with full jitter on retryable errors
        (for a call that is not idempotent, only on refusals made before it ran)."""
        policy = self.policy

        def on_backoff(details) -> None:
            error = details.get("exception")
            reason = getattr(error, "reason", "") or getattr(error, "status", "")
            self.metrics.retry(method, str(reason or type(error).__name__))

        return backoff.on_exception(
            wait_generator,
            (ApiError, TransientNetworkError),
            max_tries=policy.max_tries,
            max_time=policy.max_time_s,
            jitter=None,
            giveup=lambda error: (
                not (is_retryable(error) if idempotent else is_refused_before_running(error))
            ),
            on_backoff=on_backoff,
            # Giving up is the caller's to report, once, naming the mailbox; backoff's own
            # ERROR line per exhausted call would be a second, less clear, report.
            giveup_log_level=logging.DEBUG,
            base_s=policy.base_s,
            max_wait_s=policy.max_wait_s,
        )(fn)

    def _once(self, method: str, units: int, send, decode=None) -> Any:
        with self.governor.slot():
            waited = self.governor.acquire(units)
            if waited:
                self.metrics.quota_wait(self.mailbox, waited)
            response = self._send_authorised(method, units, send)
        if response.status_code < 400:
            self.governor.succeeded()
            if decode is None:
                return response
            try:
                return decode(response)
            except MalformedResponse as problem:
                raise MalformedResponse(f"{problem} ({method} for {self.mailbox})") from None
            except (ValueError, requests.RequestException) as problem:
                raise MalformedResponse(
                    f"{type(problem).__name__} decoding {method} for {self.mailbox}"
                ) from None
        error = api_error(response, method, self.mailbox)
        if error.rate_limited:  # only the units quota cuts the rate; a 429 just backs off
            self.governor.throttled(error.retry_after_s)
        elif error.status == 429:
            self.governor.congested()
        raise error

    def _send_authorised(self, method: str, units: int, send) -> requests.Response:
        refreshed = False
        while True:
            token = self.auth.token()
            headers = {"Authorization": f"Bearer {token}"}
            started = time.perf_counter()
            try:
                response = send(headers)
            except _NETWORK_ERRORS as problem:
                self.metrics.call(method, self.mailbox, 0, time.perf_counter() - started, units)
                raise network_error(problem, method, self.mailbox) from None
            self.metrics.call(
                method, self.mailbox, response.status_code, time.perf_counter() - started, units
            )
            if response.status_code == 401 and not refreshed:
                # An access token can die early (revoked, clock skew): refresh once, retry.
                # Name the rejected token: threads that hit the same 401 share one refresh.
                self.auth.force_refresh(rejected=token)
                refreshed = True
                self.governor.acquire(units)  # the retried call is charged again at Gmail
                continue
            return response
