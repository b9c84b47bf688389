"""Hardware target profiles: the shipped TOML data and its loader."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nnlint.precision import ARITHMETIC_PRECISIONS
from nnlint.resources import data_dir
from nnlint.targets import (
    OP_NAMES,
    Target,
    TargetError,
    UnknownTarget,
    builtin_targets,
    load_target_file,
    resolve_target,
)

TARGET_DIR = data_dir("rules") / "targets"
TARGET_FILES = sorted(TARGET_DIR.glob("*.toml"))

EXPECTED_IDS = {
    "edge-tpu",
    "jetson-orin-nano",
    "jetson-agx-orin",
    "rpi5",
    "cortex-m7",
    "t4",
    "l4",
    "a100-40gb",
    "a100-80gb",
    "h100-sxm",
    "h100-pcie",
    "rtx-4090",
    "x86-cpu",
}


@pytest.fixture(scope="module")
def targets() -> dict[str, Target]:
    return builtin_targets()


# --- the shipped files ---------------------------------------------------------------------------


def test_builtin_ids_are_exactly_the_thirteen(targets):
    assert set(targets) == EXPECTED_IDS
    assert {path.stem for path in TARGET_FILES} == EXPECTED_IDS


@pytest.mark.parametrize("path", TARGET_FILES, ids=lambda p: p.stem)
def test_every_builtin_file_loads(path):
    target = load_target_file(path)
    assert target.id == path.stem
    assert target.source == str(path)
    assert target.memory_bytes > 0 and target.bandwidth > 0 and target.power_w > 0
    assert set(target.peak) <= target.precisions <= set(ARITHMETIC_PRECISIONS)
    assert set(target.peak_sparse) <= target.precisions
    assert target.unsupported_ops <= OP_NAMES
    for precision in target.precisions:
        assert target.peak_for(precision) is not None


def test_dense_and_sparse_peaks_are_kept_apart(targets):
    for target in targets.values():
        for precision, sparse in target.peak_sparse.items():
            assert sparse >= target.peak[precision], (target.id, precision)


def test_t4_published_figures(targets):
    t4 = targets["t4"]
    assert t4.kind == "gpu"
    assert t4.memory_bytes == 16_000_000_000
    assert t4.bandwidth == 320e9
    assert t4.peak == {"fp32": 8.1e12, "fp16": 65e12, "int8": 130e12, "int4": 260e12}
    assert t4.peak_sparse == {}
    assert t4.power_w == 70
    assert not t4.supports_precision("bf16")
    assert t4.peak_for("bf16") is None
    assert t4.peak_for("tf32") is None  # not listed, so no fp32 fallback


def test_a100_40gb_published_figures(targets):
    a100 = targets["a100-40gb"]
    assert a100.memory_bytes == 40_000_000_000
    assert a100.bandwidth == 1555e9
    assert a100.peak["fp32"] == 19.5e12
    assert a100.peak_for("fp16") == 312e12
    assert a100.peak_sparse["fp16"] == 624e12
    assert a100.peak_for("tf32") == 156e12
    assert a100.peak_sparse["tf32"] == 312e12
    assert a100.peak_for("int8") == 624e12
    assert a100.peak_sparse["int8"] == 1248e12
    assert a100.power_w == 400


def test_a100_80gb_differs_only_in_memory(targets):
    small, big = targets["a100-40gb"], targets["a100-80gb"]
    assert big.memory_bytes == 80_000_000_000
    assert big.bandwidth == 2039e9
    assert big.peak == small.peak and big.peak_sparse == small.peak_sparse


def test_h100_published_figures(targets):
    sxm, pcie = targets["h100-sxm"], targets["h100-pcie"]
    assert sxm.bandwidth == 3.35e12
    assert sxm.peak["fp32"] == 67e12
    assert sxm.peak_sparse["fp16"] == 1979e12
    assert sxm.peak_sparse["fp8"] == 3958e12
    assert sxm.power_w == 700
    assert pcie.bandwidth == 2.0e12
    assert pcie.peak["fp32"] == 51e12
    assert pcie.peak_sparse["fp16"] == 1513e12
    assert pcie.power_w == 350
    for target in (sxm, pcie):
        assert target.memory_bytes == 80_000_000_000
        assert target.supports_precision("fp8")
        # the datasheets quote sparse figures; dense is exactly half
        for precision in ("tf32", "bf16", "fp16", "fp8", "int8"):
            assert target.peak_sparse[precision] == 2 * target.peak[precision]


def test_other_gpu_figures(targets):
    l4, rtx = targets["l4"], targets["rtx-4090"]
    assert (l4.memory_bytes, l4.bandwidth, l4.power_w) == (24e9, 300e9, 72)
    assert l4.peak["fp32"] == 30.3e12
    assert l4.peak_sparse["fp8"] == 485e12
    assert (rtx.bandwidth, rtx.peak["fp32"], rtx.power_w) == (1008e9, 82.6e12, 450)
    assert rtx.peak["fp16"] == 165.2e12  # FP32 accumulate, not the 330.3 FP16-accumulate rate


def test_edge_tpu_profile(targets):
    tpu = targets["edge-tpu"]
    assert tpu.kind == "edge-accelerator"
    assert tpu.peak_for("int8") == 4e12
    assert tpu.precisions == {"int8"}
    assert not tpu.supports_precision("fp32")
    assert tpu.peak_for("fp32") is None
    assert tpu.ridge_point("fp32") is None
    assert tpu.onchip_bytes == int(7.62 * 2**20)  # compiler log: 7.62 MiB for parameter caching
    assert tpu.bandwidth == tpu.host_link_bandwidth == 500e6  # PCIe Gen2 x1
    assert tpu.memory_bytes == 1_000_000_000  # Dev Board 1 GB LPDDR4
    assert tpu.power_w == 2
    assert {"gelu", "layernorm", "groupnorm", "attention", "leaky_relu"} <= tpu.unsupported_ops
    runs_on_tpu = {"conv2d", "dense", "relu", "relu6", "add", "concat", "softmax", "silu"}
    assert not runs_on_tpu & tpu.unsupported_ops


def test_jetson_figures(targets):
    nano, agx = targets["jetson-orin-nano"], targets["jetson-agx-orin"]
    assert nano.peak["int8"] == 20e12 and nano.peak_sparse["int8"] == 40e12
    assert nano.bandwidth == 68e9 and nano.memory_bytes == 8_000_000_000
    assert agx.peak["fp32"] == 5.3e12 and agx.peak_sparse["int8"] == 170e12
    assert agx.bandwidth == 204.8e9 and agx.memory_bytes == 64_000_000_000
    assert nano.unified_memory and agx.unified_memory
    # tf32 is listed without a published rate: it falls back to fp32
    assert nano.peak_for("tf32") == nano.peak["fp32"]


def test_small_targets(targets):
    mcu, pi, cpu = targets["cortex-m7"], targets["rpi5"], targets["x86-cpu"]
    assert mcu.kind == "mcu"
    assert mcu.memory_bytes == 1024 * 1024 and mcu.flash_bytes == 2 * 1024 * 1024
    assert mcu.peak["fp32"] == 2 * 480e6
    assert pi.peak["fp32"] == 4 * 2 * 4 * 2 * 2.4e9
    assert cpu.peak["fp32"] == 8 * 2 * 8 * 2 * 3.5e9
    assert cpu.bandwidth == 3200e6 * 8 * 2
    assert not cpu.supports_precision("fp16")


def test_ridge_points(targets):
    assert targets["a100-40gb"].ridge_point("fp16") == pytest.approx(312e12 / 1555e9)
    assert targets["t4"].ridge_point("fp32") == pytest.approx(8.1e12 / 320e9)
    assert targets["h100-sxm"].ridge_point("fp16") == pytest.approx(989.5e12 / 3.35e12)
    assert targets["t4"].ridge_point("fp8") is None


# --- every number is sourced ---------------------------------------------------------------------

_NUMERIC_ASSIGNMENT = re.compile(r"^\s*[A-Za-z0-9_.\"-]+\s*=\s*[+-]?(\d|inf|nan)")


def _numeric_lines(text: str):
    """(line number, line, its comment) for each numeric assignment outside strings.

    The comment is the text after ``#`` on the line plus the comment block directly above it.
    """
    lines = text.splitlines()
    in_multiline = False
    for number, line in enumerate(lines):
        if line.count('"""') % 2 == 1:
            in_multiline = not in_multiline
            continue
        if in_multiline or not _NUMERIC_ASSIGNMENT.match(line):
            continue
        comment = [line.partition("#")[2]]
        above = number - 1
        while above >= 0 and lines[above].strip().startswith("#"):
            comment.append(lines[above].strip().lstrip("#"))
            above -= 1
        yield number + 1, line, " ".join(comment)


