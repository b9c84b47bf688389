#!/usr/bin/env python3
"""nnlint's speed, measured against fixed references. Run it with the venv's Python:

    .venv/bin/python benchmarks/run.py            # everything (~4 minutes on 2 cores)
    .venv/bin/python benchmarks/run.py --quick    # fewer runs, no 100k-layer spec
    .venv/bin/python benchmarks/run.py --only cold,peers --runs 11

Sections (every figure a median of several runs; every ratio taken in the same run).
Each figure is given in wall-clock time and in CPU time (user + system, from
``getrusage`` of the child processes or ``time.process_time`` inside them): on a
machine shared with other jobs the wall clock measures the other jobs too, the CPU
time much less so. The summary judges each goal both ways.

  cold     ``nnlint check examples/mnist_mlp.nn`` as a new process, against a bare
           ``python -c "import lark, networkx, attrs"`` (runs interleaved).
  many     one ``nnlint check DIR`` of 1,000 generated specs: specs per second.
  scale    generated chains of 1k, 10k and 100k layers and a 1,000-block residual
           net, each checked in its own process: time, peak memory (getrusage
           maxrss) and the growth per 10x size, plus a per-stage breakdown.
  short    specs under 1 KB that expand to nnlint's limits (a repeat up to the node
           limit, blocks calling blocks), each in its own process: time and peak memory.
  peers    whole-process time of nnlint reading ResNet-50 and BERT-base specs
           against torchinfo, fvcore and ptflops building the same PyTorch models
           (tests/torch_reference.py) and counting them. A peer that is not
           installed is skipped with a note.

Nothing is written into the repository: specs, bytecode (PYTHONPYCACHEPREFIX) and
nnlint's parser cache (NNLINT_CACHE_DIR) live in a temporary folder that is removed
at the end. Bytecode caching is on for both sides of every comparison, as after a
``pip install`` (this environment may set PYTHONDONTWRITEBYTECODE, which would
make every nnlint start compile its sources). Goals are printed beside the
figures; the script never fails on a missed goal (tests assert no speed).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.dont_write_bytecode = True

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TESTS = ROOT / "tests"

GOAL_COLD_RATIO = 1.25
GOAL_SPECS_PER_S = 200
GOAL_100K_S = 6.0
GOAL_GROWTH = 11.0
GOAL_SHORT_S = 2.0
GOAL_SHORT_MIB = 300
GOAL_PEER_SPEEDUP = 5.0


# --------------------------------------------------------------------------- helpers


class Bench:
    def __init__(self, python: Path, runs: int, quick: bool) -> None:
        self.python = python
        self.nnlint = python.parent / ("nnlint.exe" if os.name == "nt" else "nnlint")
        self.runs = runs
        self.quick = quick
        self.tmp = Path(tempfile.mkdtemp(prefix="nnlint-bench-"))
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("NNLINT_")
        }
        self.env["PYTHONPYCACHEPREFIX"] = str(self.tmp / "pycache")
        self.env["NNLINT_CACHE_DIR"] = str(self.tmp / "nnlint-cache")
        # what, measured, goal, verdict (wall-clock), verdict (CPU time)
        self.summary: list[tuple[str, str, str, str, str]] = []

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run(self, cmd: list[str], *, ok=(0, 1), env=None, cwd=None, stdin=None) -> Ran:
        """Run ``cmd`` to its end: its wall-clock time, its CPU time (user + system of
        the process and every process it waited for, from ``getrusage``) and stdout."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            env=env or self.env,
            cwd=cwd or ROOT,
            input=stdin,
            check=False,
        )
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode not in ok:
            raise RuntimeError(
                f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{proc.stderr[-2000:]}"
            )
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return Ran(elapsed, cpu, proc.stdout)

    def python_code(self, code: str, *args: str, ok=(0,)) -> Ran:
        return self.run([str(self.python), "-c", code, *args], ok=ok)

    def has_module(self, name: str) -> bool:
        code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({name!r}) is None)"
        return (
            subprocess.run([str(self.python), "-c", code], env=self.env, check=False).returncode
            == 0
        )

    def goal(
        self, what: str, measured: str, goal: str, met: bool | None, met_cpu: bool | None = None
    ) -> None:
        """One summary row: the verdict on wall-clock time (the goal's own terms, valid
        on an idle machine) and the same goal judged on CPU time (valid under load)."""

        def verdict(ok: bool | None) -> str:
            return "n/a" if ok is None else ("met" if ok else "MISSED")

        self.summary.append((what, measured, goal, verdict(met), verdict(met_cpu)))


