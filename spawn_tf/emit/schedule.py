"""Resume and scheduling in Terraform: which runs a root launches now (DESIGN §4). Pure.

Each root lists the sweep's control prefixes in S3 (done, attempts, stop markers) and keeps,
of its own runs, those not finished: started runs always (so lowering `max_concurrent`, reordering
the file or adding runs never kills a running instance), and pending ones unless stopped or out
of attempts, within the first `max_concurrent` of the sweep's global order. Re-applying is resume.
The global order is written once per build (sweep-order.json), not into every root.
A run whose candidates are all marked (`local.waiting`, spawn_tf/emit/capacity.py) launches nothing.
Every lookup is by map key: the cost is linear in runs plus keys. A lookup is written
`try(map[key], default)`, never `lookup(map, key, default)`: a function call walks its whole map
argument, so 2,000 lookup() calls on an 8,000-key map took 10.6 s here, and by index 0.3 s.
"""

from __future__ import annotations

from typing import Any

from spawn_tf import contract
from spawn_tf.emit.hcl import Expr
from spawn_tf.lifecycle import ATTEMPT_LINES_PATTERN, DONE_LINES_PATTERN
from spawn_tf.plan import Plan

LISTINGS = {
    "done": contract.CONTROL_DONE,
    "attempts": contract.CONTROL_ATTEMPTS,
    "stop": contract.CONTROL_STOP,
}


RANK_FORMAT = f"%0{len(str(contract.MAX_RUNS))}d"  # ranks sort as zero-padded strings: Terraform's sort() takes strings
_NAME_AND_FINGERPRINT = "(?m)^(.+)[.]([^.\\n]+)$"  # a line "<run>.<fingerprint>" (run names may hold dots; fingerprints do not)

# A root whose runs are all finished reads only the done listing: the others are read while one of its runs is open.
WHILE_OPEN = "local.open_runs > 0 ? 1 : 0"


def listing(plan: Plan, name: str, prefix: str, *, while_open: bool = True) -> dict[str, Any]:
    """`data "aws_s3_objects"` of one control prefix (the expression `prefix`) of the results bucket."""
    return {
        **({"count": Expr(WHILE_OPEN)} if while_open else {}),
        "region": plan.bucket_region,
        "bucket": Expr("local.results_bucket"),
        "prefix": Expr(prefix),
        "max_keys": contract.MAX_LISTING_KEYS,
        "lifecycle": {
            # A listing cut short would relaunch finished runs: fail the plan instead.
            "postcondition": {
                "condition": Expr(f"length(self.keys) < {contract.MAX_LISTING_KEYS}"),
                "error_message": f"the {name} listing reached {contract.MAX_LISTING_KEYS} keys; split the sweep before applying again",
            }
        },
    }


def listed_keys(name: str) -> str:
    """The keys of a listing read while a run is open (none when it is not read)."""
    return f"flatten(data.aws_s3_objects.{name}[*].keys)"


def _lines(keys: str, prefix: str) -> str:
    """A listing's key names below `prefix`, one per line, for one regexall over them all (lifecycle.DONE_LINES_PATTERN).

    A template's for directive, not join() of a for expression: converting a long tuple to a list, as a
    function's list argument does, grows with the square of its length (20,000 names: 17 s).
    """
    return f'"%{{for key in {keys}}}%{{if !strcontains(key, "\\n")}}${{trimprefix(key, {prefix})}}\\n%{{endif}}%{{endfor}}"'


def _state(name: str, run: str) -> str:
    """An HCL object expression: started, open (not done) and blocked (stopped or out of attempts)."""
    key = f'"${{{name}}}.${{{run}.fingerprint}}"'
    return (
        f"{{started = try(local.started_runs[{key}], null) != null, "
        f"open = try(local.done_runs[{key}], null) == null, "
        f"blocked = local.stop_all || try(local.stopped[{name}], false) "
        f"|| try(local.failures[{key}], 0) >= {run}.max_attempts "
        f"|| try(local.interruptions[{key}], 0) >= {run}.max_interruptions}}"
    )


