"""Fuzz the config loader: `validate` on mutations of every config under ``configs/``.

Two kinds of mutation, both from the shipped configs:

* **structure-aware**: the config is read as data, then keys are dropped, renamed, duplicated or
  added and values replaced by random ones of any type (huge numbers, NaN, unicode, control
  characters, ``~user`` paths, secret references, deep nesting); written back as YAML or JSON;
* **textual**: the file's text gets hostile YAML spliced in (tags, anchors and aliases, recursive
  aliases, merge keys, complex keys, deep brackets, tabs, a BOM, NUL, invalid UTF-8, ...) or lines
  deleted, repeated, cut or swapped.

Every outcome must be what ``localrouter validate`` promises: exit 0, 1 or 2, diagnostics printed
for a failure, never an uncaught exception (a traceback) and never a hang (each example has a
deadline, enforced with a timer signal). The run is bounded: ``FUZZ_EXAMPLES`` examples per test
(default below) and ``FUZZ_BUDGET_S`` seconds per test (examples drawn after that are not run).
In the suite the examples are the same every run (derandomized); to fuzz longer by hand, with new
random examples each time (2,500 a test take about 7 minutes)::

    FUZZ_RANDOM=1 FUZZ_EXAMPLES=2500 FUZZ_BUDGET_S=100000 \
        pytest tests/test_loader_fuzz.py -k mutations -p no:cacheprovider
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from localrouter.cli import main
from tests.conftest import ROOT

CONFIGS = ROOT / "configs"
Draw = Callable[..., Any]  # DataObject.draw
SEEDS = sorted(p for p in CONFIGS.rglob("*.y*ml") if p.is_file())
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
BUDGET_S = float(os.environ.get("FUZZ_BUDGET_S", "6"))
EXAMPLE_S = 30.0  # one validate takes ~50 ms (a legacy config bcrypts its keys: ~1 s); 30 s: a hang

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # the timer below is the per-example bound
    database=None,  # nothing written to the work tree
    derandomize=not os.environ.get("FUZZ_RANDOM"),  # the suite is repeatable; by hand, random
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)


class Hang(Exception):
    """An example ran past :data:`EXAMPLE_S`."""


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    def expired(_signum: int, _frame: FrameType | None) -> None:
        raise Hang(f"validate did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Budget:
    """Stop running examples once a test has spent its time (later examples are drawn, so that
    generation stays consistent, but not run). Once an example failed, the budget no longer
    applies: hypothesis must be able to replay and shrink it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.start: float | None = None
        self.failed = False

    def spent(self) -> bool:
        now = time.monotonic()
        if self.start is None:
            self.start = now
        return not self.failed and now - self.start > self.seconds

    @contextlib.contextmanager
    def run(self) -> Iterator[None]:
        try:
            yield
        except BaseException:
            self.failed = True
            raise


