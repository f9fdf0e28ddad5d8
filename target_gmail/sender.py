"""Exactly-once sends: ledger intent, send, reconcile by Message-ID, then labels.

The guarantee, and what it rests on:
- Every message carries a Message-ID derived from (mailbox, key), so Gmail itself can be
  asked whether a key was sent: ``messages.list q="rfc822msgid:<id> in:sent"``.
- An intent is committed to the ledger before the send call. After a crash, a timeout, a
  5xx or a reset connection the outcome is unknown; the key is then resent only after the
  search says Gmail does not have it. A 403/429 quota refusal is retried directly, because
  Gmail refuses those before doing anything.
- Limits: this relies on Gmail keeping our Message-ID header on sent mail and indexing it
  for search within the reconcile window (a few seconds, ``reconcile_delays_s``). A key sent
  from a token that cannot search (``gmail.send`` only) is never resent once its outcome is
  unknown: it is reported for a human to check instead. One run per ledger at a time.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass

from gmail_core.batch import BatchPart
from gmail_core.client import MailboxClient
from gmail_core.errors import ApiError, AuthError, NotSent, TransientNetworkError
from gmail_core.transport import json_body

from . import ledger as states
from .compose import Composed, compose, content_hash
from .label_apply import Outcome
from .labels import LabelDirectory
from .ledger import KeyReused, Ledger
from .plan import Mutator
from .rejection import Rejected

JSON_SEND_LIMIT = 5 * 1024 * 1024  # larger messages go through the media upload endpoint
DEFAULT_RECONCILE_DELAYS_S = (0.0, 2.0, 5.0)


def _reused(key: str, state: str) -> Rejected:
    return Rejected(
        f"`id` {key!r} was already used for a different message ({state}); "
        "an idempotency key must not be reused",
        "id",
    )


class UnresolvedSend(Exception):
    """A send whose outcome stays unknown: the key is left at ``intent`` for the next run."""


@dataclass
class SendPolicy:
    attempts: int = 4  # send calls per key and run, counting resends after reconciling
    reconcile_delays_s: tuple[float, ...] = DEFAULT_RECONCILE_DELAYS_S
    can_search: bool = True  # the token may run messages.list with q
    can_modify: bool = True  # the token may label the sent message (messages.modify)


class Sender:
    """Sends one mailbox's outbound records; safe to call from several threads."""

    def __init__(
        self,
        client: MailboxClient,
        mailbox: str,
        mutator: Mutator,
        ledger: Ledger,
        directory: LabelDirectory,
        create_missing_labels: bool,
        policy: SendPolicy | None = None,
    ):
        self.client = client
        self.mailbox = mailbox
        self.mutator = mutator
        self.ledger = ledger
        self.directory = directory
        self.create_missing = create_missing_labels
        self.policy = policy or SendPolicy()

    def check(self, record: dict) -> None:
        """Everything about one record that can be decided before any call that changes
        something: label names, scopes and the ledger. Raises ``Rejected``."""
        if record.get("labels") and not self.policy.can_modify:
            raise Rejected("`labels` on a sent message need the gmail.modify scope", "labels")
        for label in record.get("labels") or ():
            self.directory.check(label, self.create_missing, "labels")
        self._ledger_entry(record)

    def _ledger_entry(self, record: dict):
        key, digest = str(record["id"]), content_hash(record)
        entry = self.ledger.get(self.mailbox, key)
        if entry is not None and entry.state != states.FAILED and entry.content_hash != digest:
            raise _reused(key, entry.state)
        return key, digest, entry

    def send(self, record: dict, composed: Composed | None = None) -> Outcome:
        """applied (sent now or reconciled), unchanged (sent before) or rejected."""
        composed = composed or compose(record, self.mailbox)
        self.check(record)
        key, digest, entry = self._ledger_entry(record)
        label_ids = [
            self.directory.resolve(label, self.create_missing, "labels")
            for label in record.get("labels") or ()
        ]
        if self.mutator.dry_run:
            return self._plan(composed, label_ids, entry)
        if entry is not None and entry.state == states.DONE:
            return Outcome("unchanged", "already sent")
        gmail_id = entry.gmail_id if entry is not None and entry.state == states.SENT else None
        if gmail_id is None and entry is not None and entry.state == states.INTENT:
            gmail_id = self._reconcile(composed, key)
        if gmail_id is None:
            gmail_id = self._send(composed, key, digest)
        if label_ids:
            body = {"addLabelIds": label_ids, "removeLabelIds": []}
            part = BatchPart("messages.modify", "POST", f"messages/{gmail_id}/modify", body=body)
            self.mutator.call(part, "label sent message")
        self.ledger.record_done(self.mailbox, key)
        return Outcome("applied")

    # -- the send itself ---------------------------------------------------------------

    def _send(self, composed: Composed, key: str, digest: str) -> str:
        try:
            self.ledger.record_intent(self.mailbox, key, composed.message_id, digest)
        except KeyReused:  # another thread or run recorded other content meanwhile
            raise _reused(key, "recorded") from None
        problem: Exception | None = None
        for _ in range(self.policy.attempts):
            try:
                answer = self._send_call(composed)
            except (NotSent, AuthError) as error:
                # The request never left: no connection, or no access token (the token
                # endpoint failed or refused the credentials); the transport already retried
                # what could pass. If no earlier attempt of this run may have been sent, the
                # key is `failed` (nothing to reconcile; a rerun sends it). Otherwise it stays
                # at intent and a rerun reconciles it first.
                if problem is None:
                    self.ledger.record_failed(self.mailbox, key, str(error))
                raise
            except ApiError as error:
                if not error.retryable:  # refused (400 invalid, 403 forbidden): not sent
                    self.ledger.record_failed(self.mailbox, key, str(error))
                    if error.status in (401, 403):
                        raise
                    raise Rejected(f"Gmail refused the send: {error.gmail_message}") from None
                problem = error
            except TransientNetworkError as error:
                problem = error
            else:
                self.ledger.record_sent(self.mailbox, key, answer["id"], answer.get("threadId"))
                return answer["id"]
            # Unknown outcome: Gmail may have sent it. Ask before sending again.
            found = self._reconcile(composed, key, problem)
            if found is not None:
                return found
        raise UnresolvedSend(f"send of {key!r} failed {self.policy.attempts} times: {problem}")

    def _send_call(self, composed: Composed) -> dict:
        if composed.size > JSON_SEND_LIMIT:
            return self._upload(composed)
        body = {"raw": base64.urlsafe_b64encode(composed.raw).decode("ascii")}
        if composed.thread_id:
            body["threadId"] = composed.thread_id
        return self.client.call(
            "messages.send", "POST", "messages/send", body=body, idempotent=False
        )

    def _upload(self, composed: Composed) -> dict:
        """Gmail's media upload for big messages: JSON metadata + message/rfc822 part."""
        transport = self.client.transport
        url = f"{transport.api_url}/upload/gmail/v1/users/{transport.user_id}/messages/send"
        boundary = uuid.uuid4().hex
        metadata = json.dumps({"threadId": composed.thread_id} if composed.thread_id else {})
        payload = b"".join(
            [
                f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode(),
                metadata.encode(),
                f"\r\n--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n".encode(),
                composed.raw,
                f"\r\n--{boundary}--\r\n".encode(),
            ]
        )

        def post(headers: dict):
            headers = {**headers, "Content-Type": f"multipart/related; boundary={boundary}"}
            return transport.session.post(
                url,
                params={"uploadType": "multipart"},
                data=payload,
                headers=headers,
                timeout=transport.policy.timeout_s,
            )

        units = self.client.governor.cost("messages.send")
        # Decoded inside the transport, so an unreadable answer is a MalformedResponse (the
        # send may have run: reconciled), never a raw JSON error escaping the ledger's path.
        return transport.send("messages.send", units, post, idempotent=False, decode=json_body)

    # -- reconciling an unknown outcome ------------------------------------------------

    def _reconcile(self, composed: Composed, key: str, problem: Exception | None = None):
        """The Gmail id if Gmail already holds this Message-ID in SENT, else None."""
        if not self.policy.can_search:
            raise UnresolvedSend(
                f"the outcome of sending {key!r} is unknown ({problem or 'interrupted run'}) "
                "and the token cannot search to check; look for Message-ID "
                f"{composed.message_id} in SENT before clearing it from the ledger"
            )
        query = f"rfc822msgid:{composed.message_id.strip('<>')} in:sent"
        for delay in self.policy.reconcile_delays_s:
            if delay:
                time.sleep(delay)
            answer = self.client.call(
                "messages.list", "GET", "messages", params={"q": query, "includeSpamTrash": True}
            )
            found = (answer or {}).get("messages") or []
            if found:
                message = found[0]
                self.ledger.record_sent(self.mailbox, key, message["id"], message.get("threadId"))
                return message["id"]
            if problem is None:
                break  # a rerun: the send happened long ago if at all; one look is enough
        return None

    def _plan(self, composed: Composed, label_ids: list[str], entry) -> Outcome:
        if entry is not None and entry.state == states.DONE:
            self.mutator.plan.note(self.mailbox, f"skip {entry.key!r}: already sent")
            return Outcome("unchanged", "already sent")
        if entry is not None and entry.state == states.INTENT:
            part = BatchPart("messages.list", "GET", "messages", params={"q": "rfc822msgid:"})
            self.mutator.call(part, "reconcile an interrupted send before resending")
        if entry is None or entry.state != states.SENT:
            body = {"to": list(composed.recipients), "bytes": composed.size}
            part = BatchPart("messages.send", "POST", "messages/send", body=body)
            self.mutator.call(part, "send")
        if label_ids:
            part = BatchPart("messages.modify", "POST", "messages/{sent}/modify",
                             body={"addLabelIds": label_ids})  # fmt: skip
            self.mutator.call(part, "label sent message")
        return Outcome("applied")
