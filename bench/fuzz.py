"""Fuzz every reader of outside input with Hypothesis: 10^5+ generated inputs in all.

Runs the targets of ``tests/core/fuzzing.py`` (post parser, classify and backtest readers,
query parser, config loader, HTTP API on a real socket) with many more examples than the
test suite does, and reports per target: inputs, time, what the inputs came to (accepted,
rejected by reason, HTTP status, ...) and every distinct failure with its smallest example
seen. A failure does not stop the run: it is recorded and the target goes on.

    python bench/fuzz.py [--total 110000] [--only post_records,query] [--seed 1]

Exit status 1 if anything failed. The numbers in docs/reliability.md ("Fuzzing") come from it.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the targets live with the tests

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from tests.core.fuzzing import TARGETS, ApiServer, Target, api_server, make_check  # noqa: E402

# share of --total per target: the cheap pure-Python parsers get the most inputs
WEIGHTS = {
    "post_bytes": 10,
    "post_records": 14,
    "post_records_utf8": 8,
    "post_objects": 10,
    "decode_json": 8,
    "classify_lines": 8,
    "backtest_lines": 4,
    "backtest_run": 2,
    "query": 14,
    "config": 8,
    "http_requests": 10,
    "http_bytes": 6,
}


@dataclass
class Result:
    name: str
    inputs: int = 0
    seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: dict[str, tuple[int, str]] = field(default_factory=dict)  # signature -> (count, example)

    def fail(self, exc: BaseException, value: Any) -> None:
        frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f"{Path(frame.filename).name}:{frame.lineno}" if frame else "?"
        message = re.sub(r"\d+", "N", str(exc).splitlines()[0] if str(exc) else "")[:100]
        signature = f"{type(exc).__name__} at {where}: {message}"  # one bug, whatever its numbers
        count, example = self.failures.get(signature, (0, ""))
        shown = repr(value)
        if not example or len(shown) < len(example):
            example = shown
        self.failures[signature] = (count + 1, example[:400])


def run_target(target: Target, examples: int, server: ApiServer | None, rng_seed: int) -> Result:
    result = Result(target.name)
    check = make_check(target, server)

    @seed(rng_seed)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(target.strategy)
    def prop(value: Any) -> None:
        result.inputs += 1
        try:
            result.outcomes[check(value)] += 1
        except Exception as exc:  # recorded, not raised: one bug must not hide the next
            result.outcomes["FAILED"] += 1
            result.fail(exc, value)

    started = time.perf_counter()
    prop()
    result.seconds = time.perf_counter() - started
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--total", type=int, default=110_000, help="generated inputs over all targets")
    parser.add_argument("--only", default="", help="comma-separated target names")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    targets = [t for t in TARGETS if not args.only or t.name in args.only.split(",")]
    weight = sum(WEIGHTS.get(t.name, 5) for t in targets)
    results: list[Result] = []
    started = time.perf_counter()
    with api_server() as server:
        for target in targets:
            examples = max(1, args.total * WEIGHTS.get(target.name, 5) // weight)
            result = run_target(target, examples, server, args.seed)
            results.append(result)
            top = ", ".join(f"{k}={v}" for k, v in result.outcomes.most_common(6))
            print(f"{result.name:<18} {result.inputs:>7} inputs {result.seconds:7.1f} s  {top}", flush=True)
            for signature, (count, example) in result.failures.items():
                print(f"    FAIL x{count}: {signature}\n      e.g. {example}", flush=True)
    total = sum(r.inputs for r in results)
    failed = sum(r.outcomes["FAILED"] for r in results)
    distinct = sum(len(r.failures) for r in results)
    print(
        f"total: {total} inputs in {time.perf_counter() - started:.1f} s, "
        f"{failed} failing input(s), {distinct} distinct failure(s)"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