class Ran:
    """One finished command: wall-clock seconds, CPU seconds, stdout."""

    __slots__ = ("cpu", "out", "wall")

    def __init__(self, wall: float, cpu: float, out: str) -> None:
        self.wall, self.cpu, self.out = wall, cpu, out


def median(values: list[float]) -> float:
    return statistics.median(values)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.0f} ms"


def heading(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 70 - len(title)), flush=True)


# --------------------------------------------------------------------------- generators


def chain_spec(layers: int) -> str:
    """One statement per layer: dense, relu, layernorm, dropout in turn, then a loss."""
    ops = ("dense(64)", "relu", "layernorm", "dropout(0.1)")
    lines = [f"# a generated chain of {layers:,} layers", "model chain {", "    input x: [64]"]
    prev = "x"
    for i in range(1, layers + 1):
        lines.append(f"    h{i} = {prev} -> {ops[i % 4]}")
        prev = f"h{i}"
    lines += [
        f"    logits = {prev} -> dense(10)",
        "}",
        "train {",
        "    batch = 32",
        "    loss = cross_entropy(logits)",
        "    optimizer = adam",
        "}",
        "deploy {",
        "    target = a100-40gb",
        "}",
        "",
    ]
    return "\n".join(lines)


def residual_spec(blocks: int) -> str:
    """A CIFAR-style residual net: a stem, ``blocks`` calls of a two-conv block, a head."""
    lines = [
        f"# a generated residual net of {blocks:,} blocks",
        "block res(c) {",
        "    input x",
        "    y   = x -> conv2d(c, 3, padding=1, bias=false) -> batchnorm -> relu",
        "            -> conv2d(c, 3, padding=1, bias=false) -> batchnorm",
        "    out = add(x, y) -> relu",
        "}",
        "model residual {",
        "    input img: [3, 32, 32]",
        "    b0 = img -> conv2d(16, 3, padding=1, bias=false) -> batchnorm -> relu",
    ]
    for i in range(1, blocks + 1):
        lines.append(f"    b{i} = b{i - 1} -> res(16)")
    lines += [
        f"    logits = b{blocks} -> global_avgpool -> flatten -> dense(10)",
        "}",
        "train {",
        "    batch = 128",
        "    loss = cross_entropy(logits)",
        "    optimizer = momentum",
        "}",
        "deploy {",
        "    target = jetson-orin-nano",
        "    precision = fp16",
        "}",
        "",
    ]
    return "\n".join(lines)


