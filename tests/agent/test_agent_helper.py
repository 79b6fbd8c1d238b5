"""The agent's Python helper (templates/agent/), in-process: its pure decisions, without AWS (DESIGN §6)."""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import io
import sys
import threading
import time
import tokenize
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from spawn_tf import contract
from spawn_tf.resources import resource
from spawn_tf.userdata import HELPER_MODULES, agent_script, code_only, helper_modules, helper_settings

FOLDER = Path(str(resource("templates", "agent/rules.py"))).parent


def _load() -> dict[str, ModuleType]:
    """Every module of the helper, imported as the instance's python3 imports them (their folder first on
    the path), then taken off the path again so that their plain names never meet the tests' own."""
    names = [name.removesuffix(".py") for name in HELPER_MODULES if name != "__main__.py"]
    sys.path.insert(0, str(FOLDER))
    writes, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ in the shipped templates
    try:
        modules = {name: importlib.import_module(name) for name in names}
        spec = importlib.util.spec_from_file_location("spawn_agent_main", FOLDER / "__main__.py")
        assert spec is not None and spec.loader is not None
        modules["main"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(modules["main"])
    finally:
        sys.path.remove(str(FOLDER))
        sys.dont_write_bytecode = writes
        for name in names:
            sys.modules.pop(name, None)
    return modules


MODULES = _load()
agent = MODULES["rules"]  # the pure decisions
CFG = helper_settings()
SETTINGS = {"max_attempts": 3, "max_interruptions": 2, "retry_failed": True}


def test_the_agent_carries_the_helper_and_its_settings_verbatim() -> None:
    text = agent_script()
    assert [name for name, _ in helper_modules()] == list(HELPER_MODULES)
    for name, source in helper_modules():
        assert f"cat >\"$spawn_dir/agent/{name}\" <<'SPAWN_AGENT_PY'\n{source}SPAWN_AGENT_PY\n" in text
        assert "\nSPAWN_AGENT_PY\n" not in "\n" + source  # no module line ends its heredoc early
    assert "SPAWN_AGENT_JSON" in text
    assert "${{" not in text and "${ " not in text  # no template syntax left that reads like another language


def test_every_module_stays_small() -> None:
    """One concern per module (issue 12: none over ~450 lines); a new step of a run is a new module."""
    sizes = {name: source.count("\n") for name, source in helper_modules()}
    assert max(sizes.values()) < 250, sizes


def test_attempts_are_counted_from_key_names() -> None:
    names = [
        "i-1",
        "i-1.failed",
        "i-2",
        "i-2.interrupted",
        "i-3",
        "i-4.timeout",
        "",
        ".failed",
        "i-5/x",
        "i-6/x.failed",
        "i-3.bogus",
        "i-3.running",
    ]
    begun, outcomes = agent.read_attempts(names, CFG)
    assert begun == ["i-1", "i-2", "i-3"]  # malformed names and unknown outcomes are no facts
    assert outcomes == {"i-1": "failed", "i-2": "interrupted", "i-4": "timeout"}
    assert agent.counts(outcomes, CFG) == (2, 1)
    assert agent.exhausted(2, 1, SETTINGS) is False
    assert agent.exhausted(3, 0, SETTINGS) is True
    assert agent.exhausted(0, 2, SETTINGS) is True


@pytest.mark.parametrize(
    ("top", "ended", "expected"),
    [
        (None, set(), ("take", 1)),  # nobody has run it: the first lease
        ((1, "i-other", 5.0), set(), ("lose", 1)),  # a live holder keeps it, whatever the timing
        ((1, "i-me", 5.0), set(), ("leave", 1)),  # this instance's other agent holds it
        ((1, "i-other", 5.0), {"i-other"}, ("take", 2)),  # its outcome is recorded: gone
        ((2, "i-other", 61.0), set(), ("take", 3)),  # its heartbeat is older than the limit: gone
        ((2, "i-other", 60.0), set(), ("lose", 2)),  # at the limit: still alive
        ((1, "", 1.0), set(), ("lose", 1)),  # a lease that names no holder: gone once 1 attempt has an outcome
        ((1, "", 1.0), {"i-1"}, ("take", 2)),
        ((2, "", 1.0), {"i-1"}, ("lose", 2)),
    ],
)
def test_lease_step(top, ended, expected) -> None:
    assert agent.lease_step(top, "i-me", ended, 60.0) == expected


def test_done_markers_and_lease_numbers_must_be_well_formed() -> None:
    names = [
        "success.0",
        "failed.-1",
        "timeout.none",
        "bogus.0",
        "success",
        "success.x",
        "failed.",
        "x/success.0",
        "interrupted.none",
        "running.none",
    ]
    assert agent.done_markers(names, CFG) == ["success.0", "failed.-1", "timeout.none"]
    assert agent.lease_numbers(["2", "10", "01", "1/x", "x", "", "1"]) == [1, 2, 10]


def test_a_holder_whose_outcome_makes_the_run_final_is_not_taken_over() -> None:
    """Between a holder's outcome and its `_done` key, a newcomer must not start the run again."""
    no_retry = {**SETTINGS, "retry_failed": False}
    assert agent.holder_finished((1, "i-a", 1.0), {"i-a": "success"}, SETTINGS, CFG)
    assert agent.holder_finished((1, "i-a", 1.0), {"i-a": "failed"}, no_retry, CFG)
    assert not agent.holder_finished((1, "i-a", 1.0), {"i-a": "failed"}, SETTINGS, CFG)  # 1 of 3: retried
    assert agent.holder_finished((3, "i-c", 1.0), {"i-a": "failed", "i-b": "timeout", "i-c": "failed"}, SETTINGS, CFG)
    assert not agent.holder_finished((1, "i-a", 1.0), {"i-a": "interrupted"}, SETTINGS, CFG)
    assert not agent.holder_finished((2, "i-b", 1.0), {"i-a": "success"}, SETTINGS, CFG)  # not the holder's
    assert not agent.holder_finished(None, {}, SETTINGS, CFG)


def test_status_from_exit_ending_and_verdict() -> None:
    assert agent.decide(0, None, None, CFG) == ("success", 0, "")
    assert agent.decide(3, None, None, CFG) == ("failed", 3, "exit code 3")
    assert agent.decide(None, ("timeout", "ttl of 3 s reached"), None, CFG) == ("timeout", None, "ttl of 3 s reached")
    assert agent.decide(0, None, ["stopped", "val loss high"], CFG) == ("stopped", 0, "val loss high")
    assert agent.decide(0, None, ["sucess", "typo"], CFG) == ("success", 0, "")  # not a verdict
    interrupted = agent.decide(None, ("interrupted", "spot interruption notice"), ["success", ""], CFG)
    assert interrupted == ("interrupted", None, "spot interruption notice")  # a verdict cannot hide a spot notice


def test_a_success_without_all_outputs_in_s3_is_a_failure_naming_them() -> None:
    assert agent.missing_outputs({"a": 1, "b/c": 2, "d": 3}, {"a": 1, "b/c": 5}) == ["b/c", "d"]
    status, reason = agent.after_upload("success", "", ["b/c", "d"], CFG)
    assert status == "failed" and reason == f"{contract.UPLOAD_FAILED_REASON}: 2 outputs not in S3: b/c, d"
    assert agent.after_upload("stopped", "said so", ["x"], CFG)[0] == "failed"
    assert agent.after_upload("timeout", "ttl", ["x"], CFG) == ("timeout", "ttl")  # already not a success
    assert agent.after_upload("success", "", [], CFG) == ("success", "")
    many = agent.after_upload("success", "", [f"f{i}" for i in range(7)], CFG)[1]
    assert many.endswith("f0, f1, f2, f3, f4, …")


def test_finality() -> None:
    assert agent.is_final("success", 0, SETTINGS, CFG)
    assert not agent.is_final("interrupted", 0, SETTINGS, CFG)
    assert not agent.is_final("failed", 1, SETTINGS, CFG)  # retry_failed, the 2nd failure of 3
    assert agent.is_final("failed", 2, SETTINGS, CFG)  # the 3rd
    assert agent.is_final("timeout", 0, {**SETTINGS, "retry_failed": False}, CFG)


def test_busiest_core_from_proc_stat() -> None:
    before = agent.core_times("cpu 1 1 1 1\ncpu0 10 0 10 80 0\ncpu1 0 0 0 100\nintr 5\n")
    after = agent.core_times("cpu 1 1 1 1\ncpu0 10 0 12 178 0\ncpu1 50 0 0 150\n")
    assert before == {"cpu0": (20, 100), "cpu1": (0, 100)}
    assert agent.busiest(before, after) == 50  # cpu1: 50 of 100 jiffies; cpu0: 2 of 100
    assert agent.busiest(after, after) == 0


def test_settings_from_the_environment_with_the_test_defaults() -> None:
    env = dict.fromkeys(CFG["env"].values(), "")
    env.update({contract.ENV_MAX_ATTEMPTS: "3", contract.ENV_MAX_INTERRUPTIONS: "5", contract.ENV_RETRY_FAILED: "true"})
    env.update({contract.ENV_OUTPUT_DIR: "/opt/out", contract.ENV_AGENT_ROOT: "/sandbox", contract.ENV_TTL_SECONDS: "60"})
    settings = agent.load_settings(CFG, env)
    assert settings["output_dir"] == "/sandbox/opt/out"
    assert (settings["ttl"], settings["idle_timeout"], settings["retry_failed"]) == (60.0, None, True)
    assert settings["poll"] == float(contract.AGENT_DEFAULTS[contract.ENV_POLL_SECONDS])  # empty: the default
    assert settings["upload_budget"] == float(contract.AGENT_DEFAULTS[contract.ENV_UPLOAD_BUDGET_SECONDS])
    assert settings["imds"] == contract.AGENT_DEFAULTS[contract.ENV_IMDS_ENDPOINT]
    assert agent.load_settings(CFG, {**env, contract.ENV_POLL_SECONDS: "0.5"})["poll"] == 0.5


def test_status_record_has_the_fields_of_design_5() -> None:
    settings = {"sweep": "s", "run": "r", "index": "4", "fingerprint": "f", "region": "eu-west-1"}
    state = {"attempt": 2, "instance": "i-1", "started_at": "2026-01-01T00:00:00Z"}
    record = agent.status_record(settings, state, ("failed", 3, "exit code 3"), "2026-01-01T01:00:00Z")
    assert list(record) == ["sweep", "run", "index", "fingerprint", "status", "exit_code", "attempt", "instance_id", "region", "started_at", "finished_at", "reason"]  # fmt: skip
    assert (record["index"], record["attempt"], record["finished_at"]) == (4, 2, "2026-01-01T01:00:00Z")
    assert agent.status_record(settings, state, ("running", None, ""), "x")["finished_at"] is None


def test_a_slow_periodic_task_does_not_hold_up_another() -> None:
    """The checks' model: each S3 task has its own thread and period, so a hung upload delays only itself."""
    stopped, fast = threading.Event(), []
    MODULES["aws"].every(0.05, lambda: time.sleep(10), stopped)
    MODULES["aws"].every(0.05, lambda: fast.append(1), stopped)
    time.sleep(0.6)
    stopped.set()
    assert len(fast) >= 5


def test_backoff_grows_and_is_capped() -> None:
    assert [agent.backoff(n) for n in range(6)] == [1, 2, 4, 8, 10, 10]


def test_tries_are_a_backoff_apart_and_none_is_waited_for_after_the_last(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(agent.time, "sleep", waits.append)
    tried = []
    for number in agent.spaced(3):
        tried.append((number, list(waits)))
    assert tried == [(0, []), (1, [1]), (2, [1, 2])]  # each wait before its try
    assert waits == [1, 2]  # a failure is told at once after the last try


def test_a_stop_marker_names_the_run_exactly_or_all() -> None:
    assert agent.stopped(["r1"], "r1", CFG) and agent.stopped([contract.STOP_ALL, "x"], "r1", CFG)
    assert not agent.stopped(["r1/x", "r10", "R1", f"{contract.STOP_ALL}/x", ""], "r1", CFG)


def _code_by_python(source: str) -> str:
    """What code_only must give, found by Python's own tokenizer (comments) and parser (docstrings)."""
    lines = source.splitlines(keepends=True)
    cuts = [(*token.start, *token.end) for token in tokenize.generate_tokens(io.StringIO(source).readline) if token.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef) and len(node.body) > 1 and ast.get_docstring(node, clean=False) is not None:
            first = node.body[0]
            cuts.append((first.lineno, first.col_offset, first.end_lineno, first.end_col_offset))
    for row, col, end_row, end_col in sorted(cuts, reverse=True):
        lines[row - 1 : end_row] = [lines[row - 1][:col] + lines[end_row - 1][end_col:]]
    return "".join(line.rstrip() + "\n" for line in lines if line.strip())


def _without_docstrings(source: str) -> str:
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef) and ast.get_docstring(node, clean=False) is not None:
            node.body = node.body[1:] or [ast.Pass()]
    return ast.dump(tree)


@pytest.mark.parametrize("name", HELPER_MODULES)
def test_user_data_carries_each_module_as_code_only(name: str) -> None:
    """Comments, docstrings and blank lines stay in templates/agent/ (user-data has 16 KB); the code is the same code."""
    source = (FOLDER / name).read_text(encoding="utf-8")
    shipped = dict(helper_modules())[name]
    assert shipped == code_only(source) == _code_by_python(source)
    assert ast.dump(ast.parse(shipped)) == _without_docstrings(source)
    tokens = list(tokenize.generate_tokens(io.StringIO(shipped).readline))
    assert not [token for token in tokens if token.type == tokenize.COMMENT] and "\n\n" not in shipped
    assert ast.get_docstring(ast.parse(shipped)) is None and ast.get_docstring(ast.parse(source))


def test_code_only_keeps_what_only_looks_like_a_comment_or_docstring() -> None:
    source = (
        '"""Module docstring,\n\nover lines."""\n\n'
        "import re  # why\n"
        "# a comment line\n"
        "class A:\n"
        "    '''One line.'''\n"
        "    def f(self, text):\n"
        '        """Two\n        lines."""\n'
        "        pattern = re.compile('#x')  # the pattern\n"
        '        return """not a docstring""" + text.strip()  #no space after the hash\n'
        "def g():\n"
        "    x = 1\n"
        '    """not a docstring either"""\n'
        "    return x\n"
    )
    shipped = code_only(source)
    assert shipped == (
        "import re\n"
        "class A:\n"
        "    def f(self, text):\n"
        "        pattern = re.compile('#x')\n"
        '        return """not a docstring""" + text.strip()  #no space after the hash\n'
        "def g():\n"
        "    x = 1\n"
        '    """not a docstring either"""\n'
        "    return x\n"
    )
    assert ast.dump(ast.parse(shipped)) == _without_docstrings(source)


class _Keys:
    """The agent's S3 reads, as `fetch.load` makes them: each key's answers in turn (None: not there)."""

    def __init__(self, *answers: bytes | None) -> None:
        self.answers = list(answers)
        self.asked = 0
        self.s = {"folder": "sweeps/s"}
        self.cfg = {"control": {"code": contract.CONTROL_CODE}, "module_suffix": ".py"}

    def get(self, key: str) -> bytes | None:
        self.asked += 1
        return self.answers.pop(0) if self.answers else None


@pytest.fixture
def fetch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """fetch.py imported from a copy of the helper's folder: `load` writes the modules it fetches beside itself."""
    for name in ("fetch.py", "rules.py"):
        (tmp_path / name).write_bytes((FOLDER / name).read_bytes())
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        yield importlib.import_module("fetch")
    finally:
        for name in ("fetch", "rules", "shipped"):
            sys.modules.pop(name, None)


def test_a_helper_module_is_fetched_checked_and_imported(fetch: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    source = b"ANSWER = 42\n"
    sha = hashlib.sha256(source).hexdigest()
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    keys = _Keys(b"ANSWER = 41\n", source)  # the first answer is not the module compiled: tried again
    assert fetch.load(keys, "shipped", sha).ANSWER == 42
    assert (keys.asked, waits) == (2, [1])
    again = _Keys()
    assert fetch.load(again, "shipped", sha).ANSWER == 42
    assert again.asked == 0  # once per instance: already there, nothing read


def test_a_helper_module_s3_cannot_give_is_none_after_three_reads_and_no_wait_after_the_last(
    fetch: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    keys = _Keys()
    assert fetch.load(keys, "shipped", "0" * 64) is None
    assert (keys.asked, waits) == (3, [1, 2])
