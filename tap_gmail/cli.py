"""The ``tap-gmail`` command: the tap, with the cyclic GC tuned for a short batch process.

Importing singer-sdk, google-auth and their dependencies leaves ~60,000 long-lived objects
that the cyclic GC would walk again in every older-generation collection: ~70 ms of
collections that free nothing while importing, and ~100 ms more during a 5,000-message
sync, about 12% of the tap's CPU. So the collector is paused while importing, what is
alive then is frozen (``gc.freeze``: never scanned again; module-level objects live until
exit anyway), and the first generation's threshold is raised, so that the records in
flight (queues and batch answers of hundreds of JSON trees) do not set off a collection
every 700 new containers. Records, state and memory use are unchanged: reference counting
frees nearly all of the tap's garbage, and reference cycles are still collected.
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 10_000  # containers allocated, net, between young collections (default 700)


def main() -> None:
    """``tap.main`` (whatever it checks before the SDK runs), started as described above."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        from .tap import main as run
    finally:
        gc.freeze()
        gc.set_threshold(GEN0_THRESHOLD, *gc.get_threshold()[1:])
        if enabled:
            gc.enable()
    run()