def validate(path: Path, *flags: str) -> tuple[int, str, str]:
    """``localrouter validate`` in this process, as the CLI runs it (argparse exits included)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), deadline(EXAMPLE_S):
        try:
            code = main(["validate", *flags, os.fspath(path)])
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def check_outcome(code: int, out: str, err: str, flags: tuple[str, ...]) -> None:
    assert code in (0, 1, 2), f"exit {code}\n{out}\n{err}"
    assert "Traceback" not in out + err
    if code == 0:
        return
    if "--format" in flags and "json" in flags:
        doc = json.loads(out)
        assert any(d["severity"] == "error" for d in doc["diagnostics"]), out
    else:
        assert "error[LR" in out + err, f"exit {code} without a diagnostic:\n{out}\n{err}"


# ------------------------------------------------------------------ random values
HOSTILE_STRINGS = [
    "~nosuchuser-fuzz/x",
    "~",
    "~/x",
    "${env:}",
    "${env:HOME}",
    "${keyring:x}",
    "${",
    "*",
    "ollama/*",
    "mock/",
    "/",
    "a/b/c",
    "http://",
    "http://[::1",
    "http://h:99999/v1",
    "ftp://x",
    "request.model == 'x'",
    "size(request.messages) > 2",
    "[1, 2].map(x, [x, x].map(y, y))",
    "1s",
    "10m",
    "0d",
    "9999999999d",
    "-1h",
    "1e309",
    "nan",
    "\x00",
    "a\x00b",
    "\t",
    "\u202e",
    "\ufeff",
    "é" * 3,
    "x" * 5000,
    "$2b$12$" + "a" * 53,
    "lr_live_abc",
]
HUGE_INTS = [2**63, -(2**63) - 1, 10**100, 10**4300 // 10**4000]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(HUGE_INTS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(HOSTILE_STRINGS),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=12), st.sampled_from(HOSTILE_STRINGS)), inner,
                        max_size=4),
    ),
    max_leaves=12,
)  # fmt: skip


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        node = node[step]
    return node


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for i in range(depth):
        value = {"k": value} if i % 2 else [value]
    return value


def mutate_data(data: Any, draw: Draw) -> Any:
    """Apply 1-4 random structural changes to ``data`` (in place where it can)."""
    for _ in range(draw(st.integers(1, 4))):
        paths = list(_paths(data))
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["replace", "drop", "rename", "add", "copy", "nest", "wrap"]))
        if not path:
            if op in ("replace", "wrap"):
                data = draw(values) if op == "replace" else [data]
            continue
        parent, last = _get(data, path[:-1]), path[-1]
        if op == "replace":
            parent[last] = draw(values)
        elif op == "drop":
            del parent[last]
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(st.one_of(st.text(max_size=12), st.sampled_from(HOSTILE_STRINGS)))] = (
                parent.pop(last)
            )
        elif op == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(values)
        elif op == "copy":  # the same value somewhere else (a second strategy, client, ...)
            other = draw(st.sampled_from(paths))
            if other and isinstance(_get(data, other[:-1]), dict):
                _get(data, other[:-1])[f"{other[-1]}-copy"] = json.loads(
                    json.dumps(parent[last], default=str)
                )
        elif op == "nest":
            parent[last] = _nested(draw(st.integers(1, 40)))
        elif op == "wrap":
            parent[last] = [parent[last]] if draw(st.booleans()) else {"x": parent[last]}
    return data


def dump(data: Any, as_json: bool) -> bytes:
    if as_json:
        return json.dumps(data, default=str, ensure_ascii=False).encode("utf-8", "surrogatepass")
    out = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.width = 4096
    yaml.dump(data, out)
    return out.getvalue().encode("utf-8", "surrogatepass")


# ------------------------------------------------------------------ text mutations
SNIPPETS = [
    "z: &b [*b]\n",
    "z: &b {k: *b}\n",
    "z: &m\n  <<: *m\n",
    "x-a: &a [a, a, a, a, a, a, a, a]\nx-b: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
    "x-c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nx-d: [*c, *c, *c, *c, *c, *c, *c, *c]\n",
    "x: !!python/object/apply:os.system ['true']\n",
    "x: !custom 1\n",
    "x: !!binary aGVsbG8=\n",
    "x: !!int eighty\n",
    "x: !!float 1e99999\n",
    "x: !!timestamp 2001-13-45\n",
    "x: !!set {a, b}\n",
    "x: !!omap [a: 1, b: 2]\n",
    "? [a, b]\n: c\n",
    "? {a: 1}\n: c\n",
    "<<: {version: 2}\n",
    "<<: [*undefined]\n",
    "x: *undefined\n",
    "x: " + "[" * 40 + "]" * 40 + "\n",
    "x: " + "{a: " * 20 + "1" + "}" * 20 + "\n",
    "\tx: 1\n",
    "x:\n\t- 1\n",
    "x: 'unterminated\n",
    'x: "\\x00\\u0000"\n',
    "x: |\n  block\n   more\n",
    "x: >-\n  folded\n",
    "--- \n---\n",
    "...\n",
    "%YAML 1.1\n---\n",
    "%TAG ! tag:example.com,2000:\n---\n",
    "version: 1\n",
    "version: 3\n",
    "version: 2.0\n",
    "version: '2'\n",
    "state_dir: ~nosuchuser-fuzz/x\n",
    "state_dir: ~\n",
    "server: {port: 99999999999999999999}\n",
    "server: {port: -1, host: '\u0000'}\n",
    "providers: {p: {type: openai, base_url: 'http://[::1', api_key: '${env:'}}\n",
    "providers: {p: {type: ollama, timeout: {read_s: 1e309, connect_s: -0.0}}}\n",
    "strategies: {s: {models: ['*/*', '/', 'ollama/'], routes: [{when: '((((('}]}}\n",
    "clients: {c: {key_prefix: '', key_hash: '$2b$', strategy: ~}}\n",
    "tests: [{name: t, client: nobody, expect: {model: x}}]\n",
    "x: 0x_1\nx2: 0o9\nx3: 1_000\nx4: .inf\nx5: -.nan\n",
]
RAW = [b"\xef\xbb\xbf", b"\xff\xfe", b"\x80", b"\xc3\x28", b"\xed\xa0\x80", b"\x00", b"\r", b"\x1b"]


def mutate_text(raw: bytes, draw: Draw) -> bytes:
    lines = raw.splitlines(keepends=True) or [b""]
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["snippet", "drop", "repeat", "swap", "cut", "raw", "char"]))
        i = draw(st.integers(0, max(0, len(lines) - 1)))
        if op == "snippet":
            indent = draw(st.sampled_from([b"", b"  ", b"    "]))
            text = draw(st.sampled_from(SNIPPETS)).encode("utf-8")
            lines[i:i] = [indent + ln for ln in text.splitlines(keepends=True)]
        elif op == "drop" and lines:
            del lines[i]
        elif op == "repeat" and lines:  # a duplicate key, or a list item twice
            lines.insert(i, lines[i])
        elif op == "swap" and len(lines) > 1:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "cut":
            blob = b"".join(lines)
            lines = [blob[: draw(st.integers(0, len(blob)))]]
        elif op == "raw" and lines:
            line = lines[i]
            at = draw(st.integers(0, len(line)))
            lines[i] = line[:at] + draw(st.sampled_from(RAW)) + line[at:]
        elif op == "char" and lines:
            line = lines[i]
            at = draw(st.integers(0, len(line)))
            ch = draw(st.sampled_from("&*!%@`|>?:-[]{},#'\"\t ~\\")).encode()
            lines[i] = line[:at] + ch + line[at:]
    return b"".join(lines)


# ------------------------------------------------------------------ the tests
def _flags(draw: Draw) -> tuple[str, ...]:
    flags: tuple[str, ...] = draw(st.sampled_from([(), (), ("--strict",), ("--format", "json")]))
    return flags


def _target(tmp_path: Path, seed: Path) -> Path:
    """Where the mutated text goes: a copy of the seed's directory when it is part of one."""
    if seed.parent != CONFIGS:
        copy = tmp_path / seed.parent.name
        if not copy.exists():
            shutil.copytree(seed.parent, copy)
        return copy / seed.name
    return tmp_path / seed.name


