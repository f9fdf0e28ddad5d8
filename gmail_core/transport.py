"""One HTTP session per mailbox: governor, breaker, auth, retries and error classification.

Every request to Gmail goes through ``GmailTransport.request``: the breaker fails fast when
the mailbox is unhealthy, the governor spends quota units before sending, a 401 refreshes the
token once, and retryable failures back off with full jitter (``backoff``) while honouring
``Retry-After`` and the "Retry after <time>" in Gmail's 403 message.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import re
import time
from dataclasses import dataclass
from typing import Any

import backoff
import requests

from .errors import ApiError, HistoryExpired, TransientNetworkError

_RETRY_AFTER_IN_MESSAGE = re.compile(r"Retry after (\S+)")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts and total time are both capped."""

    max_tries: int = 8
    max_time_s: float = 300.0
    base_s: float = 0.5
    max_wait_s: float = 32.0
    timeout_s: float = 60.0


def is_retryable(error: BaseException) -> bool:
    if isinstance(error, TransientNetworkError):
        return True
    return isinstance(error, ApiError) and error.retryable


def is_refused_before_running(error: BaseException) -> bool:
    """Gmail turned the call away unexecuted (quota 403/429): safe to repeat even a send.

    A 5xx or a broken connection says nothing about whether the call ran, so a call that is
    not idempotent must not be blindly repeated after one; its caller has to reconcile.
    """
    return isinstance(error, ApiError) and error.quota_exceeded


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

        ``idempotent=False`` (messages.send) retries only calls Gmail refused unexecuted.
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

        response = self.send(method, self.governor.cost(method), send, idempotent)
        return response.json() if response.content else None

    def send(self, method: str, units: int, send, idempotent: bool = True) -> requests.Response:
        """Run ``send(headers)`` with breaker, retries, governor and auth; returns a 2xx."""
        policy = self.policy

        def on_backoff(details) -> None:
            error = details.get("exception")
            reason = getattr(error, "reason", "") or getattr(error, "status", "")
            self.metrics.retry(method, str(reason or type(error).__name__))

        retrying = backoff.on_exception(
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
        )(self._once)
        return self.breaker.call(retrying, method, units, send)

    def _once(self, method: str, units: int, send) -> requests.Response:
        with self.governor.slot():
            waited = self.governor.acquire(units)
            if waited:
                self.metrics.quota_wait(self.mailbox, waited)
            response = self._send_authorised(method, units, send)
        if response.status_code < 400:
            self.governor.succeeded()
            return response
        error = api_error(response, method, self.mailbox)
        if error.quota_exceeded:
            self.governor.throttled(error.retry_after_s)
        raise error

    def _send_authorised(self, method: str, units: int, send) -> requests.Response:
        refreshed = False
        while True:
            headers = {"Authorization": f"Bearer {self.auth.token()}"}
            started = time.perf_counter()
            try:
                response = send(headers)
            except (requests.ConnectionError, requests.Timeout) as problem:
                self.metrics.call(method, self.mailbox, 0, time.perf_counter() - started, units)
                raise TransientNetworkError(
                    f"{type(problem).__name__} calling {method} for {self.mailbox}"
                ) from None
            self.metrics.call(
                method, self.mailbox, response.status_code, time.perf_counter() - started, units
            )
            if response.status_code == 401 and not refreshed:
                # An access token can die early (revoked, clock skew): refresh once, retry.
                self.auth.force_refresh()
                refreshed = True
                self.governor.acquire(units)  # the retried call is charged again at Gmail
                continue
            return response