@pytest.mark.parametrize("path", TARGET_FILES, ids=lambda p: p.stem)
def test_every_number_has_a_source_comment(path):
    text = path.read_text(encoding="utf-8")
    found = list(_numeric_lines(text))
    assert found, "the scan found no numbers at all"
    missing = [f"{path.name}:{n}: {line.strip()}" for n, line, note in found if not note.strip()]
    assert not missing, "numbers without a source comment:\n" + "\n".join(missing)


def test_x86_cpu_numbers_are_all_marked_derived():
    text = (TARGET_DIR / "x86-cpu.toml").read_text(encoding="utf-8")
    not_derived = [line for _, line, comment in _numeric_lines(text) if "derived" not in comment]
    assert not not_derived


# --- bad files -----------------------------------------------------------------------------------

GOOD = """\
id = "toy"
name = "Toy accelerator"
kind = "gpu"
memory_bytes = 1_000_000
bandwidth = 1e9
power_w = 5
precisions = ["fp32", "tf32"]
[peak]
fp32 = 1e12
[ops]
unsupported = ["gelu"]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "toy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_file_loads_with_defaults(tmp_path):
    target = load_target_file(_write(tmp_path, GOOD))
    assert target.onchip_bytes == 0 and target.host_link_bandwidth == 0 and target.flash_bytes == 0
    assert target.unified_memory is False
    assert target.unsupported_ops == {"gelu"}
    assert target.peak_for("tf32") == 1e12  # listed, so it falls back to fp32


@pytest.mark.parametrize(
    ("old", "new", "key", "fragment"),
    [
        ('kind = "gpu"', 'kind = "gpu"\ncolour = "green"', "colour", "unknown key"),
        ("fp32 = 1e12", "fp32 = 1e12\nfp12 = 1e12", "peak.fp12", "unknown precision"),
        ("[ops]", "[ops]\nextra = 1", "ops.extra", "unknown key"),
        ("bandwidth = 1e9", "bandwidth = -1e9", "bandwidth", "positive"),
        ("bandwidth = 1e9", "bandwidth = 0", "bandwidth", "positive"),
        ("fp32 = 1e12", "fp32 = 0.0", "peak.fp32", "positive"),
        ('["fp32", "tf32"]', '["fp32", "fp12"]', "precisions", "unknown precision 'fp12'"),
        ('["gelu"]', '["gelux"]', "ops.unsupported", "unknown op 'gelux'; did you mean 'gelu'?"),
        ("memory_bytes = 1_000_000", 'memory_bytes = "1 MB"', "memory_bytes", "integer"),
        ("memory_bytes = 1_000_000", "memory_bytes = 1e6", "memory_bytes", "integer"),
        ("power_w = 5", "power_w = true", "power_w", "number"),
        ('kind = "gpu"', 'kind = "tpu"', "kind", "unknown kind"),
        ('kind = "gpu"\n', "", "kind", "missing"),
        ('["fp32", "tf32"]', '["fp32", "int8"]', "peak.int8", "no peak"),
        ("[ops]", "[peak_sparse]\nfp32 = 0.5e12\n[ops]", "peak_sparse.fp32", "below the dense"),
        # tf32 without a dense rate computes at fp32's, so its sparse peak is held to it
        ("[ops]", "[peak_sparse]\ntf32 = 1\n[ops]", "peak_sparse.tf32", "below the dense"),
        ("[ops]", "[peak_sparse]\nint8 = 2e12\n[ops]", "peak_sparse.int8", "not listed"),
        ('id = "toy"', 'id = "Toy Box"', "id", "lower-case"),
    ],
)
def test_bad_file_names_the_key(tmp_path, old, new, key, fragment):
    assert old in GOOD
    path = _write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(TargetError) as info:
        load_target_file(path)
    error = info.value
    assert error.key == key
    assert error.path == str(path)
    assert fragment in error.message
    assert str(error) == f"{path}: {key}: {error.message}"


def test_invalid_toml_names_the_file(tmp_path):
    path = _write(tmp_path, "id = \n")
    with pytest.raises(TargetError, match="invalid TOML") as info:
        load_target_file(path)
    assert info.value.path == str(path) and info.value.key is None


# --- lookup --------------------------------------------------------------------------------------


def test_resolve_builtin():
    assert resolve_target("t4").id == "t4"
    assert resolve_target("T4").id == "t4"


def test_unknown_target_suggests_the_closest():
    with pytest.raises(UnknownTarget) as info:
        resolve_target("edge-tp")
    message = str(info.value)
    assert message.startswith("unknown target 'edge-tp'; did you mean 'edge-tpu'? known targets: ")
    assert "a100-40gb, a100-80gb," in message
    assert info.value.suggestion == "edge-tpu"
    assert isinstance(info.value, TargetError)


def test_unknown_target_without_a_close_match():
    with pytest.raises(UnknownTarget) as info:
        resolve_target("zzzzzz")
    assert info.value.suggestion is None
    assert "did you mean" not in str(info.value)


def test_extra_targets_extend_and_override(tmp_path):
    toy = load_target_file(_write(tmp_path, GOOD))
    assert resolve_target("toy", extra={"toy": toy}) is toy
    faster_t4 = Target(
        id="t4",
        name="Overclocked T4",
        kind="gpu",
        memory_bytes=16_000_000_000,
        bandwidth=400e9,
        onchip_bytes=0,
        host_link_bandwidth=0,
        power_w=70,
        unified_memory=False,
        precisions={"fp32"},
        peak={"fp32": 9e12},
        peak_sparse={},
        unsupported_ops=(),
        source="",
    )
    assert resolve_target("t4", extra={"t4": faster_t4}).bandwidth == 400e9
    assert resolve_target("t4").bandwidth == 320e9  # the built-in is untouched
    with pytest.raises(UnknownTarget) as info:
        resolve_target("toi", extra={"toy": toy})
    assert "toy" in info.value.known


def test_builtin_targets_is_a_fresh_copy():
    first = builtin_targets()
    first.pop("t4")
    assert "t4" in builtin_targets()


def test_target_is_immutable(targets):
    t4 = targets["t4"]
    with pytest.raises(TypeError):
        t4.peak["fp32"] = 1.0  # type: ignore[index]
    assert hash(t4) == hash(builtin_targets()["t4"])
