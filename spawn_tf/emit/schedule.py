"""Resume and scheduling in Terraform: which runs a root launches now (DESIGN §4). Pure.

Each root lists the sweep's control prefixes in S3 (done, attempts, stop markers) and keeps,
of its own runs, those not finished: started runs always (so lowering `max_concurrent`, reordering
the file or adding runs never kills a running instance), and pending ones unless stopped or out
of attempts, within the first `max_concurrent` of the sweep's global order. Re-applying is resume.
A run whose candidates are all marked (`local.waiting`, spawn_tf/emit/capacity.py) launches nothing.
Every lookup is by map key: the cost is linear in runs plus keys.
"""

from __future__ import annotations

from typing import Any

from spawn_tf import contract
from spawn_tf.emit.hcl import Expr
from spawn_tf.lifecycle import ATTEMPT_PATTERN, DONE_PATTERN
from spawn_tf.plan import Plan, Root

LISTINGS = {
    "done": contract.CONTROL_DONE,
    "attempts": contract.CONTROL_ATTEMPTS,
    "stop": contract.CONTROL_STOP,
}


def listing(plan: Plan, name: str, prefix: str) -> dict[str, Any]:
    """`data "aws_s3_objects"` of one control prefix (the expression `prefix`) of the results bucket."""
    return {
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


def _state(name: str, run: str) -> str:
    """An HCL object expression: started, open (not done) and blocked (stopped or out of attempts)."""
    key = f'"${{{name}}}.${{{run}.fingerprint}}"'
    return (
        f"{{started = lookup(local.started_runs, {key}, null) != null, "
        f"open = lookup(local.done_runs, {key}, null) == null, "
        f"blocked = local.stop_all || lookup(local.stopped, {name}, false) "
        f"|| lookup(local.failures, {key}, 0) >= {run}.max_attempts "
        f"|| lookup(local.interruptions, {key}, 0) >= {run}.max_interruptions}}"
    )


def schedule(plan: Plan, root: Root) -> dict[str, Any]:
    """schedule.tf.json: the listings and `local.active`, the runs `aws_instance.run` launches."""
    failure = ", ".join(f'"{status}"' for status in contract.FAILURE_STATUSES)
    interruption = ", ".join(f'"{status}"' for status in contract.INTERRUPTION_STATUSES)
    locals_: dict[str, Any] = {
        "control": {name: contract.control_prefix(plan.sweep_folder, prefix) for name, prefix in LISTINGS.items()},
        # Key names as spawn_tf/lifecycle.py reads them: a key of another shape is no marker.
        "patterns": {"done": f"^{DONE_PATTERN}$", "attempt": f"^{ATTEMPT_PATTERN}$"},
        # <R>/<status>.<exit code> -> the run R = <run>.<fingerprint> is finished
        "done_runs": Expr(
            "{for m in [for key in data.aws_s3_objects.done.keys : regexall(local.patterns.done, trimprefix(key, local.control.done))] : "
            "m[0][0] => true... if length(m) > 0}"
        ),
        # <R>/<instance-id> (begun) and <R>/<instance-id>.<outcome> (ended)
        "attempts": Expr(
            "[for m in [for key in data.aws_s3_objects.attempts.keys : regexall(local.patterns.attempt, trimprefix(key, local.control.attempts))] : "
            '{run = m[0][0], attempt = m[0][1], status = trimprefix(m[0][2], ".")} if length(m) > 0]'
        ),
        "ended_attempts": Expr('{for a in local.attempts : "${a.run}/${a.attempt}" => true... if a.status != ""}'),
        "started_runs": Expr(
            '{for a in local.attempts : a.run => true... if a.status == "" && lookup(local.ended_attempts, "${a.run}/${a.attempt}", null) == null}'
        ),
        # R -> how many of its attempts failed (were interrupted): each attempt once, whatever outcomes it has
        "failures": Expr(f"{{for run, ids in {{for a in local.attempts : a.run => a.attempt... if contains([{failure}], a.status)}} : run => length(distinct(ids))}}"),
        "interruptions": Expr(
            f"{{for run, ids in {{for a in local.attempts : a.run => a.attempt... if contains([{interruption}], a.status)}} : run => length(distinct(ids))}}"
        ),
        "stopped": Expr("{for key in data.aws_s3_objects.stop.keys : trimprefix(key, local.control.stop) => true}"),
        "stop_all": Expr(f'lookup(local.stopped, "{contract.STOP_ALL}", false)'),
    }
    if plan.sweep.max_concurrent is None:
        locals_["run_state"] = Expr(f"{{for name, run in local.runs : name => {_state('name', 'run')}}}")
        locals_["active"] = Expr(
            "{for name, run in local.runs : name => run "
            "if local.run_state[name].open && (local.run_state[name].started || !local.run_state[name].blocked) && !lookup(local.waiting, name, false)}"
        )
    else:
        locals_.update(_global_choice(plan, root))
    return {"data": {"aws_s3_objects": {name: listing(plan, name, f"local.control.{name}") for name in LISTINGS}}, "locals": locals_}


def _global_choice(plan: Plan, root: Root) -> dict[str, Any]:
    """With max_concurrent, every root makes the same sweep-wide choice and keeps its own runs."""
    runs = sorted(((run, r.name) for r in plan.roots for run in r.runs), key=lambda pair: pair[0].index)
    return {
        # sort key -> "<run> <fingerprint> <root> <max attempts> <max interruptions>", in sweep order
        "sweep_runs": {
            f"{run.index:06d}": f"{run.name} {run.fingerprint} {name} {run.settings.max_attempts} {run.settings.max_interruptions}"
            for run, name in runs
        },
        "sweep_entries": Expr(
            '{for key, line in local.sweep_runs : key => {name = split(" ", line)[0], fingerprint = split(" ", line)[1], '
            'root = split(" ", line)[2], max_attempts = tonumber(split(" ", line)[3]), max_interruptions = tonumber(split(" ", line)[4])}}'
        ),
        "sweep_state": Expr(f"{{for key, run in local.sweep_entries : key => {_state('run.name', 'run')}}}"),
        "started_keys": Expr("[for key, state in local.sweep_state : key if state.open && state.started]"),
        # Each root leaves its own waiting runs (every candidate marked: spawn_tf/emit/capacity.py) out of the
        # pending list: it cannot know another region's offerings. The cap still holds over all roots. Let W be
        # the root whose choice reaches furthest in sweep order (or takes all of its list). A pending run that
        # another root R launches is in R's choice, so no later than W's last choice; W leaves out only its
        # own runs, so it is in W's list there, and W chose it too. So the pending runs launched anywhere are
        # among W's at most `max_concurrent - started`, beside the started runs that every root counts alike.
        "pending_keys": Expr(
            "[for key, state in local.sweep_state : key "
            "if state.open && !state.started && !state.blocked && !lookup(local.waiting, local.sweep_entries[key].name, false)]"
        ),
        "max_concurrent": plan.sweep.max_concurrent,
        "chosen_keys": Expr(
            "concat(local.started_keys, slice(local.pending_keys, 0, "
            "max(0, min(local.max_concurrent - length(local.started_keys), length(local.pending_keys)))))"
        ),
        "active": Expr(
            "{for key in local.chosen_keys : local.sweep_entries[key].name => local.runs[local.sweep_entries[key].name] "
            f'if local.sweep_entries[key].root == "{root.name}" && !lookup(local.waiting, local.sweep_entries[key].name, false)}}'
        ),
    }
