"""Robustness at the edges: bad paths, no writes, no code or file access from a spec.

* A folder or an unreadable file where a spec is expected: exit 2 and one clear
  ``nnlint: error:`` line, never a traceback.
* nnlint writes nothing but its output: a tree of specs is byte-for-byte and
  mtime-for-mtime the same after a check in every format, and an audit hook sees
  no write outside the parser cache.
* A spec is data: text that looks like Python, an include or a path is a syntax
  error, and checking it opens no file but nnlint's own grammar and rule data.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import deny_read
from helpers import run_cli as _run

from nnlint.check import check_text
from nnlint.parse import cache_dir
from nnlint.resources import data_dir
from nnlint.rules import FATAL

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").rglob("*.nn"))
FORMATS = ("text", "concise", "json", "sarif", "github")

cli = pytest.importorskip("nnlint.cli", reason="the CLI is not there yet")

GOOD = "model m {\n    input x: [4]\n    h = x -> dense(2)\n}\n"


def _one_error_line(err: str, *needles: str) -> str:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("nnlint: error:")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# ------------------------------------------------------------------- folders, unreadable


def test_a_folder_given_as_the_spec_of_report(tmp_path, capsys):
    folder = tmp_path / "model.nn"
    folder.mkdir()
    code, _out, err = _run(capsys, "report", str(folder))
    assert code == 2
    _one_error_line(err, "model.nn", "folder")


def test_a_folder_with_a_subfolder_named_like_a_spec(tmp_path, capsys):
    (tmp_path / "sub.nn").mkdir()
    (tmp_path / "sub.nn" / "inner.nn").write_text(GOOD)
    code, out, err = _run(capsys, "check", str(tmp_path), "--format", "json")
    assert "Traceback" not in err
    assert code in (0, 1)
    assert json.loads(out)["summary"]["files"] == 1  # the folder is walked, not read


def test_a_dangling_symlink_is_one_error_line(tmp_path, capsys):
    if not hasattr(os, "symlink"):
        pytest.skip("no symlinks")
    link = tmp_path / "gone.nn"
    link.symlink_to(tmp_path / "nowhere.nn")
    code, _out, err = _run(capsys, "check", str(link))
    assert code == 2
    _one_error_line(err, "gone.nn")


def test_an_unreadable_file_is_one_error_line(tmp_path, capsys, monkeypatch):
    spec = tmp_path / "secret.nn"
    spec.write_text(GOOD)
    deny_read(monkeypatch, "secret.nn")
    code, _out, err = _run(capsys, "check", str(spec))
    assert code == 2
    _one_error_line(err, "secret.nn", "Permission denied")


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads a file whatever its mode"
)
def test_a_file_without_read_permission(tmp_path, capsys):
    spec = tmp_path / "locked.nn"
    spec.write_text(GOOD)
    spec.chmod(0)
    try:
        code, _out, err = _run(capsys, "check", str(spec))
    finally:
        spec.chmod(0o644)
    assert code == 2
    _one_error_line(err, "locked.nn")


def test_an_unreadable_file_among_good_ones_in_a_folder(tmp_path, capsys):
    if not hasattr(os, "symlink"):
        pytest.skip("no symlinks")
    (tmp_path / "good.nn").write_text(GOOD)
    (tmp_path / "gone.nn").symlink_to(tmp_path / "nowhere.nn")
    code, out, err = _run(capsys, "check", str(tmp_path), "--format", "json")
    assert code == 2
    _one_error_line(err, "gone.nn")
    assert json.loads(out)["summary"]["files"] >= 1  # the good file is still reported


# ------------------------------------------------------------------------- no writes


def _snapshot(root: Path) -> dict[str, tuple]:
    state = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        state[str(path.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    return state


@pytest.fixture
def spec_tree(tmp_path):
    tree = tmp_path / "specs"
    for path in EXAMPLES:
        target = tree / path.relative_to(ROOT / "examples")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    (tree / "broken.nn").write_text("model m {\n    input x: [4\n")
    (tree / "binary.nn").write_bytes(b"\x00\xff\xfe binary")
    (tree / "notes.txt").write_text("not a spec")
    # Past the CLI's process-pool threshold, so the workers are covered too.
    many = tree / "many"
    many.mkdir()
    for i in range(getattr(cli, "PARALLEL_THRESHOLD", 32) + 4):
        (many / f"m{i}.nn").write_text(GOOD.replace("dense(2)", f"dense({i + 1})"))
    return tree


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_check_changes_nothing_in_the_tree(spec_tree, capsys, fmt, monkeypatch):
    monkeypatch.chdir(spec_tree)
    before = _snapshot(spec_tree)
    code, out, err = _run(capsys, "check", ".", "--format", fmt)
    assert code in (0, 1, 2) and "Traceback" not in err
    assert out
    assert _snapshot(spec_tree) == before


def test_report_and_stdin_change_nothing(spec_tree, capsys, monkeypatch):
    monkeypatch.chdir(spec_tree)
    before = _snapshot(spec_tree)
    for path in sorted(spec_tree.glob("*.nn"))[:4]:
        _code, _out, err = _run(capsys, "report", str(path.name))
        assert "Traceback" not in err
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(GOOD.encode())))
    _code, _out, err = _run(capsys, "check", "-")
    assert "Traceback" not in err
    assert _snapshot(spec_tree) == before


_AUDIT = textwrap.dedent("""
    import json, os, sys
    writes = []
    WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            if isinstance(path, int) or path is None:
                return
            if (mode and any(c in mode for c in "wax+")) or (flags or 0) & WRITE_FLAGS:
                writes.append([event, os.fspath(path)])
        elif event in ("os.rename", "os.remove", "os.rmdir", "os.mkdir", "os.chmod",
                       "os.utime", "os.truncate", "os.link", "os.symlink",
                       "shutil.copyfile", "shutil.rmtree", "shutil.move"):
            writes.append([event, os.fspath(args[0]) if args and not isinstance(args[0], int)
                           else repr(args)])

    sys.addaudithook(hook)
    from nnlint.cli import main
    codes = []
    for argv in json.loads(sys.argv[1]):
        try:
            codes.append(main(argv))
        except SystemExit as exc:
            codes.append(exc.code)
    print("AUDIT " + json.dumps({"writes": writes, "codes": codes}), file=sys.stderr)
