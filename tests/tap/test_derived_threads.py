"""Threads derived from the messages stream: the same records as reading threads from Gmail,
at a fraction of the quota."""

from __future__ import annotations

import pytest

from tests.conftest import admin
from tests.reliability.pipeline import mutate
from tests.tap.conftest import by_id, catalog_args, run_tap, tap_config

pytestmark = pytest.mark.timeout(300)


def _units(emulator) -> int:
    return admin(emulator, "stats")["quota_units"]["total"]


def test_derived_threads_equal_gmail_threads_and_cost_little(emulator, tmp_path):
    config = tap_config(emulator)
    only_messages = catalog_args(tmp_path, config, {"messages"})
    only_threads = catalog_args(tmp_path, config, {"threads"})
    both = catalog_args(tmp_path, config, {"messages", "threads"})

    admin(emulator, "stats/reset", {})
    messages_alone = run_tap(tmp_path, config, extra_args=only_messages)
    messages_units = _units(emulator)
    admin(emulator, "stats/reset", {})
    threads_alone = run_tap(tmp_path, config, extra_args=only_threads)
    admin(emulator, "stats/reset", {})
    derived = run_tap(tmp_path, config, extra_args=both)
    both_units = _units(emulator)
    for run in (messages_alone, threads_alone, derived):
        assert run.returncode == 0, run.stderr[-2000:]

    assert by_id(derived.records["threads"]) == by_id(threads_alone.records["threads"])
    assert both_units <= 1.1 * messages_units, (both_units, messages_units)

    # Incremental: changes on both sides of the same mailbox state, then compare again.
    mutate(emulator, seed=4, changes=30)
    states = {"both": derived.state, "threads": threads_alone.state}
    admin(emulator, "stats/reset", {})
    derived_next = run_tap(tmp_path, config, state=states["both"], extra_args=both)
    threads_next = run_tap(tmp_path, config, state=states["threads"], extra_args=only_threads)
    assert derived_next.returncode == 0 and threads_next.returncode == 0
    assert by_id(derived_next.records["threads"]) == by_id(threads_next.records["threads"])
    assert any(t["_sdc_deleted_at"] for t in derived_next.records["threads"])


@pytest.mark.parametrize(
    "selection",
    [{"message_format": "minimal"}, {"messages": {"q": "is:unread"}}],
    ids=["minimal-format", "messages-q"],
)
def test_threads_the_messages_cannot_give_are_read_from_gmail(emulator, tmp_path, selection):
    """Minimal messages have no subject, and `messages.q` leaves out messages of a thread
    that `threads.get` has: derived threads would differ from Gmail's, so none are derived."""
    config = tap_config(emulator, **selection)
    only_threads = catalog_args(tmp_path, config, {"threads"})
    both = catalog_args(tmp_path, config, {"messages", "threads"})
    first = run_tap(tmp_path, config, extra_args=both)
    threads_alone = run_tap(tmp_path, config, extra_args=only_threads)
    assert first.returncode == 0 and threads_alone.returncode == 0
    assert by_id(first.records["threads"]) == by_id(threads_alone.records["threads"])

    mutate(emulator, seed=4, changes=30)
    second = run_tap(tmp_path, config, state=first.state, extra_args=both)
    threads_next = run_tap(tmp_path, config, state=threads_alone.state, extra_args=only_threads)
    assert second.returncode == 0 and threads_next.returncode == 0
    assert by_id(second.records["threads"]) == by_id(threads_next.records["threads"])