def small_spec(rng: random.Random, i: int) -> str:
    """A small realistic spec: an MLP, a CNN or a transformer, with sections."""
    kind = rng.choice(("mlp", "cnn", "transformer"))
    if kind == "mlp":
        widths = [rng.choice((32, 64, 128, 256, 512)) for _ in range(rng.randint(1, 5))]
        act = rng.choice(("relu", "gelu", "tanh", "sigmoid"))
        body = " -> ".join(f"dense({w}) -> {act}" for w in widths)
        model = (
            f"model mlp_{i} {{\n    input x: [{rng.choice((16, 64, 784))}]\n"
            f"    h = x -> {body}\n    logits = h -> dense(10)\n"
            f"    probs = logits -> softmax\n}}\n"
        )
        loss = "cross_entropy(probs)"
    elif kind == "cnn":
        c = rng.choice((8, 16, 32))
        model = (
            f"block conv_bn(c, s) {{\n    input x\n"
            f"    y = x -> conv2d(c, 3, stride=s, padding=1, bias=false) -> batchnorm -> relu\n}}\n"
            f"model cnn_{i} {{\n    input img: [3, 32, 32]\n"
            f"    h = img -> conv_bn({c}, 1) -> conv_bn({2 * c}, 2) * {rng.randint(1, 3)}\n"
            f"    logits = h -> global_avgpool -> flatten -> dense(10)\n}}\n"
        )
        loss = "cross_entropy(logits)"
    else:
        d, heads = rng.choice(((64, 4), (128, 4), (256, 8)))
        model = (
            f"block layer(d, heads) {{\n    input x\n"
            f"    a = x -> layernorm -> attention(heads, causal=true)\n    h = add(x, a)\n"
            f"    f = h -> layernorm -> dense(4 * d) -> gelu -> dense(d)\n    out = add(h, f)\n}}\n"
            f"model gpt_{i} {{\n    input ids: [64]\n    tok = ids -> embedding(1000, {d})\n"
            f"    h = tok -> layer({d}, {heads}) * {rng.randint(1, 4)}\n"
            f"    logits = h -> layernorm -> dense(1000, bias=false, tie=tok)\n}}\n"
        )
        loss = "cross_entropy(logits)"
    sections = (
        f"train {{\n    batch = {rng.choice((1, 8, 32, 64))}\n"
        f"    precision = {rng.choice(('fp32', 'fp16', 'bf16'))}\n    loss = {loss}\n"
        f"    optimizer = {rng.choice(('sgd', 'adam', 'adamw'))}\n}}\n"
    )
    if rng.random() < 0.7:
        sections += (
            f"deploy {{\n    target = {rng.choice(('edge-tpu', 'a100-40gb', 't4', 'rpi5'))}\n"
            f"    batch = 1\n}}\n"
        )
    if rng.random() < 0.5:
        sections += "budget {\n    params <= 2M\n    latency <= 5 ms\n}\n"
    return model + sections


# --------------------------------------------------------------------------- (a) cold start


def bench_cold(b: Bench) -> None:
    heading("(a) cold start: nnlint check examples/mnist_mlp.nn vs a bare import line")
    nnlint_cmd = [str(b.nnlint), "check", "examples/mnist_mlp.nn"]
    import_cmd = [str(b.python), "-c", "import lark, networkx, attrs"]
    python_cmd = [str(b.python), "-c", "pass"]
    # The very first run of nnlint on a machine: no parser cache yet.
    first = []
    for k in range(3):
        env = dict(b.env, NNLINT_CACHE_DIR=str(b.tmp / f"fresh-cache-{k}"))
        for cmd in (nnlint_cmd, import_cmd):  # warm the bytecode cache, not the parser cache
            b.run(cmd, env=dict(env, NNLINT_CACHE_DIR=str(b.tmp / "scratch")))
        first.append(b.run(nnlint_cmd, env=env))
    for _ in range(3):  # warm-up: bytecode and parser caches, page cache
        for cmd in (nnlint_cmd, import_cmd, python_cmd):
            b.run(cmd)
    runs: dict[str, list[Ran]] = {"nnlint": [], "import": [], "python": []}
    count = max(b.runs * 3, 9)
    for _ in range(count):
        for name, cmd in (("nnlint", nnlint_cmd), ("import", import_cmd), ("python", python_cmd)):
            runs[name].append(b.run(cmd))
    wall = {k: median([r.wall for r in v]) for k, v in runs.items()}
    cpu = {k: median([r.cpu for r in v]) for k, v in runs.items()}
    ratio, ratio_cpu = wall["nnlint"] / wall["import"], cpu["nnlint"] / cpu["import"]
    print(f"  {'':<42} {'wall':>8} {'CPU':>8}")
    for label, key in (
        ("python -c pass", "python"),
        ("python -c 'import lark, networkx, attrs'", "import"),
        ("nnlint check examples/mnist_mlp.nn", "nnlint"),
    ):
        print(f"  {label:<42} {ms(wall[key]):>8} {ms(cpu[key]):>8}")
    print(f"  ratio {ratio:.2f}x wall, {ratio_cpu:.2f}x CPU (medians of {count} interleaved runs)")
    print(
        f"  first run ever (empty parser cache): {ms(median([r.wall for r in first]))} wall, "
        f"{ms(median([r.cpu for r in first]))} CPU"
    )
    b.goal(
        "cold check / bare import line",
        f"{ms(wall['nnlint'])} / {ms(wall['import'])} = {ratio:.2f}x wall; "
        f"{ms(cpu['nnlint'])} / {ms(cpu['import'])} = {ratio_cpu:.2f}x CPU",
        f"<= {GOAL_COLD_RATIO}x",
        ratio <= GOAL_COLD_RATIO,
        ratio_cpu <= GOAL_COLD_RATIO,
    )


