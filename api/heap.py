"""The server's heap, settled before it serves requests.

CPython's full garbage collection scans every object the collector tracks. Once torch and
scipy are imported the server holds about 300,000 of them, and a full collection takes 300 to
500 ms on the 2-core machine, holding the GIL: every request in flight waits for it (the tail
of bench/reliability's load rows). Nearly all of them are module-level objects that live as
long as the process. ``settle`` imports what the scheduler would import at its first job,
collects once, and moves every live object to the permanent generation (``gc.freeze``), which
no collection scans again: later collections see only what requests and jobs allocate.
"""

from __future__ import annotations

import gc


def settle() -> int:
    """Import the built-in strategies, collect, freeze what is alive; the objects frozen."""
    from nas.strategies import names

    names()  # the strategies' modules (optuna among them) load at the first lookup
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
