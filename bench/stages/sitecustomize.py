"""Stage stamps of the alert path, in a ``sentinel run`` started by bench/e2e.py (bench/e2e_stages.py).

Python imports ``sitecustomize`` at start-up from ``PYTHONPATH``; with ``SENTINEL_PROBE=<dir>``
set, a ``sentinel run`` process wraps a few methods as their modules are imported and writes
``<dir>/probe-<pid>.jsonl``: wall-clock (``time.time``) start and end of each risk evaluation
(with the ticks it crossed, the posts it ingested and the events it raised), of each tick's
scoring, of each consumer stage and store write, every wake-up of the delivery worker, every
notifier send, every full (and every slow) garbage collection and every stall of the event
loop over 20 ms. It names methods, not line numbers, so it fits trees of the last weeks too
(23872b0 on). Any other process, and any process without the variable, is left alone.
"""

from __future__ import annotations

import os
import sys

_DIR = os.environ.get("SENTINEL_PROBE")


def _install(out_dir: str) -> None:
    import asyncio
    import atexit
    import functools
    import gc
    import importlib.abc
    import importlib.util
    import json
    import time
    from typing import Any

    records: list[dict[str, Any]] = []
    fh = open(os.path.join(out_dir, f"probe-{os.getpid()}.jsonl"), "w", encoding="utf-8")

    def flush() -> None:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
        records.clear()
        fh.flush()

    def rec(kind: str, **kw: Any) -> None:
        kw["k"] = kind
        records.append(kw)
        if len(records) >= 200:
            flush()

    atexit.register(flush)

    def events(evs: Any) -> list[tuple[str, str, float]]:
        return [(e.watch, e.event, e.at.timestamp()) for e in evs]

    collecting = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            collecting[0] = time.time()
        elif info.get("generation", 0) >= 1:
            t1 = time.time()
            if info["generation"] == 2 or t1 - collecting[0] > 0.01:
                rec("gc", gen=info["generation"], t0=collecting[0], t1=t1, collected=info.get("collected"))

    gc.callbacks.append(on_gc)

    def wrap_async(cls: Any, name: str, kind: str, info: Any = None) -> None:
        orig = getattr(cls, name)

        @functools.wraps(orig)
        async def wrapper(self: Any, *a: Any, **kw: Any) -> Any:
            t0 = time.time()
            out = await orig(self, *a, **kw)
            d = {"t0": t0, "t1": time.time()}
            if info is not None:
                d.update(info(a, out))
            rec(kind, **d)
            return out

        setattr(cls, name, wrapper)

    def engine(m: Any) -> None:
        evaluate, tick = m.Engine.evaluate, m.Engine._tick

        @functools.wraps(evaluate)
        def timed_evaluate(self: Any, now: Any) -> Any:
            t0, c0, last, queued = time.time(), time.thread_time(), self._last_tick, len(self._queue)
            out = evaluate(self, now)
            if self._last_tick != last or out:
                rec("eval", t0=t0, t1=time.time(), cpu=time.thread_time() - c0, ticks=[last, self._last_tick],
                    ingested=queued - len(self._queue), events=events(out))  # fmt: skip
            return out

        @functools.wraps(tick)
        def timed_tick(self: Any, t: float) -> Any:
            t0 = time.time()
            out = tick(self, t)
            rec("tick", t=t, t0=t0, t1=time.time(), n=len(out))
            return out

        m.Engine.evaluate, m.Engine._tick = timed_evaluate, timed_tick

    def store(m: Any) -> None:
        wrap_async(m.SqlStore, "write_batch", "write", lambda a, out: {"n": len(a[0]), "new": len(out)})
        wrap_async(m.SqlStore, "save_events", "save_events", lambda a, out: {"n": len(a[0])})

    def notifier(m: Any) -> None:
        wrap_async(m.HttpNotifier, "send", "send", lambda a, out: {"events": events(a[0])})

    def dispatcher(m: Any) -> None:
        wake = m.Dispatcher.wake

        def stamped_wake(self: Any) -> None:
            rec("wake", t=time.time())
            wake(self)

        m.Dispatcher.wake = stamped_wake

    def pipeline(m: Any) -> None:
        runtime = m.Runtime
        wrap_async(runtime, "_stage", "stage", lambda a, out: {"n": len(a[0])})
        hook = "_start" if "_start" in runtime.__dict__ else "start"
        start = getattr(runtime, hook)

        async def started(self: Any, *a: Any, **kw: Any) -> None:
            await start(self, *a, **kw)

            async def watch_loop() -> None:
                loop = asyncio.get_running_loop()
                while True:
                    t = loop.time()
                    await asyncio.sleep(0.02)
                    late = loop.time() - t - 0.02
                    if late > 0.02:
                        rec("stall", t=time.time(), s=late)

            async def census() -> None:  # once started (and frozen, where the tree freezes)
                await asyncio.sleep(2.0)
                rec("census", t=time.time(), objects=[len(gc.get_objects(g)) for g in (0, 1, 2)],
                    frozen=gc.get_freeze_count())  # fmt: skip

            self._probe_tasks = [asyncio.create_task(watch_loop()), asyncio.create_task(census())]

        setattr(runtime, hook, started)

    patches = {
        "sentinel.risk.engine": engine,
        "sentinel.store.sql": store,
        "sentinel.notify.http": notifier,
        "sentinel.notify.dispatcher": dispatcher,
        "sentinel.pipeline": pipeline,
    }

    class Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
            if name not in patches:
                return None
            sys.meta_path.remove(self)
            try:
                spec = importlib.util.find_spec(name)
            finally:
                sys.meta_path.insert(0, self)
            if spec is None or spec.loader is None:
                return spec
            exec_module = spec.loader.exec_module

            def patched(module: Any) -> None:
                exec_module(module)
                try:
                    patches[name](module)
                except Exception as exc:  # an older tree without one of the methods
                    rec("unpatched", module=name, error=repr(exc))

            spec.loader.exec_module = patched  # type: ignore[method-assign]
            return spec

    sys.meta_path.insert(0, Finder())


if _DIR and os.path.basename(sys.argv[0]) == "sentinel" and sys.argv[1:2] == ["run"]:
    _install(_DIR)
