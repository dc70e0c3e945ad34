"""The collector's pause around a report's build (sentinel.gcpause)."""

from __future__ import annotations

import gc

import pytest

from sentinel.gcpause import gc_paused


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
