"""Hardware target profiles: what a device can hold, move and compute.

One TOML file per target lives in ``rules/targets/<id>.toml``. Every quantity is in SI base units:

* capacities in bytes (``memory_bytes``, ``onchip_bytes``, ``flash_bytes``),
* bandwidths in bytes per second (``bandwidth``, ``host_link_bandwidth``),
* peaks in operations per second: FLOP/s for floating point, op/s for integers, where one
  multiply-accumulate counts as two operations (the vendors' TFLOPS/TOPS convention),
* power in watts.

``[peak]`` holds dense peaks and ``[peak_sparse]`` the 2:4 structured-sparsity figures; the two
are never mixed. Each number in the shipped files carries a comment naming its public source.
"""

from __future__ import annotations

import functools
import math
import os
import re
import types
from collections.abc import Mapping
from typing import Any

import attrs

from nnlint.ops import OPS
from nnlint.precision import ARITHMETIC_PRECISIONS
from nnlint.resources import TableReader, TomlFileError, data_dir, describe, read_toml
from nnlint.suggest import suggest

__all__ = [
    "KINDS",
    "OP_NAMES",
    "UNIFIED_MEMORY",
    "Target",
    "TargetError",
    "UnknownTarget",
    "builtin_targets",
    "is_builtin",
    "load_target_file",
    "resolve_target",
]

#: Device classes, each with what one device of the class is called in messages
#: ("8 GPUs", "10 CPUs"): the spec's ``train.gpus`` counts devices of the training target.
KINDS: Mapping[str, str] = types.MappingProxyType(
    {"gpu": "GPU", "edge-accelerator": "device", "cpu": "CPU", "mcu": "device"}
)

#: The nnlint op names an ``[ops] unsupported`` list may mention: the op catalog's.
OP_NAMES: frozenset[str] = frozenset(OPS)

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def _frozen_mapping(value: Mapping[str, float]) -> Mapping[str, float]:
    return types.MappingProxyType(dict(value))


#: Device classes that run training jobs. MCUs and the int8-only edge accelerators
#: run inference only, so training memory is never compared with theirs.
TRAINING_KINDS = frozenset({"gpu", "cpu"})

#: What ``unified_memory = true`` means, in the words every view and fit finding uses.
UNIFIED_MEMORY = "shared with the host CPU and its OS or firmware"


