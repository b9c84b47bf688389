"""The command line: ``nnlint check | report | plan | format | server | rule | rules | targets |
import``.

Exit codes (ruff's): 0 nothing at or above the fail level, 1 findings at or above
it, 2 a usage, config, I/O or internal error. Every error is one line on stderr
(``nnlint: error: …``), never a traceback; checking goes on with the other files.
An internal error (a bug) is wrapped once, by :func:`nnlint.check.internal_errors`
or :func:`_internal`; ``--show-traceback`` (or ``NNLINT_SHOW_TRACEBACK=1``) prints
its stack above the line.
nnlint writes to stdout, stderr and ``--output-file`` only.

Modules are imported inside the subcommands, so ``nnlint rules`` never loads the
parser and ``nnlint --help`` loads almost nothing.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from nnlint import __version__
from nnlint.emit import FORMATS
from nnlint.files import display_path

if TYPE_CHECKING:
    from nnlint.config import ConfigResolver, Overrides, ProjectConfig
    from nnlint.diagnostics import FileResult

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
#: Above this many files, ``check`` runs in a process pool (one worker per CPU).
PARALLEL_THRESHOLD = 32
#: Folders a folder walk never enters (version control, virtual environments, caches).
SKIPPED_FOLDERS = frozenset(
    {".git", ".hg", ".svn", ".venv", "venv", "__pycache__", "node_modules", ".tox", ".nox"}
)
SPEC_SUFFIX = ".nn"
#: Set to 1 to print the stack of an internal error, like ``--show-traceback``.
SHOW_TRACEBACK_ENV = "NNLINT_SHOW_TRACEBACK"


class UsageError(Exception):
    """A bad command line, path or output file: one line on stderr, exit 2."""


def _error(message: str) -> None:
    """One line on stderr; file names and keys in it are shown with :func:`visible`."""
    from nnlint.sanitize import visible

    print(f"nnlint: error: {visible(message)}", file=sys.stderr)


def _note(message: str) -> None:
    from nnlint.sanitize import visible

    print(f"nnlint: note: {visible(message)}", file=sys.stderr)


def _warning(message: str) -> None:
    from nnlint.sanitize import visible

    print(f"nnlint: warning: {visible(message)}", file=sys.stderr)


def _show_traceback(args: argparse.Namespace | None) -> bool:
    if args is not None and getattr(args, "show_traceback", False):
        return True
    return os.environ.get(SHOW_TRACEBACK_ENV, "") not in ("", "0", "false")


def _internal(exc: BaseException, path: str | None = None) -> _Outcome:
    """Any exception that is a bug, as an outcome: the one line and the stack."""
    from nnlint.check import InternalError

    error = exc if isinstance(exc, InternalError) else InternalError(path, exc)
    return _Outcome(error=str(error), traceback=error.traceback)


def _error_line(outcome: _Outcome, show_traceback: bool) -> str:
    """The outcome's error; an internal one says how to get its stack, or is under it."""
    if outcome.traceback is None:
        return outcome.error
    if show_traceback:
        return f"{outcome.error} (a bug in nnlint: please report it with the traceback above)"
    return f"{outcome.error} (run with --show-traceback and report it)"


def _report_internal(outcome: _Outcome, show_traceback: bool) -> None:
    if show_traceback and outcome.traceback:
        sys.stderr.write(outcome.traceback)
    _error(_error_line(outcome, show_traceback))


