"""The glibc allocator tuning: applied on Linux/glibc, never an error elsewhere."""

from __future__ import annotations

import asyncio

import pytest

from sentinel import allocator

glibc = pytest.mark.skipif(allocator._libc() is None, reason="needs glibc")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@glibc
def test_trim_releases_freed_pages_in_the_middle_of_the_heap() -> None:
    # 200 MB of 4 KB blocks; keep one in sixteen: the freed runs sit between live blocks,
    # so free() cannot shrink the heap from the top and the pages stay resident
    blocks = [bytearray(4000) for _ in range(50_000)]
    keep = blocks[::16]
    del blocks
    before = _rss()
    assert allocator.trim() is True
    assert before - _rss() > 50 * 2**20
    assert all(len(b) == 4000 for b in keep)  # what is alive is untouched


@glibc
def test_limit_arenas_respects_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert allocator.limit_arenas() is False
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    assert allocator.limit_arenas(2) is True


def test_not_glibc_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator, "_libc", lambda: None)
    assert allocator.limit_arenas() is False
    assert allocator.trim() is False
    asyncio.run(asyncio.wait_for(allocator.trim_forever(0.01), 1))  # returns at once


@glibc
def test_trim_forever_trims_until_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def counted() -> bool:
        calls.append(1)
        return True

    monkeypatch.setattr(allocator, "trim", counted)

    async def main() -> None:
        task = asyncio.create_task(allocator.trim_forever(0.01))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert len(calls) >= 3
