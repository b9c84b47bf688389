#!/usr/bin/env python3
"""A long run of the generative PyTorch oracle of ``tests/test_generated_oracle.py``.

    .venv/bin/python scripts/oracle_long.py 5000              # mixed specs
    .venv/bin/python scripts/oracle_long.py 500 --per-op      # and 500 focused on each op
    .venv/bin/python scripts/oracle_long.py 2000 --seed 7 --max-steps 10

Each spec is drawn by ``tests/oracle.py`` (random valid spec from the op catalog plus
the same network in plain PyTorch) and checked by the test's comparison (shapes,
params, MACs, backward MACs, exactly). A failure is printed with the smallest spec
hypothesis could shrink it to, and the exit code is 1. At the end: specs run, and
how often each op was drawn.

Nothing is written into the repository: hypothesis' example database is off and its
caches go to a temporary folder.
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

import oracle  # noqa: E402  (found through the sys.path entry above)
import test_generated_oracle  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.configuration import set_hypothesis_home_dir  # noqa: E402


def run(strategy, examples: int, seed: int | None, seen: collections.Counter) -> str | None:
    """Check ``examples`` specs of ``strategy``; returns the failure report or None."""

    def case(g) -> None:
        seen["specs"] += 1
        seen.update(g.ops)
        test_generated_oracle.check_against_torch(g)

    test = settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate, Phase.shrink],
        print_blob=True,
    )(given(strategy)(case))
    if seed is not None:
        from hypothesis import seed as hypothesis_seed

        test = hypothesis_seed(seed)(test)
    try:
        test()
    except Exception:
        return traceback.format_exc()
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("examples", type=int, help="specs (per op with --per-op)")
    parser.add_argument("--per-op", action="store_true", help="also focus on each op in turn")
    parser.add_argument("--max-steps", type=int, default=8, help="statements per spec")
    parser.add_argument("--seed", type=int, help="fixed seed (default: random)")
    args = parser.parse_args(argv)

    home = tempfile.mkdtemp(prefix="nnlint-oracle-")
    set_hypothesis_home_dir(home)
    seen: collections.Counter[str] = collections.Counter()
    failures: list[str] = []
    start = time.perf_counter()
    try:
        runs = [("mixed", oracle.specs(max_steps=args.max_steps))]
        if args.per_op:
            runs += [
                (op, oracle.specs(max_steps=args.max_steps, focus=op))
                for op in sorted(oracle.TORCH_BUILDERS)
            ]
        for name, strategy in runs:
            print(f"{name}: {args.examples:,} specs ...", flush=True)
            failure = run(strategy, args.examples, args.seed, seen)
            if failure:
                failures.append(name)
                print(failure, flush=True)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(f"\n{seen.pop('specs', 0):,} specs in {time.perf_counter() - start:.0f} s")
    print("ops drawn: " + ", ".join(f"{op}×{n}" for op, n in sorted(seen.items())))
    print(f"{len(failures)} failing run(s)" + (f": {', '.join(failures)}" if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
