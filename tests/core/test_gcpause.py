"""The collector's pause around a report's build (sentinel.gcpause)."""

from __future__ import annotations

import gc

import pytest

from sentinel.gcpause import freeze_startup, gc_paused


def test_pauses_nest_and_the_last_one_resumes() -> None:
    assert gc.isenabled()
    with gc_paused():
        with gc_paused():  # a second build, or the store's read inside the report's
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("a failed build")
    assert gc.isenabled()


def test_a_collector_switched_off_stays_off() -> None:
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_what_a_started_daemon_holds_is_frozen_out_of_collections() -> None:
    held = [[] for _ in range(1000)]  # made while starting: lives as long as the process
    try:
        frozen = freeze_startup()
        assert frozen == gc.get_freeze_count() >= len(held)
        assert gc.isenabled()
        assert not any(o is held[0] for o in gc.get_objects())  # no collection looks at it
    finally:
        gc.unfreeze()