# --------------------------------------------------------------------------- (b) many specs


def bench_many(b: Bench) -> None:
    count = 1000
    heading(f"(b) one `nnlint check DIR` of {count:,} generated specs")
    folder = b.tmp / "many"
    folder.mkdir()
    rng = random.Random(2024)
    for i in range(count):
        (folder / f"spec_{i:04d}.nn").write_text(small_spec(rng, i), encoding="utf-8")
    cmd = [str(b.nnlint), "check", str(folder), "--format", "concise"]
    b.run(cmd)  # warm-up
    runs = [b.run(cmd) for _ in range(max(3, b.runs))]
    t, cpu = median([r.wall for r in runs]), median([r.cpu for r in runs])
    rate = count / t
    # The same specs in one process, one core, for reference.
    code = textwrap.dedent("""
        import sys, time, pathlib
        from nnlint.check import check_text
        texts = [p.read_text() for p in sorted(pathlib.Path(sys.argv[1]).glob("*.nn"))]
        check_text(texts[0], "warm.nn")
        start, cpu = time.perf_counter(), time.process_time()
        for t in texts:
            check_text(t, "x.nn")
        print(len(texts) / (time.perf_counter() - start), len(texts) / (time.process_time() - cpu))
    """)
    single, single_cpu = map(float, b.python_code(code, str(folder)).out.split())
    cores = os.cpu_count() or 1
    print(
        f"  {count:,} specs in {t:.2f} s: {rate:,.0f} specs/s on {cores} cores "
        f"(median of {len(runs)}), {cpu:.2f} CPU-s over all processes "
        f"({count / cpu:,.0f} specs per CPU-second)\n"
        f"  one process, one core, no startup: {single:,.0f} specs/s wall, "
        f"{single_cpu:,.0f} specs per CPU-second"
    )
    b.goal(
        f"{count:,} specs in one call ({cores} cores)",
        f"{rate:,.0f} specs/s wall; {count / cpu:,.0f} specs per CPU-s",
        f">= {GOAL_SPECS_PER_S} specs/s",
        rate >= GOAL_SPECS_PER_S,
        None,  # a rate over several cores has no CPU-time equivalent
    )


# --------------------------------------------------------------------------- (c) scaling

_SCALE = textwrap.dedent("""
    import json, resource, sys, time
    from nnlint.check import check_text, analyse_text
    text = open(sys.argv[1], encoding="utf-8").read()
    check_text("model w {\\n input x: [4]\\n h = x -> relu\\n}\\n", "warm.nn")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start, cpu = time.perf_counter(), time.process_time()
    result = check_text(text, "big.nn")
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {"seconds": seconds, "cpu": cpu, "rss_before_kb": before, "rss_after_kb": after,
           "nodes": len(result.model["layers"]) if result.model else 0,
           "codes": sorted({d.code for d in result.diagnostics})}
    if sys.argv[2] == "stages":  # CPU seconds of each stage, in a second pass
        import gc
        from nnlint.parse import parse
        from nnlint.sections import read_sections
        from nnlint.graph import lower
        from nnlint.costs import analyze
        from nnlint.roofline import roofline
        from nnlint.plan import serving_plan, training_plan
        from nnlint.check import Analysis, known_targets, Settings, model_entry
        del result
        clock = time.process_time
        gc.disable()
        stages = {}
        t = clock(); spec, _ = parse(text); stages["parse"] = clock() - t
        t = clock(); config, _ = read_sections(spec); low = lower(spec, config)
        stages["lower"] = clock() - t
        t = clock(); report = analyze(low, config)
        stages["costs"] = clock() - t
        target = known_targets(Settings()).get(config.deploy.target or "")
        t = clock(); roof = roofline(report, target) if target else None
        stages["roofline"] = clock() - t
        t = clock(); training = training_plan(report, target)
        serving = serving_plan(report, target, roof); stages["plans"] = clock() - t
        analysis = Analysis(spec, report, target, roof, target, training, serving)
        t = clock(); model_entry(analysis, "big.nn")
        stages["json entry"] = clock() - t
        stages["rules and the rest"] = max(0.0, cpu - sum(stages.values()))
        out["stages"] = stages
    print(json.dumps(out))
""")


