#!/usr/bin/env python3
"""A long fuzzing run: the strategies and the invariant of ``tests/test_fuzz.py``.

    .venv/bin/python scripts/fuzz_long.py 20000          # examples per strategy
    .venv/bin/python scripts/fuzz_long.py 5000 --only token_soup,mutated_example
    .venv/bin/python scripts/fuzz_long.py 2000 --seed 7 --no-sarif

Each strategy runs until it has produced N examples or found a failure. A
failure (a traceback from ``check_text``, an unlocated diagnostic, an invalid
JSON or SARIF document, a case slower than the hang guard) is printed with the
smallest example hypothesis could shrink it to, and the exit code is 1. At the
end a summary table lists, per strategy, the examples run, how many were clean,
the diagnostic codes seen and the slowest case.

Nothing is written into the repository: hypothesis' example database is off
and its caches go to a temporary folder.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.dont_write_bytecode = True  # nothing written into the repository
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import test_fuzz  # noqa: E402  (found through the sys.path entry above)
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.configuration import set_hypothesis_home_dir  # noqa: E402


class Stats:
    def __init__(self) -> None:
        self.cases = 0
        self.clean = 0
        self.codes: collections.Counter[str] = collections.Counter()
        self.slowest = 0.0
        self.slowest_text = ""
        self.seconds = 0.0

    def add(self, result, elapsed: float, text: str) -> None:
        self.cases += 1
        self.clean += not any(d.code in test_fuzz.FATAL for d in result.diagnostics)
        self.codes.update({d.code for d in result.diagnostics})
        if elapsed > self.slowest:
            self.slowest, self.slowest_text = elapsed, text


def run(
    name: str, strategy, examples: int, seed: int | None, sarif: bool, binary: bool, stats: Stats
) -> str | None:
    """Run one strategy; returns the failure report or None."""

    def case(value):
        start = time.perf_counter()
        if binary:
            result = test_fuzz.check_bytes_case(value)
            text = repr(value[:120])
        else:
            result = test_fuzz.check_case(value, sarif=sarif)
            text = repr(value[:120])
        stats.add(result, time.perf_counter() - start, text)

    options = {
        "max_examples": examples,
        "deadline": None,
        "database": None,
        "suppress_health_check": list(HealthCheck),
        "derandomize": False,
        "phases": [Phase.generate, Phase.shrink],
        "print_blob": True,
    }
    test = settings(**options)(given(strategy)(case))
    if seed is not None:
        from hypothesis import seed as hypothesis_seed

        test = hypothesis_seed(seed + hash(name) % 1000)(test)
    start = time.perf_counter()
    try:
        test()
    except Exception:
        return traceback.format_exc()
    finally:
        stats.seconds = time.perf_counter() - start
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("examples", type=int, help="examples per strategy")
    parser.add_argument("--only", help="comma-separated strategy names")
    parser.add_argument("--seed", type=int, help="fixed seed (default: random)")
    parser.add_argument(
        "--no-sarif", action="store_true", help="skip SARIF schema validation (3x faster)"
    )
    args = parser.parse_args(argv)

    strategies = {
        **{k: (v, False) for k, v in test_fuzz.STRATEGIES.items()},
        **{k: (v, True) for k, v in test_fuzz.BYTE_STRATEGIES.items()},
    }
    if args.only:
        wanted = [n.strip() for n in args.only.split(",")]
        unknown = [n for n in wanted if n not in strategies]
        if unknown:
            parser.error(f"unknown strategy {', '.join(unknown)} (known: {', '.join(strategies)})")
        strategies = {n: strategies[n] for n in wanted}

    # Hypothesis keeps caches (unicode tables, constants) under ./.hypothesis: elsewhere.
    home = tempfile.mkdtemp(prefix="nnlint-fuzz-")
    set_hypothesis_home_dir(home)
    try:
        return _fuzz(strategies, args)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _fuzz(strategies, args) -> int:
    failures: dict[str, str] = {}
    table: dict[str, Stats] = {}
    for name, (strategy, binary) in strategies.items():
        print(f"fuzzing {name} with {args.examples:,} examples ...", flush=True)
        stats = table[name] = Stats()
        failure = run(name, strategy, args.examples, args.seed, not args.no_sarif, binary, stats)
        if failure:
            failures[name] = failure
            print(failure, flush=True)

    print()
    print(f"{'strategy':<22} {'cases':>8} {'clean':>7} {'slowest':>9} {'time':>8}  codes seen")
    for name, s in table.items():
        codes = ", ".join(f"{c}×{n}" for c, n in sorted(s.codes.items()))
        status = "FAILED " if name in failures else ""
        print(
            f"{name:<22} {s.cases:>8,} {s.clean:>7,} {s.slowest * 1e3:>7.0f}ms "
            f"{s.seconds:>7.1f}s  {status}{codes}"
        )
    slow = max(table.items(), key=lambda kv: kv[1].slowest, default=None)
    if slow is not None and slow[1].cases:
        print(f"\nslowest case ({slow[0]}, {slow[1].slowest * 1e3:.0f} ms): {slow[1].slowest_text}")
    print(
        f"\n{len(failures)} failing strateg{'y' if len(failures) == 1 else 'ies'}"
        + (f": {', '.join(failures)}" if failures else "")
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