@attrs.frozen
class Target:
    """One hardware target.

    Units: ``memory_bytes``/``onchip_bytes``/``flash_bytes`` in bytes; ``bandwidth`` and
    ``host_link_bandwidth`` in bytes/s; ``peak``/``peak_sparse`` in FLOP/s (op/s for integer
    precisions) keyed by precision name; ``power_w`` in watts.

    * ``memory_bytes``: capacity that must hold weights and activations (device memory for a GPU,
      board RAM for an edge accelerator or CPU, SRAM for an MCU).
    * ``bandwidth``: the main-memory bandwidth parameters are read at. For the Edge TPU this is the
      host link that uncached parameters stream over.
    * ``onchip_bytes``: on-chip SRAM usable for caching parameters (0 = not modelled).
    * ``host_link_bandwidth``: link for devices that stream parameters from the host (0 = none).
    * ``unified_memory``: ``memory_bytes`` is shared with a host CPU and its OS or firmware (SoC
      DRAM, system RAM, MCU SRAM), so the model cannot have all of it. False for discrete memory.
    * ``flash_bytes``: MCU flash that holds the weights (0 = not applicable).
    * ``source``: the TOML file the target was loaded from ("" when built in code).
    * ``launch_overhead_s``: fixed time each kernel launch adds beyond its roofline time, in
      seconds (0 = not modelled).
    * ``inference_overhead_s``: fixed time one inference adds (a runtime invocation, e.g. the
      Edge TPU delegate's round trip), in seconds (0 = not modelled).
    """

    id: str
    name: str
    kind: str
    memory_bytes: int
    bandwidth: float
    onchip_bytes: int
    host_link_bandwidth: float
    power_w: float
    unified_memory: bool
    precisions: frozenset[str] = attrs.field(converter=frozenset)
    peak: Mapping[str, float] = attrs.field(converter=_frozen_mapping, hash=False)
    peak_sparse: Mapping[str, float] = attrs.field(converter=_frozen_mapping, hash=False)
    unsupported_ops: frozenset[str] = attrs.field(converter=frozenset)
    source: str
    flash_bytes: int = 0
    notes: str = ""
    launch_overhead_s: float = 0.0
    inference_overhead_s: float = 0.0

    @property
    def trains(self) -> bool:
        """True when the device class runs training jobs (:data:`TRAINING_KINDS`)."""
        return self.kind in TRAINING_KINDS

    @property
    def device(self) -> str:
        """What one device of this class is called in messages: GPU, CPU or device."""
        return KINDS[self.kind]

    def devices(self, count: int | None = None) -> str:
        """The plural for messages (``GPUs``), or ``count`` of them (``1 CPU``, ``8 GPUs``)."""
        if count is None:
            return f"{self.device}s"
        return f"{count} {self.device}" + ("" if count == 1 else "s")

    @property
    def memory_kind(self) -> str:
        """``unified`` (:data:`UNIFIED_MEMORY`) or ``discrete``."""
        return "unified" if self.unified_memory else "discrete"

    def unified_memory_hint(self) -> str:
        """A clause the fit findings append on a unified-memory target ("" on discrete
        memory): the host's share is not subtracted, so what fits is an upper bound."""
        if not self.unified_memory:
            return ""
        return (
            f"; {self.id}'s memory is unified, {UNIFIED_MEMORY}: less than all of it is "
            f"left for the model, so treat what fits as an upper bound"
        )

    def supports_precision(self, precision: str) -> bool:
        """True if the device runs ``precision`` arithmetic natively."""
        return precision in self.precisions

    def peak_for(self, precision: str) -> float | None:
        """Dense peak for ``precision`` in FLOP/s (op/s for integers).

        None when the device has no such arithmetic. ``tf32`` falls back to the fp32 peak when
        the target lists tf32 but publishes no tf32 rate.
        """
        if precision in self.peak:
            return self.peak[precision]
        if precision == "tf32" and "tf32" in self.precisions:
            return self.peak.get("fp32")
        return None

    def ridge_point(self, precision: str) -> float | None:
        """Roofline ridge point in FLOP per byte: ``peak_for(precision) / bandwidth``.

        Kernels with a lower arithmetic intensity are memory-bound on this target.
        """
        peak = self.peak_for(precision)
        return None if peak is None else peak / self.bandwidth

    def computes(self) -> list[str]:
        """The precisions with a dense peak (:meth:`peak_for`), widest first."""
        return [p for p in ARITHMETIC_PRECISIONS if self.peak_for(p) is not None]

    def best_precision(self) -> str | None:
        """The precision with the highest dense peak (the widest one on a tie)."""
        return max(self.computes(), key=lambda p: self.peak_for(p), default=None)

    def as_dict(self, source: str | None = None) -> dict[str, Any]:
        """``nnlint targets --format json``: every field, in the units of the target file
        (docs/targets.schema.json). ``peak`` and ``ridge_point`` are the dense figures
        nnlint computes with (tf32 without a rate of its own at fp32's, :meth:`peak_for`);
        ``source`` is the file as the user reads it (default: as loaded)."""
        computes = self.computes()
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "trains": self.trains,
            "memory_bytes": self.memory_bytes,
            "memory_kind": self.memory_kind,
            "onchip_bytes": self.onchip_bytes,
            "flash_bytes": self.flash_bytes,
            "bandwidth": self.bandwidth,
            "host_link_bandwidth": self.host_link_bandwidth,
            "power_w": self.power_w,
            "launch_overhead_s": self.launch_overhead_s,
            "inference_overhead_s": self.inference_overhead_s,
            "precisions": [p for p in ARITHMETIC_PRECISIONS if p in self.precisions],
            "best_precision": self.best_precision(),
            "peak": {p: self.peak_for(p) for p in computes},
            "peak_sparse": {p: self.peak_sparse[p] for p in computes if p in self.peak_sparse},
            "ridge_point": {p: self.ridge_point(p) for p in computes},
            "unsupported_ops": sorted(self.unsupported_ops),
            "notes": self.notes,
            "source": self.source if source is None else source,
            "builtin": is_builtin(self),
        }


class TargetError(Exception):
    """A target file is unreadable or invalid.

    ``path`` is the file, ``key`` the offending (dotted) key or None, ``message`` what is wrong.
    ``str()`` gives ``"path: key: message"``, leaving out parts that are empty.
    """

    def __init__(self, path: str, key: str | None, message: str) -> None:
        self.path = str(path)
        self.key = key
        self.message = message
        super().__init__(": ".join(part for part in (self.path, key, message) if part))


class UnknownTarget(TargetError):
    """``resolve_target`` got a name that is neither built in nor among the extra targets."""

    def __init__(self, name: str, known: list[str], suggestion: str | None) -> None:
        self.name = name
        self.known = tuple(known)
        self.suggestion = suggestion
        hint = f"; did you mean {suggestion!r}?" if suggestion else ";"
        message = f"unknown target {name!r}{hint} known targets: {', '.join(known)}"
        super().__init__("", None, message)


# --- loading -------------------------------------------------------------------------------