def bench_scale(b: Bench) -> None:
    heading("(c) scaling: generated chains and a 1,000-block residual net")
    sizes = [1_000, 10_000] + ([] if b.quick else [100_000])
    cases = [(f"chain {n:,}", n, chain_spec(n)) for n in sizes]
    cases.append(("residual 1,000 blocks", 1000, residual_spec(1000)))
    rows = {}
    for name, size, text in cases:
        path = b.tmp / f"scale_{name.replace(' ', '_').replace(',', '')}.nn"
        path.write_text(text, encoding="utf-8")
        runs = 3 if size >= 100_000 else max(3, b.runs)
        results = []
        for k in range(runs):
            ran = b.python_code(_SCALE, str(path), "stages" if k == 0 else "-")
            results.append(json.loads(ran.out))
        t, cpu = median([r["seconds"] for r in results]), median([r["cpu"] for r in results])
        peak = median([r["rss_after_kb"] for r in results]) / 1024
        grown = median([r["rss_after_kb"] - r["rss_before_kb"] for r in results]) / 1024
        rows[name] = {
            "seconds": t,
            "cpu": cpu,
            "peak_mib": peak,
            "grown_mib": grown,
            "size": size,
            "nodes": results[0]["nodes"],
            "codes": results[0]["codes"],
            "stages": results[0].get("stages", {}),
        }
        stages = ", ".join(f"{k} {v:.2f}" for k, v in rows[name]["stages"].items())
        print(
            f"  {name:<24} {t:>7.2f} s wall {cpu:>7.2f} CPU-s  peak {peak:>5.0f} MiB "
            f"(+{grown:,.0f} MiB for the check)  {results[0]['nodes']:,} nodes; median of {runs}\n"
            f"  {'':<24} stages (CPU-s): {stages}",
            flush=True,
        )
    chain_rows = [rows[f"chain {n:,}"] for n in sizes]
    for small, big in itertools.pairwise(chain_rows):
        growth = big["seconds"] / small["seconds"]
        growth_cpu = big["cpu"] / small["cpu"]
        memory = big["grown_mib"] / max(small["grown_mib"], 1e-9)
        print(
            f"  growth {small['size']:,} -> {big['size']:,} layers: time x{growth:.1f} wall, "
            f"x{growth_cpu:.1f} CPU; memory for the check x{memory:.1f}"
        )
        b.goal(
            f"time growth {small['size'] // 1000}k -> {big['size'] // 1000}k layers",
            f"x{growth:.1f} wall, x{growth_cpu:.1f} CPU",
            f"<= x{GOAL_GROWTH:g}",
            growth <= GOAL_GROWTH,
            growth_cpu <= GOAL_GROWTH,
        )
    if not b.quick:
        big = rows["chain 100,000"]
        b.goal(
            "100k-layer chain",
            f"{big['seconds']:.2f} s wall, {big['cpu']:.2f} CPU-s, {big['peak_mib']:,.0f} MiB peak",
            f"<= {GOAL_100K_S:g} s",
            big["seconds"] <= GOAL_100K_S,
            big["cpu"] <= GOAL_100K_S,
        )
    res = rows["residual 1,000 blocks"]
    b.goal(
        "1,000-block residual net",
        f"{res['seconds']:.2f} s wall, {res['cpu']:.2f} CPU-s, {res['peak_mib']:,.0f} MiB peak",
        "(reported)",
        None,
    )


# --------------------------------------------------------------------------- (e) short specs

_SHORT = textwrap.dedent("""
    import json, resource, sys, time
    start, cpu = time.perf_counter(), time.process_time()
    from nnlint.check import check_text
    text = open(sys.argv[1], encoding="utf-8").read()
    result = check_text(text, "short.nn")
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_kb": peak,
                      "codes": sorted({d.code for d in result.diagnostics})}))
""")