@functools.cache
def _seed_data(seed: Path) -> Any:
    return YAML(typ="safe", pure=True).load(seed.read_text(encoding="utf-8"))


def test_every_config_is_a_seed() -> None:
    names = {p.relative_to(CONFIGS).as_posix() for p in SEEDS}
    assert {"demo.yaml", "cost-saver.yaml", "gitops/10-providers.yaml"} <= names
    configs = {seed.parent if seed.parent != CONFIGS else seed for seed in SEEDS}
    for config in sorted(configs):  # the seeds themselves are valid (else mutations test little)
        code, out, err = validate(config)
        assert code == 0, out + err


@pytest.mark.timeout(BUDGET_S * 4 + 120)  # shrinking a failure takes a while too
@pytest.mark.filterwarnings("ignore::ruamel.yaml.error.ReusedAnchorWarning")
@FUZZ
@given(data=st.data())
def test_structural_mutations_get_diagnostics(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    seed = data.draw(st.sampled_from(SEEDS), label="seed")
    tree = mutate_data(copy.deepcopy(_seed_data(seed)), data.draw)
    raw = dump(tree, as_json=data.draw(st.booleans(), label="json"))
    flags = _flags(data.draw)
    _counts["structure"] += 1
    if not _structure_budget.spent():
        with _structure_budget.run():
            run_one(tmp_path_factory, seed, raw, flags)


@pytest.mark.timeout(BUDGET_S * 4 + 120)  # shrinking a failure takes a while too
@pytest.mark.filterwarnings("ignore::ruamel.yaml.error.ReusedAnchorWarning")
@FUZZ
@given(data=st.data())
def test_text_mutations_get_diagnostics(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    seed = data.draw(st.sampled_from(SEEDS), label="seed")
    raw = mutate_text(seed.read_bytes(), data.draw)
    flags = _flags(data.draw)
    _counts["text"] += 1
    if not _text_budget.spent():
        with _text_budget.run():
            run_one(tmp_path_factory, seed, raw, flags)


_structure_budget = Budget(BUDGET_S)
_text_budget = Budget(BUDGET_S)


_counts = {"structure": 0, "text": 0, "run": 0}


def run_one(
    factory: pytest.TempPathFactory, seed: Path, raw: bytes, flags: tuple[str, ...]
) -> None:
    work = factory.mktemp("fuzz", numbered=True)
    target = _target(work, seed)
    target.write_bytes(raw)
    path = target.parent if target.parent != work else target
    _counts["run"] += 1
    try:
        code, out, err = validate(path, *flags)
        check_outcome(code, out, err, flags)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# a few through the real command line, in a process of its own
CLI_CASES = [
    b"version: 2\nz: &b [*b]\n",
    b"version: 2\nstate_dir: ~nosuchuser-fuzz/x\n",
    b"\xef\xbb\xbfversion: 2\nproviders: {p: {type: ollama, timeout: {read_s: 1e309}}}\n",
    b"version: 2\nx: \xff\xfe\n",
    b"version: 2\nx: " + b"[" * 5000 + b"]" * 5000 + b"\n",
]


@pytest.mark.parametrize("raw", CLI_CASES, ids=range(len(CLI_CASES)))
def test_hostile_configs_through_the_cli(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "routers.yaml"
    path.write_bytes(raw)
    done = subprocess.run(
        [sys.executable, "-c", "from localrouter.cli import entry; entry()", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        check=False,
    )
    check_outcome(done.returncode, done.stdout, done.stderr, ())
    assert done.returncode == 1


# every crash the fuzzer found, kept as a plain regression case (each was a traceback before)
FOUND = {
    "base_url invalid IPv6": "version: 2\nproviders:\n"
    "  p: {type: openai, base_url: 'http://[::1', api_key: '${env:K}'}\n",
    "base_url port out of range": "version: 2\nproviders:\n"
    "  p: {type: openai, base_url: 'http://h:99999/v1', api_key: '${env:K}'}\n",
    "state_dir unknown user": "version: 2\nstate_dir: ~nosuchuser-fuzz/x\n",
}


@pytest.mark.parametrize("text", FOUND.values(), ids=FOUND.keys())
def test_crashes_found_by_fuzzing(tmp_path: Path, text: str) -> None:
    path = tmp_path / "routers.yaml"
    path.write_text(text, encoding="utf-8")
    code, out, err = validate(path)
    check_outcome(code, out, err, ())
    assert code == 1