# --------------------------------------------------------------------------- argparse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnlint",
        description="A linter for neural-network architecture specs (*.nn).",
        epilog="Exit codes: 0 nothing at or above the fail level, 1 findings, "
        "2 usage, config, I/O or internal error.",
    )
    parser.add_argument("--version", action="version", version=f"nnlint {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = commands.add_parser(
        "check",
        help="check specs and report findings",
        description="Check files, folders (every *.nn below them) and - (stdin).",
    )
    check.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files, folders or - for stdin (default: the current folder)",
    )
    _add_config_options(check)
    check.add_argument(
        "--target",
        metavar="T",
        help="hardware target id (overrides "
        "deploy.target and the config's target); see `nnlint targets`",
    )
    check.add_argument(
        "--train-target",
        metavar="T",
        help="hardware target training runs on (overrides train.target)",
    )
    check.add_argument(
        "--format", choices=FORMATS, default="text", help="output format (default: text)"
    )
    check.add_argument(
        "-o",
        "--output-file",
        metavar="FILE",
        help="write the output to FILE (atomically) instead of stdout",
    )
    check.add_argument(
        "--select",
        metavar="CODES",
        help="comma-separated codes, prefixes (NN1), rule names or ALL; "
        "replaces the configured select, extend-select and ignore",
    )
    check.add_argument(
        "--extend-select", metavar="CODES", help="codes to check in addition to the selected ones"
    )
    check.add_argument("--ignore", metavar="CODES", help="codes not to check")
    check.add_argument(
        "--fail-on",
        choices=("error", "warning", "note"),
        help="lowest severity that makes the exit code 1 (default: error)",
    )
    check.add_argument(
        "--exit-zero",
        action="store_true",
        help="exit 0 even when there are findings (errors still exit 2)",
    )
    check.add_argument(
        "--statistics", action="store_true", help="count findings per rule instead of listing them"
    )
    check.add_argument(
        "--no-color",
        action="store_true",
        help="no ANSI colors (also: NO_COLOR=1; FORCE_COLOR=1 forces them)",
    )
    check.add_argument(
        "--stdin-filename",
        metavar="NAME",
        help="the name shown for - (stdin); config is looked up from it",
    )
    check.add_argument(
        "--force-exclude",
        action="store_true",
        help="apply the config's exclude to files named on the command line "
        "too (pre-commit passes every file by name)",
    )
    check.add_argument(
        "--fix",
        action="store_true",
        help="apply the safe fixes to the files (atomically) and report what remains",
    )
    check.add_argument(
        "--unsafe-fixes",
        action="store_true",
        help="with --fix or --diff: apply the unsafe fixes too (they change what the "
        "model computes)",
    )
    check.add_argument(
        "--diff",
        action="store_true",
        help="print the fixes as a unified diff instead of writing them (exit 1 when there is one)",
    )
    check.add_argument(
        "--baseline",
        metavar="FILE",
        help="report only findings not recorded in FILE (see --write-baseline); "
        "overrides the config's baseline",
    )
    check.add_argument(
        "--write-baseline",
        metavar="FILE",
        help="record every current finding in FILE and exit 0: adopt nnlint now, "
        "fail later only on new findings",
    )
    check.set_defaults(func=cmd_check)

    report = commands.add_parser(
        "report",
        help="per-layer cost table and totals of one spec",
        description="Parameters, MACs, FLOPs and memory of every layer, and the totals.",
    )
    report.add_argument("path", metavar="PATH", help="one .nn file, or - for stdin")
    _add_config_options(report)
    report.add_argument("--target", metavar="T", help="hardware target id for the roofline")
    report.add_argument("--train-target", metavar="T", help="hardware target training runs on")
    report.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text table, or the JSON report's model entry",
    )
    report.add_argument("--no-color", action="store_true", help="no ANSI colors")
    report.add_argument(
        "--html",
        metavar="FILE",
        help="write a self-contained HTML page (roofline, memory, totals, layers) to FILE",
    )
    report.add_argument(
        "--plot",
        metavar="FILE",
        help="draw the roofline and the memory bars to FILE (.svg, .png or .pdf; needs "
        "the `plot` extra: matplotlib)",
    )
    report.set_defaults(func=cmd_report)

    plan = commands.add_parser(
        "plan",
        help="the spec on every target, ranked: fit, headroom, latency, energy, what fits",
        description="Every hardware target (built in, and those the config's `targets` "
        "adds), ranked: whether training and serving fit, the memory left, the estimated "
        "latency, throughput and energy per inference, and for each use that does not fit "
        "the computed changes that would make it fit. Exit 0, or 1 when the spec has errors "
        "(or, with --require-fit, when no target fits).",
    )
    plan.add_argument("path", metavar="PATH", help="one .nn file, or - for stdin")
    _add_config_options(plan)
    plan.add_argument(
        "--format", choices=("text", "json"), default="text", help="table, or JSON data"
    )
    plan.add_argument(
        "--require-fit",
        action="store_true",
        help="exit 1 unless at least one target fits every use of the spec (serving, and "
        "training when it has a train section)",
    )
    plan.add_argument("--no-color", action="store_true", help="no ANSI colors")
    plan.set_defaults(func=cmd_plan)

    fmt = commands.add_parser(
        "format",
        help="rewrite specs in the canonical layout",
        description="Format files, folders (every *.nn below them) or - (stdin to stdout) "
        "in the canonical layout; a file that is already formatted is not touched.",
    )
    fmt.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files, folders or - for stdin (default: the current folder)",
    )
    fmt.add_argument(
        "--check",
        action="store_true",
        help="write nothing; list the files that would change and exit 1 if any would",
    )
    fmt.add_argument(
        "--diff",
        action="store_true",
        help="write nothing; print a unified diff of the changes and exit 1 if any",
    )
    _add_config_options(fmt)
    fmt.add_argument("--stdin-filename", metavar="NAME", help="the name shown for - (stdin)")
    fmt.add_argument(
        "--force-exclude",
        action="store_true",
        help="apply the config's exclude to files named on the command line too",
    )
    fmt.set_defaults(func=cmd_format)

    lsp_server = commands.add_parser(
        "server",
        help="run the language server (LSP over stdio) for editors",
        description="A Language Server on stdin/stdout: diagnostics, hover, definitions, "
        "completion, quick fixes and formatting. Needs the lsp extra: "
        "pip install 'nnlint[lsp]'.",
    )
    lsp_server.add_argument(
        "--stdio", action="store_true", help="talk over stdin/stdout (the default and only way)"
    )
    lsp_server.set_defaults(func=cmd_server)

    rule = commands.add_parser(
        "rule", help="show a rule's documentation", description="Show one rule's doc page."
    )
    rule.add_argument("code", metavar="CODE", help="a code (NN501) or a rule name")
    rule.add_argument("--format", choices=("text", "json"), default="text")
    rule.set_defaults(func=cmd_rule)

    rules = commands.add_parser(
        "rules",
        help="list every rule",
        description="Every code with its name, family, severity and summary.",
    )
    rules.set_defaults(func=cmd_rules)

    targets = commands.add_parser(
        "targets",
        help="list the hardware targets, or show every figure of some",
        description="Every hardware profile, with the extra ones the config's `targets` adds; "
        "with IDs, every figure of those targets and the file each comes from.",
    )
    targets.add_argument(
        "ids", nargs="*", metavar="ID", help="a target to show in full (e.g. jetson-orin-nano)"
    )
    targets.add_argument("--format", choices=("text", "json"), default="text")
    _add_config_options(targets)
    targets.set_defaults(func=cmd_targets)

    imp = commands.add_parser(
        "import",
        help="write a spec from an ONNX model or a Hugging Face config.json",
        description="Write the .nn spec of an ONNX model (needs the onnx extra) or of a "
        "Hugging Face config.json (any .json file).",
    )
    imp.add_argument("model", metavar="MODEL", help="an .onnx file or a config.json")
    imp.add_argument("-o", "--output", metavar="FILE", help="the spec to write (- or none: stdout)")
    imp.add_argument(
        "--dim",
        action="append",
        default=[],
        metavar="NAME=N",
        help="size a symbolic input axis (a config.json: seq=N, the tokens per sample)",
    )
    imp.set_defaults(func=cmd_import)
    for command in (check, report, plan, rule, rules, targets, imp):
        _add_debug_option(command)
    return parser


def _add_debug_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--show-traceback",
        action="store_true",
        help=f"print the stack of an internal error (also: {SHOW_TRACEBACK_ENV}=1)",
    )


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="FILE", help="use this config file for every path (no discovery)"
    )
    parser.add_argument("--isolated", action="store_true", help="ignore every config file")