""")


def test_an_audit_hook_sees_no_write_outside_the_parser_cache(spec_tree, tmp_path):
    """Every ``open`` for writing, rename, remove, mkdir… of a whole CLI session (all
    formats, the process pool, report) lands in the parser cache folder or nowhere."""
    cache = tmp_path / "cache"
    runs = [["check", ".", "--format", fmt] for fmt in FORMATS]
    runs += [["report", "mnist_mlp.nn"], ["rules"], ["targets"], ["rule", "NN001"]]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NNLINT_")}
    env.update(NNLINT_CACHE_DIR=str(cache), PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(
        [sys.executable, "-c", _AUDIT, json.dumps(runs)],
        cwd=spec_tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    line = next((ln for ln in proc.stderr.splitlines() if ln.startswith("AUDIT ")), None)
    assert line is not None, proc.stderr[-3000:]
    audit = json.loads(line[len("AUDIT ") :])
    assert all(code in (0, 1, 2) for code in audit["codes"]), audit["codes"]
    outside = [
        w
        for w in audit["writes"]
        if not os.path.abspath(w[1]).startswith(str(cache)) and w[1] not in (os.devnull,)
    ]
    assert outside == [], outside


# ------------------------------------------------------------ a spec is data, not code

HOSTILE = [
    "__import__('os').system('touch /tmp/nnlint-pwned')",
    'include "/etc/passwd"',
    "import os",
    "from os import system",
    'exec("print(1)")',
    "eval('1+1')",
    "open('/etc/passwd').read()",
    "x = open('/etc/passwd')",
    "h = x -> load('/etc/passwd')",
    "h = x -> ../../x.nn",
    "h = ../../x.nn -> relu",
    "../../x.nn",
    "@import ../../secrets.nn",
    "$(cat /etc/passwd)",
    "`id`",
    "${HOME}",
    "{{ 7 * 7 }}",
    "h = x -> dense(__import__('os').getpid())",
    "h = x -> dense(4, init=__import__)",
    "h = x -> dense(open)",
]


def _hostile_specs() -> list[str]:
    specs = []
    for line in HOSTILE:
        specs.append(line + "\n")
        specs.append(f"model m {{\n    input x: [4]\n    {line}\n}}\n")
        specs.append(
            f"model m {{\n    input x: [4]\n    h = x -> relu\n}}\ndeploy {{\n"
            f"    target = {line}\n}}\n"
        )
    specs.append(
        "model m {\n    input x: [4]\n    h = x -> relu\n}\ndeploy {\n    target = etc-passwd\n}\n"
    )
    return specs


@pytest.fixture
def file_spy(monkeypatch):
    """Record every file nnlint opens while checking; forbid processes."""
    opened: list[str] = []
    real_open, real_os_open = builtins.open, os.open

    def spy_open(file, *args, **kwargs):
        if not isinstance(file, int):
            opened.append(os.path.abspath(os.fspath(file)))
        return real_open(file, *args, **kwargs)

    def spy_os_open(path, *args, **kwargs):
        opened.append(os.path.abspath(os.fspath(path)))
        return real_os_open(path, *args, **kwargs)

    def forbidden(*args, **kwargs):
        raise AssertionError(f"a spec started a process: {args!r}")

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(io, "open", spy_open)
    monkeypatch.setattr(os, "open", spy_os_open)
    monkeypatch.setattr(os, "system", forbidden)
    monkeypatch.setattr(os, "popen", forbidden)
    monkeypatch.setattr(subprocess, "Popen", forbidden)
    return opened


def _allowed(path: str) -> bool:
    roots = [str(data_dir("grammar")), str(data_dir("rules"))]
    folder = cache_dir()
    if folder is not None:
        roots.append(os.path.abspath(folder))
    return any(path == r or path.startswith(r + os.sep) for r in roots)


@pytest.mark.parametrize("text", _hostile_specs())
def test_a_spec_never_runs_code_or_reads_files(text, file_spy, tmp_path):
    marker = Path("/tmp/nnlint-pwned")
    existed = marker.exists()
    result = check_text(text, "hostile.nn")
    codes = [d.code for d in result.diagnostics]
    assert set(codes) & (FATAL | {"NN015"}), codes  # a syntax, name or target error
    assert result.model is None or "NN015" in codes
    for d in result.diagnostics:
        assert d.span.line >= 1 and d.span.column >= 1
    assert [p for p in file_spy if not _allowed(p)] == []
    assert marker.exists() == existed


def test_an_include_in_a_comment_is_only_a_comment(file_spy):
    result = check_text(
        'model m {\n    input x: [4]\n    h = x -> relu  # include "/etc/passwd"\n}\n', "comment.nn"
    )
    assert result.model is not None
    assert not {d.code for d in result.diagnostics} & FATAL
    assert [p for p in file_spy if not _allowed(p)] == []


def test_the_spy_sees_nnlint_data_files(file_spy, monkeypatch):
    """The spy works: clearing the target cache makes nnlint read its TOML profiles."""
    from nnlint import targets

    if hasattr(targets, "_load_builtins") and hasattr(targets._load_builtins, "cache_clear"):
        targets._load_builtins.cache_clear()
    if hasattr(targets.builtin_targets, "cache_clear"):
        targets.builtin_targets.cache_clear()
    check_text(
        "model m {\n    input x: [4]\n    h = x -> relu\n}\ndeploy {\n    target = edge-tpu\n}\n",
        "ok.nn",
    )
    assert file_spy, "no file opened: the spy does not see nnlint's reads"
    assert all(_allowed(p) for p in file_spy), file_spy


def test_examples_open_no_file_but_data(file_spy):
    texts = [p.read_text(encoding="utf-8") for p in EXAMPLES]
    file_spy.clear()
    for text in texts:
        check_text(text, "example.nn")
    assert [p for p in file_spy if not _allowed(p)] == []


# ---------------------------------------------------------------------- the parser cache


@pytest.fixture
def cache_folder(tmp_path, monkeypatch):
    folder = tmp_path / "nnlint-cache"
    monkeypatch.setenv("NNLINT_CACHE_DIR", str(folder))
    return folder


def _entry(folder: Path) -> Path:
    entries = sorted(folder.glob("parser-*.bin"))
    assert len(entries) == 1, entries
    return entries[0]


def _parses_examples_like_a_fresh_parser(parser) -> None:
    from nnlint import parse as P

    fresh = P.build_parser()
    for path in EXAMPLES:
        text = path.read_text(encoding="utf-8")
        P._depths.table = {}
        assert parser.parse(text) == fresh.parse(text), path.name


def test_the_parser_cache_round_trips(cache_folder):
    from nnlint import parse as P

    built = P._parser.__wrapped__()  # no cache entry yet: builds and stores one
    entry = _entry(cache_folder)
    if hasattr(os, "getuid"):
        assert cache_folder.stat().st_mode & 0o777 == 0o700
        assert entry.stat().st_mode & 0o077 == 0
    grammar = (data_dir("grammar") / "nnlint.lark").read_text(encoding="utf-8")
    loaded = P._load_cached(entry, P._cache_key(grammar))
    assert loaded is not None, "the entry just written does not load"
    _parses_examples_like_a_fresh_parser(loaded)
    _parses_examples_like_a_fresh_parser(built)
    assert loaded.get_terminal("NAME").pattern.value == built.get_terminal("NAME").pattern.value


def test_a_corrupt_cache_entry_is_rebuilt(cache_folder):
    from nnlint import parse as P

    P._parser.__wrapped__()
    entry = _entry(cache_folder)
    good = entry.read_bytes()
    key = P._cache_key((data_dir("grammar") / "nnlint.lark").read_text(encoding="utf-8"))
    for junk in (
        b"",
        b"\x00" * 100,
        good[: len(good) // 2],
        good[:40] + b"x" * 100,
        b"nnlint-parser-cache 1\nwrong-key\n" + good.split(b"\n", 2)[2],
    ):
        entry.write_bytes(junk)
        entry.chmod(0o600)
        parser = P._parser.__wrapped__()  # falls back to building, rewrites the entry
        _parses_examples_like_a_fresh_parser(parser)
        assert P._load_cached(entry, key) is not None  # a whole entry again


def _rewrite_entry(entry: Path, change) -> None:
    """Rewrite a cache entry's data with ``change`` applied, with a matching digest
    (an entry that only its owner could have written, but not nnlint)."""
    import hashlib
    import marshal

    raw = entry.read_bytes()
    header, key, _digest, blob = raw.split(b"\n", 3)
    data = marshal.loads(blob)
    change(data)
    blob = marshal.dumps(data)
    digest = hashlib.sha256(blob).hexdigest().encode()
    entry.write_bytes(b"\n".join([header, key, digest, blob]))
    entry.chmod(0o600)


def _code_in_callbacks(data) -> None:
    data["data"]["options"]["lexer_callbacks"] = {"NAME": compile("1", "x", "eval")}


def _string_callback(data) -> None:
    data["data"]["options"]["lexer_callbacks"] = {"NAME": "print"}


def _code_elsewhere(data) -> None:
    data["memo"]["extra"] = [compile("1", "x", "eval")]


def _broken_tables(data) -> None:  # loads, then fails on the first token
    states = data["data"]["parser"]["parser"]["states"]
    for state in states:
        states[state] = {}


@pytest.mark.parametrize(
    "change", [_code_in_callbacks, _string_callback, _code_elsewhere, _broken_tables]
)
def test_a_cache_entry_that_fails_to_load_or_parse_is_discarded_and_rebuilt(cache_folder, change):
    """Issue 9, finding 10: an entry with code objects in `lexer_callbacks` failed every
    check until deleted. Every entry is validated in full; a bad one is rebuilt."""
    from nnlint import parse as P

    P._parser.__wrapped__()
    entry = _entry(cache_folder)
    key = P._cache_key((data_dir("grammar") / "nnlint.lark").read_text(encoding="utf-8"))
    _rewrite_entry(entry, change)
    assert P._load_cached(entry, key) is None
    parser = P._parser.__wrapped__()  # builds and rewrites the entry
    _parses_examples_like_a_fresh_parser(parser)
    assert P._load_cached(entry, key) is not None  # whole and valid again


def test_a_cache_entry_with_a_flipped_byte_is_not_loaded(cache_folder):
    from nnlint import parse as P

    P._parser.__wrapped__()
    entry = _entry(cache_folder)
    key = P._cache_key((data_dir("grammar") / "nnlint.lark").read_text(encoding="utf-8"))
    raw = bytearray(entry.read_bytes())
    raw[-100] ^= 0x01  # inside the marshalled data: the digest no longer matches
    entry.write_bytes(bytes(raw))
    entry.chmod(0o600)
    assert P._load_cached(entry, key) is None


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_at_the_parser_cache_path_does_not_hang(cache_folder, capsys):
    """Issue 9, finding 3: a FIFO at the cache entry's path made every run wait for a
    writer. The entry is opened without blocking and only a regular file is read."""
    from nnlint import parse as P

    P._parser.__wrapped__()
    entry = _entry(cache_folder)
    key = P._cache_key((data_dir("grammar") / "nnlint.lark").read_text(encoding="utf-8"))
    entry.unlink()
    os.mkfifo(entry, 0o600)
    assert P._load_cached(entry, key) is None  # returns at once: nothing waits
    # A whole run in a new process, with a timeout as the hang guard.
    spec = cache_folder.parent / "ok.nn"
    spec.write_text(GOOD)
    env = dict(os.environ, NNLINT_CACHE_DIR=str(cache_folder))
    proc = subprocess.run(
        [sys.executable, "-m", "nnlint", "check", str(spec)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert entry.is_file()  # the FIFO was replaced by a whole entry
    assert P._load_cached(entry, key) is not None


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_a_symlink_or_an_oversized_file_at_the_cache_path_is_not_loaded(cache_folder):
    from nnlint import parse as P

    P._parser.__wrapped__()
    entry = _entry(cache_folder)
    key = P._cache_key((data_dir("grammar") / "nnlint.lark").read_text(encoding="utf-8"))
    real = cache_folder / "elsewhere.bin"
    entry.rename(real)
    entry.symlink_to(real)
    assert P._load_cached(entry, key) is None  # never followed
    entry.unlink()
    real.rename(entry)
    assert P._load_cached(entry, key) is not None
    with entry.open("ab") as f:
        f.truncate(P._CACHE_MAX_BYTES + 1)
    assert P._load_cached(entry, key) is None


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_a_cache_entry_others_may_write_is_not_loaded(cache_folder):
    from nnlint import parse as P

    P._parser.__wrapped__()
    entry = _entry(cache_folder)
    grammar = (data_dir("grammar") / "nnlint.lark").read_text(encoding="utf-8")
    key = P._cache_key(grammar)
    entry.chmod(0o666)
    assert P._load_cached(entry, key) is None
    entry.chmod(0o600)
    cache_folder.chmod(0o777)
    try:
        assert P._load_cached(entry, key) is None
    finally:
        cache_folder.chmod(0o700)
    assert P._load_cached(entry, key) is not None


def test_no_cache_folder_or_an_unwritable_one_still_parses(tmp_path, monkeypatch):
    from nnlint import parse as P

    monkeypatch.setenv("NNLINT_CACHE_DIR", "")
    assert P.cache_dir() is None
    _parses_examples_like_a_fresh_parser(P._parser.__wrapped__())
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("NNLINT_CACHE_DIR", str(blocker / "cache"))
    _parses_examples_like_a_fresh_parser(P._parser.__wrapped__())
    assert blocker.read_text() == "not a folder"


def test_parsing_from_several_threads_at_once():
    from concurrent.futures import ThreadPoolExecutor

    texts = [p.read_text(encoding="utf-8") for p in EXAMPLES] * 4
    expected = [check_text(t, "t.nn").model for t in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda t: check_text(t, "t.nn").model, texts))
    assert got == expected