def short_specs(max_nodes: int) -> dict[str, str]:
    """Specs under 1 KB that expand to nnlint's limits (``max_nodes`` op instances)."""
    model = "model m {{\n    input x: [4]\n    y = x -> {layers}\n}}\n"
    doubling = "\n".join(
        f"block b{i}() {{\n    input x\n    y = x -> b{i + 1} -> b{i + 1}\n}}" for i in range(30)
    )
    doubling += "\nblock b30() {\n    input x\n    y = x -> relu\n}\n"
    doubling += "model m {\n    input x: [4]\n    y = x -> b0\n}\n"
    codes = ", ".join(f"NN{i % 1000:03d}" for i in range(120))
    return {
        f"relu * {max_nodes - 1:,} (the limit)": model.format(layers=f"relu * {max_nodes - 1}"),
        f"sigmoid * {max_nodes - 1:,}": model.format(layers=f"sigmoid * {max_nodes - 1}"),
        "relu * 249,990 (over the limit)": model.format(layers="relu * 249990"),
        "blocks calling blocks twice, 30 deep": doubling,
        "120 codes in one suppression comment": model.format(
            layers=f"relu  # nnlint: ignore[{codes}]"
        ),
    }


def bench_short(b: Bench) -> None:
    heading("(e) specs under 1 KB that expand to the limits: time and peak memory")
    worst_s, worst_cpu, worst_mib = 0.0, 0.0, 0.0
    max_nodes = int(b.python_code("from nnlint.graph import MAX_NODES; print(MAX_NODES)").out)
    for name, text in short_specs(max_nodes).items():
        path = b.tmp / "short.nn"
        path.write_text(text, encoding="utf-8")
        runs = [json.loads(b.python_code(_SHORT, str(path)).out) for _ in range(max(3, b.runs))]
        t, cpu = median([r["seconds"] for r in runs]), median([r["cpu"] for r in runs])
        mib = median([r["peak_kb"] for r in runs]) / 1024
        worst_s, worst_cpu, worst_mib = max(worst_s, t), max(worst_cpu, cpu), max(worst_mib, mib)
        print(
            f"  {name:<40} {len(text.encode()):>5} B  {t:>6.2f} s wall {cpu:>6.2f} CPU-s  "
            f"peak {mib:>5.0f} MiB  "
            f"{', '.join(runs[0]['codes']) or 'no findings'}",
            flush=True,
        )
    b.goal(
        "worst spec under 1 KB (time, peak memory)",
        f"{worst_s:.2f} s wall, {worst_cpu:.2f} CPU-s, {worst_mib:,.0f} MiB",
        f"< {GOAL_SHORT_S:g} s, < {GOAL_SHORT_MIB} MiB",
        worst_s < GOAL_SHORT_S and worst_mib < GOAL_SHORT_MIB,
        worst_cpu < GOAL_SHORT_S and worst_mib < GOAL_SHORT_MIB,
    )


# --------------------------------------------------------------------------- (d) peers

_PEER = textwrap.dedent("""
    import inspect, json, sys, warnings
    warnings.filterwarnings("ignore")
    sys.path.insert(0, sys.argv[3])
    import torch
    from torch_reference import ARCHITECTURES
    peer, arch = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    model, inputs = ARCHITECTURES[arch]()
    model.eval()
    if peer == "torchinfo":
        import torchinfo
        s = torchinfo.summary(model, input_data=inputs, verbose=0)
        out = {"params": s.total_params, "macs": s.total_mult_adds}
    elif peer == "fvcore":
        from fvcore.nn import FlopCountAnalysis, parameter_count
        f = FlopCountAnalysis(model, tuple(inputs))
        f.unsupported_ops_warnings(False)
        f.uncalled_modules_warnings(False)
        out = {"params": parameter_count(model)[""], "macs": f.total()}
    elif peer == "ptflops":
        from ptflops import get_model_complexity_info
        names = list(inspect.signature(model.forward).parameters)
        macs, params = get_model_complexity_info(
            model, tuple(inputs[0].shape[1:]), as_strings=False, print_per_layer_stat=False,
            verbose=False, input_constructor=lambda _res: dict(zip(names, inputs)))
        out = {"params": params, "macs": macs}
    print(json.dumps(out))
""")