def schedule(plan: Plan) -> dict[str, Any]:
    """schedule.tf.json: the listings and `local.active`, the runs `aws_instance.run` launches."""
    failure = ", ".join(f'"{status}"' for status in contract.FAILURE_STATUSES)
    interruption = ", ".join(f'"{status}"' for status in contract.INTERRUPTION_STATUSES)
    locals_: dict[str, Any] = {
        "control": {name: contract.control_prefix(plan.sweep_folder, prefix) for name, prefix in LISTINGS.items()},
        # Key names as spawn_tf/lifecycle.py reads them: a key of another shape is no marker.
        "patterns": {"done": DONE_LINES_PATTERN, "attempt": ATTEMPT_LINES_PATTERN},
        # <R>/<status>.<exit code> -> the run R = <run>.<fingerprint> is finished
        "done_runs": Expr(
            f"{{for m in regexall(local.patterns.done, {_lines('data.aws_s3_objects.done.keys', 'local.control.done')}) : m[0] => true...}}"
        ),
        # <R>/<instance-id> (begun) and <R>/<instance-id>.<outcome> (ended). Another root's finished R's attempts
        # decide nothing (it holds its rank as finished), so they are left out here, once, not in every step after.
        # This root's runs keep theirs: it launches the same either way, but local.run_state then reads as
        # spawn_tf/lifecycle.py's state of the run (tests/data/lifecycle.yaml holds both to it).
        "own_keys": Expr('{for name, run in local.runs : "${name}.${run.fingerprint}" => true}'),
        "attempts": Expr(
            f"[for m in regexall(local.patterns.attempt, {_lines(listed_keys('attempts'), 'local.control.attempts')}) : "
            '{run = m[0], attempt = m[1], status = trimprefix(m[2], ".")} '
            "if try(local.done_runs[m[0]], null) == null || try(local.own_keys[m[0]], false)]"
        ),
        # this root's runs not finished: while there is none, no other listing is read (WHILE_OPEN)
        "open_runs": Expr(
            'length([for name, run in local.runs : name if try(local.done_runs["${name}.${run.fingerprint}"], null) == null])'
        ),
        "ended_attempts": Expr('{for a in local.attempts : "${a.run}/${a.attempt}" => true... if a.status != ""}'),
        "started_runs": Expr(
            '{for a in local.attempts : a.run => true... if a.status == "" && try(local.ended_attempts["${a.run}/${a.attempt}"], null) == null}'
        ),
        # R -> how many of its attempts failed (were interrupted): each attempt once, whatever outcomes it has
        "failures": Expr(
            f"{{for run, ids in {{for a in local.attempts : a.run => a.attempt... if contains([{failure}], a.status)}} : run => length(distinct(ids))}}"
        ),
        "interruptions": Expr(
            f"{{for run, ids in {{for a in local.attempts : a.run => a.attempt... if contains([{interruption}], a.status)}} : run => length(distinct(ids))}}"
        ),
        "stopped": Expr(f"{{for key in {listed_keys('stop')} : trimprefix(key, local.control.stop) => true}}"),
        "stop_all": Expr(f'try(local.stopped["{contract.STOP_ALL}"], false)'),
    }
    locals_["run_state"] = Expr(f"{{for name, run in local.runs : name => {_state('name', 'run')}}}")
    if plan.sweep.max_concurrent is None:
        locals_["active"] = Expr(
            "{for name, run in local.runs : name => run "
            "if local.run_state[name].open && (local.run_state[name].started || !local.run_state[name].blocked) && !try(local.waiting[name], false)}"
        )
    else:
        locals_.update(_global_choice(plan))
    listings = {name: listing(plan, name, f"local.control.{name}", while_open=name != "done") for name in LISTINGS}
    return {"data": {"aws_s3_objects": listings}, "locals": locals_}


def sweep_order(plan: Plan) -> dict[str, str]:
    """The build's sweep-order.json, with max_concurrent: run -> "<rank> <fingerprint> <max attempts> <max interruptions>".

    Ranks are 0..N-1 in sweep order, with no gap: a rank no run holds would count as a pending run forever.
    """
    runs = sorted((run for root in plan.roots for run in root.runs), key=lambda run: run.index)
    return {
        run.name: f"{rank} {run.fingerprint} {run.settings.max_attempts} {run.settings.max_interruptions}" for rank, run in enumerate(runs)
    }


