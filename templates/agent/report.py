"""`report --step N METRIC=VALUE…` (`spored report`, DESIGN §12). Exit 0: go on (also when S3 fails), 3: stop, 2: usage."""

import fcntl
import json
import math
import os
import re
import sys
import time

import fetch
from aws import modified


def say(agent, text):
    agent.note("spored report: " + text)
    print("spored: " + text, file=sys.stderr)


def parse(args, cfg):
    """(step, {metric: value}), or what is wrong."""
    step, metrics, args = None, {}, iter(args)
    for arg in args:
        name, _, text = arg.partition("=")
        if arg == "--step":
            name, text = arg, next(args, "")
        if name == "--step":
            step = int(text) if re.fullmatch("[0-9]{1,%d}" % cfg["step_digits"], text) else f"--step needs an integer from 0 to {cfg['max_step']}"
        elif not re.fullmatch(cfg["metric_pattern"], name) or name in metrics:
            return f"unknown argument or metric given twice: {arg!r}"
        else:
            try:
                metrics[name] = float(text)
            except ValueError:
                metrics[name] = math.nan
            if not math.isfinite(metrics[name]):
                return f"not a finite number: {arg!r}"
    if isinstance(step, str):
        return step
    return (step, metrics) if step is not None and metrics else "--step and a METRIC=VALUE are required"


def report(agent, args):
    s, cfg, step = agent.s, agent.cfg, parse(args, agent.cfg)
    if isinstance(step, str):
        say(agent, step + "\n" + cfg["report_usage"])
        return 2
    step, metrics = step
    with open(os.path.join(agent.dir, cfg["progress_file"]), "a+") as handle:  # metric -> {step: value}, this attempt's
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        history = json.loads(handle.read() or "{}")
        for metric, value in metrics.items():
            history.setdefault(metric, {})[str(step)] = value
        handle.truncate(0)
        json.dump(history, handle)
    agent.deadline = time.monotonic() + 60
    rule = stopping = fetch.load(agent, cfg["stopping_module"], s["stopping"]) if s["stopping"] else None
    if stopping:
        rule = stopping.Rule.from_settings(json.loads(s["early_stopping"]))

    def folder(metric):
        return "{}/{}/{}/{}/".format(s["folder"], cfg["control"]["progress"], metric, str(step).zfill(cfg["step_digits"]))

    failed = []
    for metric, value in metrics.items():
        own = {int(at): v for at, v in history[metric].items()}
        summary = stopping.running(own, step, rule) if rule and rule.metric == metric else None  # the rule's metric: mean, best
        name = stopping.entry_name(s["run"], value, summary) if stopping else f"{s['run']}={value!r}"  # = entry_name(run, value)
        if agent.put(folder(metric) + name, b"") != "ok":
            failed.append(metric)
    prefix = folder(rule.metric) if rule and rule.metric in metrics and not failed else None
    items = agent.objects(prefix) if prefix else None
    if failed or (s["stopping"] and not rule) or (prefix and items is None):
        say(agent, f"S3 failed: step {step} {'not recorded: ' + ', '.join(failed) if failed else 'recorded'}; no early-stopping verdict; the run goes on")
    if items is None:
        return 0
    listed = (stopping.parse_entry(item["Key"][len(prefix) :], int(modified(item).timestamp())) for item in items)
    verdict = stopping.decide(rule, s["run"], step, [entry for entry in listed if entry])
    agent.note("spored report: " + verdict.explain(rule))
    if not verdict.stop:
        return 0
    with open(os.path.join(agent.dir, cfg["early_stopped_reason"]), "w") as out:
        out.write(verdict.explain(rule))
    say(agent, "early-stopped: " + verdict.explain(rule))
    return stopping.STOP_EXIT