#: The range each number may take (low, high, unit): wide around every real device,
#: narrow enough that no figure computed from them (a ridge point, a latency)
#: leaves the float range. A capacity of 0 (where allowed) means "not modelled".
RANGES: Mapping[str, tuple[float, float, str]] = types.MappingProxyType(
    {
        "memory_bytes": (1, 2**64, "bytes"),
        "onchip_bytes": (1, 2**64, "bytes"),
        "flash_bytes": (1, 2**64, "bytes"),
        "bandwidth": (1, 1e18, "B/s"),
        "host_link_bandwidth": (1, 1e18, "B/s"),
        "power_w": (1e-6, 1e9, "W"),
        "peak": (1, 1e24, "op/s"),
        "peak_sparse": (1, 1e24, "op/s"),
        "launch_overhead_s": (1e-9, 3600, "s"),
        "inference_overhead_s": (1e-9, 3600, "s"),
    }
)

_REQUIRED = ("id", "name", "kind", "memory_bytes", "bandwidth", "power_w", "precisions", "peak")
_OPTIONAL = (
    "onchip_bytes",
    "host_link_bandwidth",
    "unified_memory",
    "flash_bytes",
    "notes",
    "peak_sparse",
    "ops",
    "launch_overhead_s",
    "inference_overhead_s",
)
_OPS_KEYS = ("unsupported", "notes")


