"""Apply label changes with as few calls as Gmail allows.

Changes are folded per message in record order (the last word on a label wins), then
messages that end up with the same (add, remove) sets share ``messages.batchModify`` calls
of up to 1,000 ids: 10,000 messages in 3 change sets cost about 12 calls and 600 units
instead of 10,000 ``messages.modify`` calls and 50,000 units. Thread ids go through
``threads.modify`` in Gmail batch requests.
"""

from __future__ import annotations

from dataclasses import dataclass

from gmail_core.batch import BatchPart
from gmail_core.errors import ApiError

from .labels import UNMODIFIABLE, LabelDirectory
from .plan import Mutator
from .records import LabelChange
from .rejection import Rejected

MAX_BATCH_MODIFY_IDS = 1000  # Gmail's limit per messages.batchModify


@dataclass
class Outcome:
    status: str  # applied | unchanged | rejected
    reason: str | None = None


_NOT_STARTED = Outcome("skipped", "not applied: Gmail refused another record of its batch")


@dataclass
class _Net:
    """The net effect on one message or thread of all its records in this batch."""

    add: set[str]
    remove: set[str]
    records: list[int]

    def fold(self, add: set[str], remove: set[str]) -> None:
        self.add = (self.add - remove) | add
        self.remove = (self.remove - add) | remove


class LabelChangeApplier:
    def __init__(self, directory: LabelDirectory, mutator: Mutator, create_missing: bool):
        self.directory = directory
        self.mutator = mutator
        self.create_missing = create_missing

    def check(self, changes: list[tuple[int, LabelChange]]) -> dict[int, Outcome]:
        """The records that would be rejected, found without any call that changes something
        (labels to be created are only checked, not created)."""
        outcomes: dict[int, Outcome] = {}
        for index, change in changes:
            try:
                self._resolve(change, dry=True)
            except Rejected as rejected:
                outcomes[index] = Outcome("rejected", rejected.reason)
        return outcomes

    def apply(
        self, changes: list[tuple[int, LabelChange]], all_or_nothing: bool = False
    ) -> dict[int, Outcome]:
        """Outcomes keyed by the caller's record index; raises only for mailbox-wide errors.

        ``all_or_nothing``: a record that cannot be resolved stops the whole batch before
        any message is modified (``on_invalid_record: fail``).
        """
        outcomes: dict[int, Outcome] = {}
        targets: dict[tuple[str, str], _Net] = {}
        for index, change in changes:
            try:
                add, remove = self._resolve(change)
            except Rejected as rejected:
                outcomes[index] = Outcome("rejected", rejected.reason)
                continue
            key = (change.target, change.target_id)
            net = targets.setdefault(key, _Net(set(), set(), []))
            net.fold(add, remove)
            net.records.append(index)
        if all_or_nothing and outcomes:
            skipped = Outcome("skipped", "not applied: another record in its batch was rejected")
            return {index: outcomes.get(index, skipped) for index, _ in changes}
        groups: dict[tuple[frozenset, frozenset], list[str]] = {}
        threads: list[tuple[str, _Net]] = []
        for (target, target_id), net in targets.items():
            if not net.add and not net.remove:
                outcomes.update({i: Outcome("unchanged") for i in net.records})
            elif target == "thread":
                threads.append((target_id, net))
            else:
                groups.setdefault((frozenset(net.add), frozenset(net.remove)), []).append(target_id)
        by_message = {tid: net for (kind, tid), net in targets.items() if kind == "message"}
        refused = False  # with all_or_nothing, Gmail refusing one record stops the rest
        for (add, remove), ids in groups.items():
            for start in range(0, len(ids), MAX_BATCH_MODIFY_IDS):
                chunk = ids[start : start + MAX_BATCH_MODIFY_IDS]
                if refused:
                    results = dict.fromkeys(chunk, _NOT_STARTED)
                else:
                    results = self._modify_messages(chunk, add, remove)
                for message_id, outcome in results.items():
                    outcomes.update({i: outcome for i in by_message[message_id].records})
                rejected = any(o.status == "rejected" for o in results.values())
                refused = refused or (all_or_nothing and rejected)
        if threads and refused:
            outcomes.update({i: _NOT_STARTED for _, net in threads for i in net.records})
        elif threads:
            for (_, net), outcome in zip(threads, self._modify_threads(threads), strict=True):
                outcomes.update({i: outcome for i in net.records})
        return outcomes

    def _resolve(self, change: LabelChange, dry: bool = False) -> tuple[set[str], set[str]]:
        resolve, create = (self._lookup if dry else self.directory.resolve), self.create_missing
        if change.desired_names is None:
            add = {resolve(label, create, "add_labels") for label in change.add}
            remove = {resolve(label, False, "remove_labels") for label in change.remove}
            if add & remove:
                both = sorted(add & remove)[0]
                raise Rejected(f"label {both} is both added and removed", "add_labels")
            return add, remove
        # SENT, DRAFT and CHAT are Gmail's to set: kept as read, they are simply not changed.
        names = [n for n in change.desired_names if n.upper() not in UNMODIFIABLE]
        wanted = {resolve(name, create, "label_names") for name in names}
        had = set(change.read_ids) - UNMODIFIABLE
        return wanted - had, had - wanted

    def _lookup(self, name: str, create: bool, field: str) -> str:
        """``resolve`` without creating: the id, or a stand-in for a label still to create."""
        self.directory.check(name, create, field)
        found = self.directory.find(name)
        return found["id"] if found is not None else f"new:{name.strip().lower()}"

    def _group_name(self, add: frozenset, remove: frozenset) -> str:
        def names(ids) -> str:
            return ", ".join(sorted((self.directory.find(i) or {"name": i})["name"] for i in ids))

        return f"add [{names(add)}] remove [{names(remove)}]"

    def _modify_messages(self, ids: list[str], add: frozenset, remove: frozenset) -> dict:
        body = {"ids": ids, "addLabelIds": sorted(add), "removeLabelIds": sorted(remove)}
        part = BatchPart("messages.batchModify", "POST", "messages/batchModify", body=body)
        group = self._group_name(add, remove)
        try:
            self.mutator.call(part, group, records=len(ids))
            return {message_id: Outcome("applied") for message_id in ids}
        except ApiError as error:
            if error.retryable or error.status in (401, 403):
                raise  # mailbox-wide: quota exhausted, auth, permission
        # Gmail refused the whole group (e.g. one bad id): find which, one message at a time.
        parts = [
            BatchPart(
                "messages.modify",
                "POST",
                f"messages/{message_id}/modify",
                body={"addLabelIds": sorted(add), "removeLabelIds": sorted(remove)},
                key=message_id,
            )
            for message_id in ids
        ]
        return {result.part.key: _outcome(result) for result in self.mutator.batch(parts, group)}

    def _modify_threads(self, threads: list[tuple[str, _Net]]) -> list[Outcome]:
        parts = [
            BatchPart(
                "threads.modify",
                "POST",
                f"threads/{thread_id}/modify",
                body={"addLabelIds": sorted(net.add), "removeLabelIds": sorted(net.remove)},
                key=thread_id,
            )
            for thread_id, net in threads
        ]
        results = self.mutator.batch(parts, "threads.modify")
        return [_outcome(result) for result in results]


def _outcome(result) -> Outcome:
    if result.ok:
        return Outcome("applied")
    error = result.error
    if error.retryable or error.status in (401, 403):
        raise error
    return Outcome("rejected", f"Gmail refused {error.method}: {error.gmail_message}")