def entry() -> None:
    """The ``nnlint`` command and ``python -m nnlint``: :func:`main`, then exit
    without the interpreter's final garbage collection of everything a check built
    (``gc.freeze``): it frees nothing the exiting process needs and costs ~50 ms,
    a third of a cold check."""
    import gc

    code = main()
    gc.freeze()
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse printed
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        return args.func(args)
    except UsageError as exc:
        _error(str(exc))
    except BrokenPipeError:  # `nnlint check | head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
    except Exception as exc:  # ConfigError, and any bug: one line, never a bare traceback
        from nnlint.config import ConfigError

        if isinstance(exc, ConfigError):
            _error(str(exc))
        else:
            _report_internal(_internal(exc), _show_traceback(args))
    return EXIT_ERROR


# --------------------------------------------------------------------------- shared helpers


def _use_color(no_color: bool) -> bool:
    """``--no-color`` and ``NO_COLOR`` turn color off, ``FORCE_COLOR`` on; else a terminal."""
    if no_color or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR", "") not in ("", "0", "false"):
        return True
    return sys.stdout.isatty()


def _selectors(option: str, value: str | None) -> tuple[str, ...] | None:
    from nnlint.config import parse_selectors

    if value is None:
        return None
    try:
        return parse_selectors(value)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def _resolve_cli_target(
    name: str | None, configs: Sequence[ProjectConfig], option: str = "--target"
) -> str | None:
    """The canonical id of ``--target``, known to every config in use (else exit 2)."""
    from nnlint.targets import UnknownTarget, resolve_target

    if name is None:
        return None
    resolved = name
    for config in configs or [None]:
        try:
            resolved = resolve_target(name, config.targets if config else None).id
        except UnknownTarget as exc:
            raise UsageError(f"{option}: {exc.message}") from None
    return resolved


def _read_stdin() -> bytes:
    """Standard input, up to the spec size cap (``nnlint check - < /dev/zero`` ends)."""
    from nnlint.files import SPEC_LIMIT, read_limited

    return read_limited(sys.stdin.buffer, limit=SPEC_LIMIT, what="specs")


def _write_output(text: str, output_file: str | None) -> None:
    """Print ``text`` or write it to ``output_file``.

    A regular file (or a symlink to one) is replaced atomically: a temp file in the
    same folder, then a rename onto the file itself (through the symlink, which
    stays), keeping the old file's permission bits. A character device or a FIFO
    (``/dev/null``, ``/dev/stdout``, a pipe someone reads) is written to in place,
    never replaced by a plain file. A folder, a block device, a socket and a
    symlink to nothing are refused with a clear error.
    """
    if output_file is None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        return
    import stat

    from nnlint.files import file_kind

    try:
        info = os.stat(output_file)
    except FileNotFoundError:
        info = None
        if os.path.islink(output_file):
            raise UsageError(
                f"{output_file}: is a symlink to {os.readlink(output_file)}, which does not "
                "exist; --output-file writes through a symlink only to an existing file"
            ) from None
    except OSError as exc:
        raise UsageError(f"{output_file}: cannot write: {exc.strerror or exc}") from None
    if info is None or stat.S_ISREG(info.st_mode):
        _replace_file(text, output_file, info)
    elif stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{output_file}: is a folder; --output-file needs a file name")
    elif stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode):
        _write_in_place(text, output_file)
    else:
        raise UsageError(
            f"{output_file}: is {file_kind(info.st_mode)}; --output-file writes a regular "
            "file, a character device or a FIFO"
        )