class _Reader(TableReader):
    """Type-checked access to one parsed TOML file; every failure names the file and the key."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, key: str | None, message: str) -> TargetError:
        return TargetError(self.path, key, message)

    def check_keys(
        self, table: Mapping[str, Any], allowed: tuple[str, ...], prefix: str = ""
    ) -> None:
        for key in table:
            if key not in allowed:
                raise self.fail(prefix + key, f"unknown key (allowed: {', '.join(allowed)})")

    def number(
        self, value: Any, key: str, *, integer: bool = False, allow_zero: bool = False
    ) -> Any:
        """A positive (with ``allow_zero``: non-negative) finite number within the key's
        :data:`RANGES`; ``integer`` demands int."""
        wanted = "an integer" if integer else "a number"
        types_ok = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, types_ok):
            raise self.fail(key, f"must be {wanted}, got {describe(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(key, f"must be finite, got {value!r}")
        if value < 0 or (value == 0 and not allow_zero):
            bound = "non-negative" if allow_zero else "positive"
            raise self.fail(key, f"must be {bound}, got {value!r}")
        low, high, unit = RANGES[key.split(".", 1)[0]]
        if value != 0 and not low <= value <= high:
            big = isinstance(value, int) and value > high
            shown = f"an integer of {value.bit_length()} bits" if big else f"{value:.4g}"
            raise self.fail(key, f"must be between {low:g} and {high:g} {unit}, got {shown}")
        return value

    def field(
        self, data: Mapping[str, Any], key: str, *, integer: bool = False, optional: bool = False
    ) -> Any:
        """``data[key]`` checked by :meth:`number`: an int with ``integer``, else a float. An
        ``optional`` key defaults to 0 and may be 0 (the feature is absent)."""
        value = data.get(key, 0) if optional else data[key]
        checked = self.number(value, key, integer=integer, allow_zero=optional)
        return checked if integer else float(checked)

    def string_list(self, value: Any, key: str) -> list[str]:
        """A list of strings, each listed once."""
        value = super().string_list(value, key)
        duplicates = sorted({item for item in value if value.count(item) > 1})
        if duplicates:
            raise self.fail(key, f"lists {', '.join(map(repr, duplicates))} more than once")
        return value

    def name_in(self, name: str, known: Any, key: str, what: str) -> None:
        if name not in known:
            close = suggest(name, sorted(known))
            hint = f"; did you mean {close!r}?" if close else ""
            known_list = ", ".join(sorted(known))
            raise self.fail(key, f"unknown {what} {name!r}{hint} (known: {known_list})")

    def peaks(self, data: Mapping[str, Any], key: str, precisions: list[str]) -> dict[str, float]:
        out: dict[str, float] = {}
        for precision, value in self.table(data.get(key, {}), key).items():
            self.name_in(precision, ARITHMETIC_PRECISIONS, f"{key}.{precision}", "precision")
            if precision not in precisions:
                raise self.fail(f"{key}.{precision}", f"{precision!r} is not listed in precisions")
            out[precision] = float(self.number(value, f"{key}.{precision}"))
        return out


def load_target_file(path: str | os.PathLike[str]) -> Target:
    """Load and validate one target TOML file.

    Raises TargetError naming the file and key for: invalid TOML, unknown keys, missing required
    keys, wrong types, non-positive numbers (zero is allowed for ``onchip_bytes``,
    ``host_link_bandwidth``, ``flash_bytes`` and the two overheads), unknown kind, precision or
    op names, a peak for an unlisted precision, a listed precision without a dense peak (tf32
    may fall back to fp32), and a sparse peak below the dense one.
    """
    source = str(path)
    r = _Reader(source)
    try:
        data = read_toml(path, what="target files")
    except TomlFileError as exc:
        raise r.fail(None, str(exc)) from None

    r.check_keys(data, _REQUIRED + _OPTIONAL)
    for key in _REQUIRED:
        if key not in data:
            raise r.fail(key, "missing required key")

    target_id = r.string(data["id"], "id")
    if not _ID_RE.match(target_id):
        raise r.fail("id", f"must use lower-case letters, digits, '.', '_', '-'; got {target_id!r}")
    kind = r.string(data["kind"], "kind")
    r.name_in(kind, KINDS, "kind", "kind")
    unified = data.get("unified_memory", False)
    if not isinstance(unified, bool):
        raise r.fail("unified_memory", f"must be true or false, got {describe(unified)}")

    precisions = r.string_list(data["precisions"], "precisions")
    if not precisions:
        raise r.fail("precisions", "must list at least one precision")
    for precision in precisions:
        r.name_in(precision, ARITHMETIC_PRECISIONS, "precisions", "precision")
    peak = r.peaks(data, "peak", precisions)
    peak_sparse = r.peaks(data, "peak_sparse", precisions)
    for precision in precisions:
        if precision not in peak and not (precision == "tf32" and "fp32" in peak):
            raise r.fail(f"peak.{precision}", f"{precision!r} is in precisions but has no peak")
    for precision, sparse in peak_sparse.items():
        # the dense peak nnlint computes with (Target.peak_for: tf32 falls back to fp32)
        dense = peak.get(precision, peak.get("fp32") if precision == "tf32" else None)
        if dense is not None and sparse < dense:
            message = f"sparse peak {sparse:g} is below the dense peak {dense:g}"
            raise r.fail(f"peak_sparse.{precision}", message)

    ops = r.table(data.get("ops", {}), "ops")
    r.check_keys(ops, _OPS_KEYS, prefix="ops.")
    unsupported = r.string_list(ops.get("unsupported", []), "ops.unsupported")
    for op in unsupported:
        r.name_in(op, OP_NAMES, "ops.unsupported", "op")
    notes = [r.string(data.get("notes", ""), "notes"), r.string(ops.get("notes", ""), "ops.notes")]

    return Target(
        id=target_id,
        name=r.string(data["name"], "name"),
        kind=kind,
        memory_bytes=r.field(data, "memory_bytes", integer=True),
        bandwidth=r.field(data, "bandwidth"),
        onchip_bytes=r.field(data, "onchip_bytes", integer=True, optional=True),
        host_link_bandwidth=r.field(data, "host_link_bandwidth", optional=True),
        power_w=r.field(data, "power_w"),
        unified_memory=unified,
        precisions=precisions,
        peak=peak,
        peak_sparse=peak_sparse,
        unsupported_ops=unsupported,
        source=source,
        flash_bytes=r.field(data, "flash_bytes", integer=True, optional=True),
        notes="\n\n".join(note.strip() for note in notes if note.strip()),
        launch_overhead_s=r.field(data, "launch_overhead_s", optional=True),
        inference_overhead_s=r.field(data, "inference_overhead_s", optional=True),
    )


@functools.cache
def _load_builtins() -> Mapping[str, Target]:
    targets: dict[str, Target] = {}
    for path in sorted((data_dir("rules") / "targets").glob("*.toml")):
        target = load_target_file(path)
        if target.id != path.stem:
            message = f"{target.id!r} does not match the file name {path.stem!r}"
            raise TargetError(str(path), "id", message)
        targets[target.id] = target
    return types.MappingProxyType(targets)


def is_builtin(target: Target) -> bool:
    """True for a shipped profile, False for one a config's ``targets`` adds (also one that
    replaces a built-in id)."""
    return _load_builtins().get(target.id) == target


def builtin_targets() -> dict[str, Target]:
    """All shipped targets by id (files are read once and cached; the dict is a fresh copy)."""
    return dict(_load_builtins())


def resolve_target(name: str, extra: Mapping[str, Target] | None = None) -> Target:
    """Look a target up by id; ``extra`` targets are added to the built-ins and win on a clash.

    Matching is exact, then case-insensitive. Raises UnknownTarget listing the known ids and the
    closest one.
    """
    table = {**_load_builtins(), **(extra or {})}
    if name in table:
        return table[name]
    lowered = {key.lower(): key for key in table}
    if name.lower() in lowered:
        return table[lowered[name.lower()]]
    known = sorted(table)
    close = suggest(name.lower(), lowered)
    raise UnknownTarget(name, known, lowered[close] if close else None)
