"""Serving (``serving.py``) without a server: the startup heap frozen."""

from __future__ import annotations

import gc
import weakref

from rating_server.serving import freeze_startup_heap


def test_freezing_the_startup_heap_collects_its_garbage_and_keeps_the_rest_out_of_gc() -> None:
    class Node:
        other: Node | None = None

    garbage, kept = Node(), Node()
    garbage.other = garbage  # a cycle: only the collector frees it
    gone = weakref.ref(garbage)
    del garbage
    frozen_before = gc.get_freeze_count()
    try:
        freeze_startup_heap()

        assert gone() is None
        assert gc.get_freeze_count() > frozen_before
        assert kept not in gc.get_objects()  # frozen objects are in no generation
    finally:
        gc.unfreeze()