PEERS = ("torchinfo", "fvcore", "ptflops")
ARCHS = (("resnet50", "ResNet-50"), ("bert_base", "BERT-base"))


def bench_peers(b: Bench) -> None:
    heading("(d) whole-process time against torchinfo, fvcore and ptflops")
    if not b.has_module("torch"):
        print("  note: torch is not installed in this Python; peers skipped")
        return
    available = []
    for peer in PEERS:
        if b.has_module(peer):
            available.append(peer)
        else:
            print(f"  note: {peer} is not installed (pip install {peer}); skipped")
    runs = max(3, b.runs)
    for arch, label in ARCHS:
        spec = f"examples/{arch}.nn"
        cmd = [str(b.nnlint), "check", spec, "--format", "json"]
        b.run(cmd)
        ours = [b.run(cmd) for _ in range(runs)]
        t_nn, cpu_nn = median([r.wall for r in ours]), median([r.cpu for r in ours])
        totals = json.loads(ours[-1].out)["models"][0]["totals"]
        print(
            f"  {label:<10} nnlint     {ms(t_nn):>10} wall {ms(cpu_nn):>10} CPU   "
            f"params {totals['params']:>12,}  MACs {totals['macs']:>16,}"
        )
        for peer in available:
            cmd = [str(b.python), "-c", _PEER, peer, arch, str(TESTS)]
            b.run(cmd, ok=(0,))
            theirs = [b.run(cmd, ok=(0,)) for _ in range(runs)]
            t_peer, cpu_peer = median([r.wall for r in theirs]), median([r.cpu for r in theirs])
            counted = json.loads(theirs[-1].out.strip().splitlines()[-1])
            speedup, speedup_cpu = t_peer / t_nn, cpu_peer / cpu_nn
            print(
                f"  {label:<10} {peer:<10} {ms(t_peer):>10} wall {ms(cpu_peer):>10} CPU   "
                f"params {counted['params']:>12,}  MACs {int(counted['macs']):>16,}   "
                f"nnlint {speedup:.1f}x faster ({speedup_cpu:.1f}x in CPU time)"
            )
            b.goal(
                f"{label}: nnlint vs {peer}",
                f"{ms(t_nn)} vs {ms(t_peer)} = {speedup:.1f}x wall; {speedup_cpu:.1f}x CPU",
                f">= {GOAL_PEER_SPEEDUP:g}x",
                speedup >= GOAL_PEER_SPEEDUP,
                speedup_cpu >= GOAL_PEER_SPEEDUP,
            )


# --------------------------------------------------------------------------- main

SECTIONS = {
    "cold": bench_cold,
    "many": bench_many,
    "scale": bench_scale,
    "short": bench_short,
    "peers": bench_peers,
}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs",
        type=int,
        default=5,
        help="runs per figure (the cold start takes 3x as many; default 5)",
    )
    parser.add_argument("--quick", action="store_true", help="3 runs, no 100k-layer chain")
    parser.add_argument("--only", help=f"comma-separated sections: {', '.join(SECTIONS)}")
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="the Python whose nnlint is measured (default: this one)",
    )
    args = parser.parse_args(argv)
    sections = list(SECTIONS)
    if args.only:
        sections = [s.strip() for s in args.only.split(",")]
        bad = [s for s in sections if s not in SECTIONS]
        if bad:
            parser.error(f"unknown section {', '.join(bad)}")
    python = Path(args.python)
    b = Bench(python, 3 if args.quick else args.runs, args.quick)
    if not b.nnlint.exists():
        parser.error(f"no nnlint next to {python}; run with the venv's Python")
    print(
        f"nnlint benchmarks: {cpu_name()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}"
    )
    try:
        for name in sections:
            SECTIONS[name](b)
    finally:
        b.close()
    heading("summary")
    header = ("what", "measured", "goal", "verdict", "by CPU time")
    widths = [max(len(r[i]) for r in [*b.summary, header]) for i in range(len(header))]
    print("  " + "  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  " + "  ".join("-" * w for w in widths))
    for row in b.summary:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