def _listed() -> dict[str, Any]:
    """The sweep's runs a listing names (this root's too: its started runs count towards the cap only through
    `listed_state`), read from the build's sweep order: the ranks of the finished ones, and the facts of the others."""
    return {
        # The ranks of the runs finished under their current fingerprint: they hold their place, and need no more
        # facts (most listed keys of a sweep under way are these). A key of an earlier configuration, or of a run
        # the build no longer has, holds nothing: the condition is read first, so the key's lookup never fails.
        "done_ranks": Expr(
            f'{{for m in regexall("{_NAME_AND_FINGERPRINT}", "%{{for key in keys(local.done_runs)}}${{key}}\\n%{{endfor}}") : '
            f'format("{RANK_FORMAT}", tonumber(split(" ", local.sweep_order[m[0]])[0])) => true '
            'if try(split(" ", local.sweep_order[m[0]])[1] == m[1], false)}'
        ),
        # run -> its facts, for every run a stop marker or an attempt names (an attempt of a run that is not
        # finished, or of this root's own; with any fingerprint: a key of an earlier configuration still names the
        # run, whose state is then read under its current one). Names are gathered as map keys, not with distinct(), whose cost
        # grows with the square of the list.
        "listed_names": Expr(
            f'merge(local.stopped, {{for m in regexall("{_NAME_AND_FINGERPRINT}", "%{{for a in local.attempts}}${{a.run}}\\n%{{endfor}}") : '
            "m[0] => true...})"
        ),
        "listed": Expr(
            '{for name, facts in {for name in keys(local.listed_names) : name => split(" ", local.sweep_order[name]) '
            "if try(local.sweep_order[name], null) != null} : name => "
            "{rank = tonumber(facts[0]), fingerprint = facts[1], max_attempts = tonumber(facts[2]), max_interruptions = tonumber(facts[3])}}"
        ),
    }


def _global_choice(plan: Plan) -> dict[str, Any]:
    """With max_concurrent, every root makes the same sweep-wide choice and keeps its own runs.

    The choice is started runs first, then the first `max_concurrent - started` pending runs in sweep
    order. A root needs the facts of the other roots' runs only for the runs a listing names, so it
    reads them from the build's one sweep-order.json (not from a copy of the sweep in every root) and
    works through the listed keys and its own runs: no step goes over the whole sweep but the file's
    decoding. A run no listing names and no root holds back is pending; so the runs that are not
    pending are few enough to sort, and the rank of the first pending run past the cap follows from them.
    """
    pending_or_waiting = "!local.run_state[name].blocked && !try(local.waiting[name], false)"
    return {
        "sweep_order": Expr(f'jsondecode(file("${{path.module}}/../{contract.SWEEP_ORDER_FILE}"))'),
        **_listed(),
        "own_ranks": Expr('{for name, run in local.runs : name => tonumber(split(" ", local.sweep_order[name])[0])}'),
        "listed_state": Expr(f"{{for name, run in local.listed : name => {_state('name', 'run')}}}"),
        "started_count": Expr("length([for name, state in local.listed_state : name if state.open && state.started])"),
        "max_concurrent": plan.sweep.max_concurrent,
        "pending_places": Expr("max(0, local.max_concurrent - local.started_count)"),
        # The ranks of runs that are not pending: finished, started, stopped or out of attempts (the same in
        # every root), and this root's own waiting runs (every candidate marked: spawn_tf/emit/capacity.py).
        # A root cannot know another region's offerings, so it counts the other roots' waiting runs as pending.
        # The cap still holds over all roots: let W be the root whose choice reaches furthest in sweep order.
        # A pending run that another root R launches is pending in R's list, so no later than W's last
        # choice; W holds back only its own runs, so the run is in W's list too, and W chose it. So the
        # pending runs launched anywhere are among W's at most `max_concurrent - started`.
        # As zero-padded map keys: distinct and in order (Terraform lists a map's keys sorted).
        "held_ranks": Expr(
            f'keys(merge(local.done_ranks, {{for name, state in local.listed_state : format("{RANK_FORMAT}", local.listed[name].rank) => true '
            "if !state.open || state.started || state.blocked}, "
            f'{{for name, run in local.runs : format("{RANK_FORMAT}", local.own_ranks[name]) => true '
            "if try(local.waiting[name], false)}))"
        ),
        # The rank of the first pending run past the places: with the held ranks h_0 < h_1 < ... in order,
        # h_j - j pending runs come before h_j, so h_j comes before that run exactly when h_j - j <= places.
        "first_unplaced_rank": Expr(
            "local.pending_places + length([for j, rank in local.held_ranks : j if tonumber(rank) - j <= local.pending_places])"
        ),
        "active": Expr(
            "{for name, run in local.runs : name => run if local.run_state[name].open && (local.run_state[name].started || "
            f"({pending_or_waiting} && local.own_ranks[name] < local.first_unplaced_rank))}}"
        ),
    }