def _replace_file(text: str, output_file: str, info: os.stat_result | None) -> None:
    """Write a temp file beside the (symlink-resolved) target, then rename it over."""
    import stat
    import tempfile

    target = Path(os.path.realpath(output_file) if os.path.islink(output_file) else output_file)
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise UsageError(f"{output_file}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text + "\n")
        if info is not None:  # keep the replaced file's permissions (0600 stays 0600)
            mode = stat.S_IMODE(info.st_mode)
        else:  # mkstemp makes 0600; a new report is an ordinary file
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(temp, mode)
        os.replace(temp, target)
    except OSError as exc:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise UsageError(f"{output_file}: cannot write: {exc.strerror or exc}") from None


def _write_in_place(text: str, output_file: str) -> None:
    """Write to a character device or FIFO without truncating or replacing it.

    The FIFO is opened non-blocking, so one that nobody reads is an error at once
    (``ENXIO``) instead of a hang; the writes themselves then block as usual.
    """
    flags = os.O_WRONLY | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(output_file, flags | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise UsageError(f"{output_file}: is a FIFO that nobody reads") from None
        raise UsageError(f"{output_file}: cannot write: {exc.strerror or exc}") from None
    try:
        os.set_blocking(fd, True)
        with os.fdopen(fd, "wb", closefd=False) as f:
            f.write((text + "\n").encode("utf-8"))
    except OSError as exc:
        raise UsageError(f"{output_file}: cannot write: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _refuse_input_as_output(output_file: str | None, inputs: Sequence[str | os.PathLike[str]]):
    """``-o a.nn`` on the input ``a.nn`` (also through a symlink or a hard link): exit 2
    before anything is checked, so an input is never overwritten."""
    if output_file is None:
        return
    try:
        out = os.stat(output_file)
    except OSError:
        return  # nothing there yet (or unreadable): it cannot be an input
    for path in inputs:
        try:
            info = os.stat(path)
        except OSError:
            continue
        if (info.st_dev, info.st_ino) == (out.st_dev, out.st_ino):
            raise UsageError(
                f"{output_file}: is the input {display_path(path)}; "
                "--output-file would overwrite it (choose another file)"
            )


# --------------------------------------------------------------------------- check: inputs


@attrs.frozen
class _Task:
    """One file to check; picklable, so a worker process can run it."""

    path: str  # absolute path of the file
    display: str  # the path shown in the output
    config_path: str | None  # the config that applies (None: defaults)
    overrides: Overrides


@attrs.frozen
class _Outcome:
    result: FileResult | None = None
    error: str | None = None  # one line, without the ``nnlint: error:`` prefix
    traceback: str | None = None  # the stack of an internal error (a bug)


def _collect(
    paths: Sequence[str], resolver: ConfigResolver, force_exclude: bool, errors: list[str]
) -> list[Path]:
    """The spec files named or found below the named folders, sorted, each file once."""
    found: dict[str, Path] = {}
    for raw in paths:
        path = Path(raw)
        try:
            path.stat()
        except FileNotFoundError:
            errors.append(f"{raw}: no such file or folder")
            continue
        except OSError as exc:
            errors.append(f"{raw}: {exc.strerror or exc}")
            continue
        folder = path.is_dir()
        if force_exclude and resolver.for_path(path, folder=folder).is_excluded(
            path, folder=folder
        ):
            continue
        files = _walk(path, resolver) if path.is_dir() else [path]
        for file in files:
            found.setdefault(os.path.abspath(file), file)
    unique: dict[object, Path] = {}
    for file in sorted(found.values(), key=display_path):
        unique.setdefault(_identity(file), file)
    return list(unique.values())


def _identity(path: Path) -> object:
    """What makes two paths one file: device and inode, so a file reached by two
    symlink routes (or hard links) is checked once, under the first path in order."""
    try:
        info = os.stat(path)
    except OSError:
        return os.path.abspath(path)
    return (info.st_dev, info.st_ino)


def _walk(top: Path, resolver: ConfigResolver) -> list[Path]:
    """Every ``*.nn`` below ``top``, skipping what the applicable config excludes."""

    def skipped(folder: str) -> bool:
        return os.path.basename(folder) in SKIPPED_FOLDERS or resolver.for_path(
            folder, folder=True
        ).is_excluded(folder, ancestors=False, folder=True)

    files = []
    for folder, subfolders, names in os.walk(top):
        config = resolver.for_path(folder, folder=True)
        subfolders[:] = sorted(d for d in subfolders if not skipped(os.path.join(folder, d)))
        for name in sorted(names):
            file = os.path.join(folder, name)
            if name.endswith(SPEC_SUFFIX) and not config.is_excluded(file, ancestors=False):
                files.append(Path(file))
    return files


# --------------------------------------------------------------------------- check: running


def _run_task(task: _Task, load: Callable[[Path], ProjectConfig]) -> _Outcome:
    """Check one file; every failure becomes a one-line error (nothing is raised)."""
    from nnlint.check import check_file
    from nnlint.config import ConfigError, ProjectConfig, settings_for
    from nnlint.files import Refused

    try:
        config = load(Path(task.config_path)) if task.config_path else ProjectConfig()
        settings = settings_for(config, task.path, task.overrides)
        return _Outcome(result=check_file(Path(task.path), task.display, settings))
    except Refused as exc:
        return _Outcome(error=f"{task.display}: {exc}")
    except IsADirectoryError:
        return _Outcome(error=f"{task.display}: is a folder, not a file")
    except OSError as exc:
        return _Outcome(error=f"{task.display}: cannot read: {exc.strerror or exc}")
    except ConfigError as exc:
        return _Outcome(error=str(exc))
    except Exception as exc:  # a bug (check_file wraps its own as an InternalError)
        return _internal(exc, task.display)


_worker_configs: dict[Path, ProjectConfig] = {}


def _worker(task: _Task) -> _Outcome:
    """The process-pool entry point: configs are loaded once per worker."""
    from nnlint.config import load_config

    def load(path: Path) -> ProjectConfig:
        if path not in _worker_configs:
            _worker_configs[path] = load_config(path)
        return _worker_configs[path]

    return _run_task(task, load)


def _run_tasks(tasks: list[_Task], resolver: ConfigResolver) -> list[_Outcome]:
    """Check every task, in a process pool above :data:`PARALLEL_THRESHOLD` files.

    ``Executor.map`` keeps the input order, so the output is the same either way.
    """
    workers = min(os.cpu_count() or 1, len(tasks))
    if len(tasks) <= PARALLEL_THRESHOLD or workers < 2:
        return [_run_task(task, resolver.load) for task in tasks]
    from concurrent.futures import ProcessPoolExecutor

    # Import the checker and load the parser once, here: forked workers inherit them
    # instead of paying the imports and the parser load each (~0.2 s of CPU apiece).
    from nnlint.parse import warm_up

    warm_up()
    chunksize = max(1, len(tasks) // (workers * 4))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_worker, tasks, chunksize=chunksize))


def _check_stdin(stdin: _Stdin, overrides: Overrides) -> _Outcome:
    from nnlint.check import check_text, decode
    from nnlint.config import ConfigError, settings_for
    from nnlint.diagnostics import FileResult
    from nnlint.files import Refused

    try:
        data = _read_stdin()
    except OSError as exc:
        return _Outcome(error=f"-: cannot read stdin: {exc.strerror or exc}")
    except Refused as exc:
        return _Outcome(error=f"{stdin.display}: stdin {exc}")
    text, problem = decode(data)
    if problem is not None:
        return _Outcome(result=FileResult(stdin.display, None, (problem.with_path(stdin.display),)))
    try:
        settings = settings_for(stdin.config, stdin.display, overrides)
        return _Outcome(result=check_text(text, stdin.display, settings))
    except ConfigError as exc:
        return _Outcome(error=str(exc))
    except Exception as exc:  # a bug (check_text wraps its own as an InternalError)
        return _internal(exc, stdin.display)


@attrs.frozen
class _Stdin:
    display: str  # --stdin-filename as shown, or "-"
    config: ProjectConfig  # looked up from --stdin-filename, else from the working folder


def _stdin_input(args: argparse.Namespace, resolver: ConfigResolver) -> _Stdin | None:
    """What ``-`` stands for, or None when ``--force-exclude`` excludes its name."""
    name = args.stdin_filename
    config = resolver.for_path(name or os.path.join(os.getcwd(), "-"))
    if args.force_exclude and name and config.is_excluded(name):
        return None
    return _Stdin(display_path(name) if name else "-", config)


def cmd_check(args: argparse.Namespace) -> int:
    from nnlint.config import ConfigError, ConfigResolver, Overrides

    overrides = Overrides(
        select=_selectors("--select", args.select),
        extend_select=_selectors("--extend-select", args.extend_select) or (),
        ignore=_selectors("--ignore", args.ignore) or (),
        fail_on=args.fail_on,
    )
    paths = args.paths or (["-"] if args.stdin_filename else ["."])
    if args.fix and not args.diff and "-" in paths:
        raise UsageError("--fix cannot write back to stdin; use --diff to see the fixes")
    if args.unsafe_fixes and not (args.fix or args.diff):
        raise UsageError("--unsafe-fixes needs --fix or --diff")
    if args.write_baseline and (args.fix or args.diff or args.baseline):
        raise UsageError("--write-baseline records the findings as they are; run it alone")
    errors: list[str] = []
    try:
        resolver = ConfigResolver(isolated=args.isolated, config_file=args.config)
        stdin = _stdin_input(args, resolver) if "-" in paths else None
        files = _collect([p for p in paths if p != "-"], resolver, args.force_exclude, errors)
        in_use = [resolver.for_path(f) for f in files] + ([stdin.config] if stdin else [])
    except ConfigError as exc:
        _config_error_document(args, paths, overrides, exc)
        raise
    configs = list({id(c): c for c in in_use}.values())  # each config once
    overrides = attrs.evolve(
        overrides,
        target=_resolve_cli_target(args.target, configs),
        train_target=_resolve_cli_target(args.train_target, configs, "--train-target"),
    )
    config_files = [c.path for c in configs if c.path is not None]
    _refuse_input_as_output(args.output_file, [*files, *config_files])
    tasks = [
        _Task(
            os.path.abspath(f),
            display_path(f),
            str(p) if (p := resolver.config_path_for(f)) else None,
            overrides,
        )
        for f in files
    ]
    fail_levels = {task.display: resolver.for_path(task.path).fail_on for task in tasks}
    outcomes = _run_tasks(tasks, resolver)
    if stdin is not None:
        outcomes.append(_check_stdin(stdin, overrides))
        fail_levels[stdin.display] = stdin.config.fail_on

    show_traceback = _show_traceback(args)
    results = [o.result for o in outcomes if o.result is not None]
    errors += [_error_line(o, show_traceback) for o in outcomes if o.error is not None]
    if not results and not errors:
        _warning("no .nn files found under the given paths")
    if show_traceback:
        for outcome in outcomes:
            if outcome.traceback:
                sys.stderr.write(outcome.traceback)
    if args.write_baseline:
        return _write_baseline(args.write_baseline, results, errors)
    fixing = None
    if args.fix or args.diff:
        settings = {t.display: (t.path, t.config_path) for t in tasks}
        fixing = _fix_results(args, results, settings, overrides, resolver, stdin, errors)
        if args.diff:
            return _print_diff(fixing, errors)
        results = fixing.results
    baselines = {task.display: resolver.for_path(task.path).baseline for task in tasks}
    if stdin is not None:
        baselines[stdin.display] = stdin.config.baseline
    results, baseline_reports = _apply_baselines(args.baseline, results, baselines)
    text = _render_check(
        args,
        results,
        overrides,
        configs,
        errors,
        {**_baseline_json(baseline_reports), **_fixes_json(results, fixing)},
    )
    text = _with_baseline_lines(text, args.format, baseline_reports)
    text = _with_fix_lines(text, args.format, results, fixing, unsafe=args.unsafe_fixes)
    for message in errors:
        _error(message)
    _write_output(text, args.output_file)
    if args.format == "github":
        _github_step_summary(results)

    if errors:
        return EXIT_ERROR
    fail_on = {path: overrides.fail_on or level or "error" for path, level in fail_levels.items()}
    return _findings_exit_code(results, fail_on, exit_zero=args.exit_zero)


@attrs.frozen
class _Fixing:
    results: list  # FileResult per file: re-checked after its fixes
    fixed: int  # fixes applied (or, with --diff, that would be)
    diffs: list  # unified diffs, one string per changed file


def _fix_results(args, results, file_settings, overrides, resolver, stdin, errors) -> _Fixing:
    """``--fix`` / ``--diff``: fix each file with a fixable finding, re-check it, and
    write it back (``--fix``) or collect its diff (``--diff``).

    A file is written only when it is a regular file (a symlink is followed to one),
    still holds the text that was checked, and parses after the fixes; it is replaced
    atomically and keeps its permission bits. Anything else is an error for that file.
    """
    import stat

    from nnlint.atomic import write_atomic
    from nnlint.config import settings_for
    from nnlint.fixes import FixError, fix_text
    from nnlint.format import unified_diff

    def wanted(d) -> bool:
        return d.autofix is not None and (args.unsafe_fixes or d.autofix.applicability == "safe")

    out, diffs, fixed = [], [], 0
    for result in results:
        if result.source is None or not any(wanted(d) for d in result.diagnostics):
            out.append(result)
            continue
        if result.path in file_settings:
            path, config_path = file_settings[result.path]
            config = resolver.load(Path(config_path)) if config_path else resolver.for_path(path)
        else:  # stdin (only with --diff)
            path, config = None, stdin.config
        settings = settings_for(config, path or result.path, overrides)
        try:
            outcome = fix_text(result.source, result.path, settings, unsafe=args.unsafe_fixes)
        except FixError as exc:
            errors.append(str(exc))
            out.append(result)
            continue
        if outcome.text == result.source:
            out.append(result)
            continue
        if args.diff:
            diffs.append(
                unified_diff(result.source, outcome.text, f"a/{result.path}", f"b/{result.path}")
            )
            fixed += outcome.fixed
            out.append(result)
            continue
        real = os.path.realpath(path)
        try:
            info = os.stat(real)
            if not stat.S_ISREG(info.st_mode):
                errors.append(f"{result.path}: not a regular file; not fixed")
                out.append(result)
                continue
            data = Path(real).read_bytes()
            bom = data.startswith(b"\xef\xbb\xbf")
            if data.decode("utf-8-sig", "replace") != result.source:
                errors.append(f"{result.path}: changed while it was checked; not fixed")
                out.append(result)
                continue
            payload = (b"\xef\xbb\xbf" if bom else b"") + outcome.text.encode("utf-8")
            write_atomic(real, payload, mode=info.st_mode)
        except OSError as exc:
            errors.append(f"{result.path}: cannot write the fixes: {exc.strerror or exc}")
            out.append(result)
            continue
        fixed += outcome.fixed
        out.append(outcome.result)
    return _Fixing(out, fixed, diffs)


def _print_diff(fixing: _Fixing, errors: list[str]) -> int:
    """``--diff``: the diffs on stdout, the count on stderr; exit 1 when there is a diff."""
    for message in errors:
        _error(message)
    if fixing.diffs:
        sys.stdout.write("".join(d if d.endswith("\n") else d + "\n" for d in fixing.diffs))
        sys.stdout.flush()
    count = fixing.fixed
    print(
        f"Would fix {count} finding{'s' if count != 1 else ''}."
        if count
        else "No fixes available.",
        file=sys.stderr,
    )
    if errors:
        return EXIT_ERROR
    return EXIT_FINDINGS if fixing.diffs else EXIT_OK


def _fixable_counts(results: list[FileResult]) -> tuple[int, int]:
    """Findings with a safe fix, and with an unsafe one."""
    safe = unsafe = 0
    for r in results:
        for d in r.diagnostics:
            if d.autofix is not None:
                if d.autofix.applicability == "safe":
                    safe += 1
                else:
                    unsafe += 1
    return safe, unsafe


def _fixes_json(results: list[FileResult], fixing: _Fixing | None) -> dict[str, Any]:
    """The JSON report's ``fixes`` object, on every run: ``fixed`` (0 without ``--fix``)
    and ``fixable``, the safe and unsafe counts of the findings that remain."""
    safe, unsafe_left = _fixable_counts(results)
    return {
        "fixes": {
            "fixed": fixing.fixed if fixing is not None else 0,
            "fixable": {"safe": safe, "unsafe": unsafe_left},
        }
    }


def _with_fix_lines(
    text: str, fmt: str, results: list[FileResult], fixing: _Fixing | None, *, unsafe: bool
) -> str:
    """What ``--fix`` did: ``Fixed 2 findings; 1 remains.`` and what more it could do
    (text, concise and github, after the summary)."""
    safe, unsafe_left = _fixable_counts(results)
    remaining = sum(len(r.diagnostics) for r in results)
    if fmt not in ("text", "concise", "github"):
        return text
    lines = []
    if fixing is not None:
        lines.append(
            f"Fixed {fixing.fixed} finding{'s' if fixing.fixed != 1 else ''}; "
            f"{remaining} remain{'s' if remaining == 1 else ''}."
        )
        hints = []
        if safe:
            hints.append(f"{safe} fixable with --fix")
        if unsafe_left and not unsafe:
            hints.append(f"{unsafe_left} with --fix --unsafe-fixes")
        if hints:
            lines.append(f"[*] {' and '.join(hints)} (see --diff).")
    return "\n".join([text, *lines])


def _write_baseline(path: str, results: list[FileResult], errors: list[str]) -> int:
    """``--write-baseline``: record every finding; nothing is written when a file failed."""
    from nnlint.baseline import BaselineError, write_baseline
    from nnlint.sanitize import visible

    for message in errors:
        _error(message)
    if errors:
        _error(f"{path}: baseline not written: some files could not be checked")
        return EXIT_ERROR
    try:
        count = write_baseline(path, results)
    except BaselineError as exc:
        raise UsageError(str(exc)) from None
    files = len({r.path for r in results if r.diagnostics})
    print(
        f"nnlint: wrote {count} finding{'s' if count != 1 else ''} in {files} "
        f"file{'s' if files != 1 else ''} to the baseline {visible(str(path))}",
        file=sys.stderr,
    )
    return EXIT_OK


@attrs.frozen
class _BaselineReport:
    path: str  # as the user named it (or the config's, relative to the working folder)
    suppressed: int
    stale: tuple  # nnlint.baseline.Key, one per stale entry


def _apply_baselines(
    chosen: str | None, results: list[FileResult], configured: dict[str, Path | None]
) -> tuple[list[FileResult], list[_BaselineReport]]:
    """Drop baselined findings: ``--baseline`` for every file, else each file's
    configured ``baseline``. Stale entries are noted on stderr."""
    which = {r.path: (Path(chosen) if chosen else configured.get(r.path)) for r in results}
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(results):
        if which[r.path] is not None:
            groups.setdefault(os.path.abspath(which[r.path]), []).append(i)
    if not groups:  # no baseline: nnlint.baseline is not even loaded
        return list(results), []
    from nnlint.baseline import BaselineError, load_baseline

    reports = []
    kept = list(results)
    for path, indexes in groups.items():
        try:
            baseline = load_baseline(path)
        except BaselineError as exc:
            raise UsageError(str(exc)) from None
        outcome = baseline.apply([results[i] for i in indexes])
        for i, result in zip(indexes, outcome.results):
            kept[i] = result
        shown = chosen if chosen else display_path(path)
        reports.append(_BaselineReport(shown, outcome.suppressed, tuple(outcome.stale)))
        for key in outcome.stale:
            _note(f"{shown}: stale baseline entry, the finding is gone: {key.describe()}")
    return kept, reports


def _baseline_line(report: _BaselineReport) -> str:
    stale = len(report.stale)
    line = (
        f"Baseline {report.path}: {report.suppressed} "
        f"finding{'s' if report.suppressed != 1 else ''} recorded there not shown"
    )
    if stale:
        line += (
            f"; {stale} stale entr{'ies' if stale != 1 else 'y'} (fixed findings: "
            f"update it with --write-baseline)"
        )
    return line + "."


def _baseline_json(reports: list[_BaselineReport]) -> dict[str, Any]:
    """The baseline's effect for the JSON report: a ``baseline`` list (path, suppressed,
    stale entries), or nothing when no baseline applied."""
    if not reports:
        return {}
    return {
        "baseline": [
            {
                "path": r.path,
                "suppressed": r.suppressed,
                "stale": [key.as_json() for key in r.stale],
            }
            for r in reports
        ]
    }


def _with_baseline_lines(text: str, fmt: str, reports: list[_BaselineReport]) -> str:
    """The baseline's effect as a summary line under text, concise and github output."""
    if reports and fmt in ("text", "concise", "github"):
        return "\n".join([text, *(_baseline_line(r) for r in reports)])
    return text


def _github_step_summary(results: list[FileResult]) -> None:
    """``--format github``: the findings beyond GitHub's annotation limit go to the job
    summary (appended to ``$GITHUB_STEP_SUMMARY`` when set; a regular file only)."""
    from nnlint.github import append_step_summary, step_summary, unannotated

    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    text = step_summary(unannotated(results))
    if not text:
        return
    try:
        append_step_summary(path, text)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        _warning(f"$GITHUB_STEP_SUMMARY {path}: not written: {reason}")


def _findings_exit_code(
    results: list[FileResult], fail_on: dict[str, str], *, exit_zero: bool
) -> int:
    """1 when a finding is at or above its file's fail level (unless ``--exit-zero``)."""
    from nnlint.diagnostics import Severity

    failing = any(
        d.severity >= Severity.parse(fail_on[r.path]) for r in results for d in r.diagnostics
    )
    return EXIT_FINDINGS if failing and not exit_zero else EXIT_OK


def _config_error_document(
    args: argparse.Namespace, paths: Sequence[str], overrides: Overrides, exc: Exception
) -> None:
    """With ``--format json|sarif``, a config error still gives a valid document that
    carries it (a CI step uploading the SARIF log sees the failure). The caller then
    prints the error and exits 2. The files were not collected, so the output file
    is checked against every path that could hold an input."""
    if args.format not in ("json", "sarif"):
        return
    inputs = [p for p in paths if p != "-"] + [p for p in (args.config, exc.path) if p]
    _refuse_input_as_output(args.output_file, inputs)
    if args.output_file is not None and args.output_file.endswith(SPEC_SUFFIX):
        raise UsageError(f"{args.output_file}: --output-file would replace a spec")
    _write_output(_render_check(args, [], overrides, [], [str(exc)], {}), args.output_file)


def _render_check(
    args: argparse.Namespace,
    results: list[FileResult],
    overrides: Overrides,
    configs,
    errors: Sequence[str],
    extra: dict[str, Any],
) -> str:
    """The check's output; ``extra`` keys are added to the JSON report."""
    from nnlint.emit import render
    from nnlint.rules import all_meta

    configured = {c.target for c in configs}
    target = overrides.target or (configured.pop() if len(configured) == 1 else None)
    color = args.output_file is None and _use_color(args.no_color)
    return render(
        args.format,
        results,
        all_meta(),
        color=color,
        statistics=args.statistics,
        target=target,
        errors=errors,
        exit_code=EXIT_ERROR if errors else None,
        extra=extra,
    )


# --------------------------------------------------------------------------- report


def _one_spec(args: argparse.Namespace, command: str):
    """The one spec ``report`` and ``plan`` read: its name as shown, its bytes and the
    settings of its configuration (``--target``/``--train-target`` where the command has
    them). A folder, a missing or unreadable file is a usage error (exit 2)."""
    from nnlint.config import ConfigResolver, Overrides, settings_for
    from nnlint.files import SPEC_LIMIT, Refused, read_regular

    resolver = ConfigResolver(isolated=args.isolated, config_file=args.config)
    if args.path == "-":
        display, config_from = "-", os.path.join(os.getcwd(), "-")
        try:
            data = _read_stdin()
        except Refused as exc:
            raise UsageError(f"-: stdin {exc}") from None
    else:
        path = Path(args.path)
        if path.is_dir():
            raise UsageError(f"{args.path}: is a folder; `nnlint {command}` takes one .nn file")
        try:
            data = read_regular(path, limit=SPEC_LIMIT, what="specs")
        except FileNotFoundError:
            raise UsageError(f"{args.path}: no such file") from None
        except OSError as exc:
            raise UsageError(f"{args.path}: cannot read: {exc.strerror or exc}") from None
        except Refused as exc:
            raise UsageError(f"{args.path}: {exc}") from None
        display, config_from = display_path(path), args.path
    config = resolver.for_path(config_from)
    overrides = Overrides(
        target=_resolve_cli_target(getattr(args, "target", None), [config]),
        train_target=_resolve_cli_target(
            getattr(args, "train_target", None), [config], "--train-target"
        ),
    )
    return display, data, settings_for(config, config_from, overrides)


def _analysed_spec(args: argparse.Namespace, command: str, error_format: str = "text"):
    """The one spec of ``report`` or ``plan``, analysed: ``(display, analysis, settings,
    errors)``; ``analysis`` is None when the spec has errors, and ``errors`` is then the
    text ``check`` prints for them (in ``error_format``). Raises
    :class:`~nnlint.check.InternalError` on a bug."""
    from nnlint.check import analyse_text, decode, internal_errors
    from nnlint.diagnostics import FileResult, Severity
    from nnlint.emit import render
    from nnlint.rules import all_meta

    display, data, settings = _one_spec(args, command)
    text, problem = decode(data)
    with internal_errors(display):
        if problem is not None:
            analysis, diagnostics = None, [problem]
        else:
            analysis, diagnostics = analyse_text(text, settings)
        diagnostics = sorted(
            (d.with_path(display) for d in diagnostics), key=lambda d: d.sort_key()
        )
        if analysis is None or any(d.severity == Severity.ERROR for d in diagnostics):
            result = FileResult(display, text, tuple(diagnostics))
            color = _use_color(args.no_color)
            errors = render(error_format, [result], all_meta(), color=color)
            return display, None, settings, errors
    return display, analysis, settings, ""


def cmd_report(args: argparse.Namespace) -> int:
    from nnlint.check import InternalError, internal_errors, model_entry
    from nnlint.emit import render_model
    from nnlint.tables import report_text

    try:
        display, analysis, _, errors = _analysed_spec(args, "report")
        if analysis is None:
            _write_output(errors, None)
            return EXIT_FINDINGS
        if args.html or args.plot:  # files; their errors are usage errors
            return _write_pictures(args, analysis, display)
        with internal_errors(display):
            if args.format == "json":
                shown = render_model(model_entry(analysis, display))
            else:
                shown = report_text(analysis, display)
    except InternalError as exc:
        _report_internal(_internal(exc), _show_traceback(args))
        return EXIT_ERROR
    _write_output(shown, None)
    return EXIT_OK


def _write_pictures(args: argparse.Namespace, analysis, display: str) -> int:
    """``report --html`` / ``--plot``: write the files (atomically); nothing on stdout."""
    from nnlint.atomic import write_atomic
    from nnlint.pictures import figures
    from nnlint.sanitize import visible

    outputs: list[tuple[str, bytes]] = []
    fig = figures(analysis, display)
    if args.plot:
        from nnlint.plots import PLOT_SUFFIXES, PlotUnavailable, render_plot

        suffix = Path(args.plot).suffix.lower().lstrip(".")
        if suffix not in PLOT_SUFFIXES:
            got = repr(suffix) if suffix else "no suffix"
            raise UsageError(f"--plot {args.plot}: name a .svg, .png or .pdf file (got {got})")
        try:
            outputs.append((args.plot, render_plot(fig, suffix)))
        except PlotUnavailable as exc:
            raise UsageError(str(exc)) from None
    if args.html:
        from nnlint.report_html import render_html

        outputs.append((args.html, render_html(fig).encode("utf-8")))
    for path, data in outputs:
        if Path(path).is_dir():
            raise UsageError(f"{path}: is a folder; name a file")
        try:
            write_atomic(path, data)
        except OSError as exc:
            raise UsageError(f"{path}: cannot write: {exc.strerror or exc}") from None
        print(f"nnlint: wrote {visible(str(path))}", file=sys.stderr)
    return EXIT_OK


# --------------------------------------------------------------------------- plan


def cmd_plan(args: argparse.Namespace) -> int:
    """``nnlint plan``: the spec on every target, ranked. Exit 0; 1 when the spec has
    errors (printed as ``check`` prints them) or, with ``--require-fit``, when no target
    fits every use the spec has."""
    import json

    from nnlint.check import InternalError, internal_errors, known_targets
    from nnlint.tables import plan_text
    from nnlint.target_ranking import fits_everywhere_used, plan_json, plan_targets

    fmt = "json" if args.format == "json" else "text"
    try:
        display, analysis, settings, errors = _analysed_spec(args, "plan", fmt)
        if analysis is None:
            _write_output(errors, None)
            return EXIT_FINDINGS
        with internal_errors(display):
            report = analysis.report
            plans = plan_targets(report, known_targets(settings).values())
            if fmt == "json":
                shown = json.dumps(plan_json(display, report, plans), indent=2)
            else:
                shown = plan_text(display, report, plans)
    except InternalError as exc:
        _report_internal(_internal(exc), _show_traceback(args))
        return EXIT_ERROR
    _write_output(shown, None)
    fits = any(fits_everywhere_used(p) for p in plans)
    return EXIT_FINDINGS if args.require_fit and not fits else EXIT_OK


# --------------------------------------------------------------------------- format


def cmd_format(args: argparse.Namespace) -> int:
    from nnlint.format import run

    return run(args)


# --------------------------------------------------------------------------- server


def cmd_server(args: argparse.Namespace) -> int:
    try:
        from nnlint.server import serve
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in ("pygls", "lsprotocol"):
            raise
        raise UsageError("`nnlint server` needs the lsp extra: pip install 'nnlint[lsp]'") from None
    return serve()


# --------------------------------------------------------------------------- rule, rules, targets


def cmd_rule(args: argparse.Namespace) -> int:
    import json

    from nnlint.rules import REGISTRY, all_meta, lookup
    from nnlint.rules.base import default_thresholds
    from nnlint.suggest import suggest
    from nnlint.tables import rule_page

    meta = lookup(args.code)
    if meta is None:
        metas = all_meta()
        candidates = [*metas, *(m.name for m in metas.values())]
        close = suggest(args.code.strip(), candidates) or suggest(args.code.strip().upper(), metas)
        hint = f"; did you mean {close!r}?" if close else ""
        raise UsageError(f"unknown rule {args.code!r}{hint} (`nnlint rules` lists them)")
    rule = REGISTRY.get(meta.code)
    defaults = default_thresholds().get(meta.code, {})
    options = {name: defaults.get(name) for name in (rule.options if rule else ())}
    if args.format == "json":
        page = {
            "code": meta.code,
            "name": meta.name,
            "family": meta.family,
            "severity": str(meta.severity),
            "summary": meta.summary,
            "options": options,
            "doc": meta.doc,
        }
        _write_output(json.dumps(page, indent=2), None)
    else:
        _write_output(rule_page(meta, options), None)
    return EXIT_OK


def cmd_rules(args: argparse.Namespace) -> int:
    from nnlint.rules import all_meta
    from nnlint.tables import rules_text

    _write_output(rules_text(all_meta()), None)
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    """``nnlint import``: the work is in :mod:`nnlint.importers`; errors exit 2."""
    from nnlint.importers import ImportFailed, run_import

    try:
        text = run_import(args.model, args.output, args.dim)
    except ImportFailed as exc:
        for line in exc.lines:
            _error(line)
        return EXIT_ERROR
    _write_output(text.rstrip("\n"), None if args.output in (None, "-") else args.output)
    return EXIT_OK


def cmd_targets(args: argparse.Namespace) -> int:
    """``nnlint targets [ID ...]``: the table, or each named target's card; ``--format json``
    gives docs/targets.schema.json's document for either. An unknown id exits 2."""
    import json

    from nnlint.config import ConfigResolver
    from nnlint.tables import target_card, targets_text
    from nnlint.targets import UnknownTarget, builtin_targets, resolve_target

    config = ConfigResolver(isolated=args.isolated, config_file=args.config).for_path(
        os.getcwd(), folder=True
    )
    known = {**builtin_targets(), **config.targets}
    chosen = []
    for name in args.ids:
        try:
            target = resolve_target(name, config.targets)
        except UnknownTarget as exc:
            raise UsageError(exc.message) from None
        if target not in chosen:
            chosen.append(target)
    if args.format == "json":
        shown = chosen or sorted(known.values(), key=lambda t: t.id)
        document = {"targets": [t.as_dict(display_path(t.source)) for t in shown]}
        _write_output(json.dumps(document, indent=2, allow_nan=False), None)
    elif chosen:
        _write_output("\n\n".join(target_card(t, display_path(t.source)) for t in chosen), None)
    else:
        _write_output(targets_text(known), None)
    return EXIT_OK
