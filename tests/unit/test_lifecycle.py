"""The lifecycle table (tests/data/lifecycle.yaml) run through the Python rules: spawn_tf.lifecycle for
Terraform's and the agent's decisions, and the collector's `run_statuses` for the statuses it reports.

Real Terraform runs the same table in tests/terraform/test_lifecycle_terraform.py, the agent in
tests/agent/test_lifecycle_agent.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lifecycle_table import Scenario, scenarios

from spawn_tf import contract, lifecycle
from spawn_tf.collect.observe import Instance, Key, Observation
from spawn_tf.collect.status import run_statuses
from spawn_tf.collect.sweep import Results, SweepRecord
from spawn_tf.contract import Status
from spawn_tf.manifest import RunRecord

FOLDER = "sweeps/lc"
RUN, FINGERPRINT = "lc-run", "0123456789ab"
AT = datetime(2026, 12, 1, tzinfo=UTC)
SCENARIOS = scenarios()


def listed(names: list[str]) -> list[Key]:
    """Keys written a second apart, in the order given."""
    return [Key(name, AT + timedelta(seconds=n), 0) for n, name in enumerate(names)]


def observation(scenario: Scenario, keys: list[Key]) -> Observation:
    def under(control: str) -> tuple[Key, ...]:
        return tuple(key for key in keys if key.name.startswith(contract.control_prefix(FOLDER, control)))

    instances = ()
    if seen := scenario.instance:
        fingerprint = "fedcba987654" if seen.get("old") else FINGERPRINT
        instances = (Instance(instance_id=seen["id"], region="us-east-1", run=RUN, fingerprint=fingerprint, state=seen["state"],
                              status_tag=seen["status"], launched=AT + timedelta(hours=1)),)  # fmt: skip
    return Observation(
        done=under(contract.CONTROL_DONE),
        attempts=under(contract.CONTROL_ATTEMPTS),
        stops=under(contract.CONTROL_STOP),
        instances=instances,
        problems=(),
        unread_listings=frozenset(name for name in scenario.unread if name != "EC2"),
        unread_regions=frozenset({"us-east-1"} if "EC2" in scenario.unread else ()),
    )


def decide(scenario: Scenario) -> dict[str, Any]:
    """Every decision the table records, by the Python rules."""
    keys = listed(scenario.control_keys(FOLDER, RUN, FINGERPRINT))
    facts = lifecycle.parse(FOLDER, keys).facts(RUN, FINGERPRINT)
    limits = scenario.limits
    if scenario.max_concurrent:
        ahead = [(lifecycle.RunFacts(), limits)] * scenario.max_concurrent["ahead"]
        is_open = lifecycle.chosen([*ahead, (facts, limits)], scenario.max_concurrent["limit"])[-1]
    else:
        is_open = lifecycle.is_open(facts, limits)
    run = RunRecord(name=RUN, index=0, fingerprint=FINGERPRINT, region="us-east-1", root="us-east-1", instance_type="t3.micro",
                    max_attempts=limits.max_attempts, max_interruptions=limits.max_interruptions, params={})  # fmt: skip
    sweep = SweepRecord(id="lc", results=Results(bucket="b", region="us-east-1", folder=FOLDER), runs=(run,), sweep_file=None)
    (status,) = run_statuses(sweep, observation(scenario, keys))
    step = lifecycle.agent_start(facts, limits, scenario.workload_exit, heartbeat_stale=scenario.heartbeat_stale)
    return {
        "started": lifecycle.started(facts),
        "open": is_open,
        "blocked": lifecycle.blocked(facts, limits),
        "final": status.final,
        "status": str(status.status),
        "attempts": status.attempts,
        "instance_id": status.instance_id,
        "agent": {"workload": step.workload, "done": step.done and str(step.done), "outcome": step.outcome and str(step.outcome)},
    }


def test_the_table_covers_what_it_must() -> None:
    assert len(SCENARIOS) >= 30
    assert len({scenario.name for scenario in SCENARIOS}) == len(SCENARIOS)
    statuses = {scenario.expect["status"] for scenario in SCENARIOS}
    assert set(Status) <= statuses  # every status of DESIGN §6 and the collector's pending and unknown
    agent = {(s.agent["workload"], s.agent["done"], s.agent["outcome"]) for s in SCENARIOS}
    assert {(False, None, None), (False, "exhausted", None), (False, "cancelled", None), (True, None, "failed")} <= agent
    assert {scenario.heartbeat_stale for scenario in SCENARIOS} == {False, True}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[scenario.name for scenario in SCENARIOS])
def test_scenario(scenario: Scenario) -> None:
    decided = decide(scenario)
    expected = {**{name: decided[name] for name in ("attempts", "instance_id")}, **scenario.expect, "agent": scenario.agent}
    assert decided == expected


def test_a_done_marker_is_the_whole_key_name() -> None:
    """A key that only begins like a done marker is none: the pattern is matched whole, as Terraform anchors it."""
    assert facts_of(["_done/R/success.0/x", "_done/R/failed.1x", "_done/R/timeout.none.x"]).done is None
    assert facts_of(["_done/R/success.0/x", "_done/R/failed.1"]).done.status is Status.FAILED


# --- properties: the three parts agree on any keys --------------------------------------------------

OUTCOMES = [*map(str, contract.OUTCOME_STATUSES), "bogus", "failed.x"]
key_names = st.one_of(
    st.builds("_attempts/R/i-{}".format, st.integers(0, 3)),
    st.builds("_attempts/R/i-{}.{}".format, st.integers(0, 3), st.sampled_from(OUTCOMES)),
    st.builds("_done/R/{}.{}".format, st.sampled_from([*map(str, contract.DONE_STATUSES), "interrupted", "bogus"]), st.sampled_from(["0", "1", "none", "x"])),
    st.sampled_from(["_stop/RUN", "_stop/_all", "_stop/other", "_attempts/R", "_attempts/R/", "_done/R", "_attempts/OLD/i-9.failed", "_done/OLD/success.0"]),
)
limits = st.builds(lifecycle.Limits, st.integers(1, 3), st.integers(1, 3), st.booleans())


def facts_of(names: list[str]) -> lifecycle.RunFacts:
    scenario = Scenario("generated", tuple(names), lifecycle.Limits(1, 1), {}, {}, None, (), None, 0)
    return lifecycle.parse(FOLDER, listed(scenario.control_keys(FOLDER, RUN, FINGERPRINT))).facts(RUN, FINGERPRINT)


@given(st.lists(key_names, max_size=8), limits)
def test_final_exactly_when_terraform_launches_the_run_no_more(names: list[str], limits: lifecycle.Limits) -> None:
    """With no instance and everything read: final ⇔ not open, so no finished run is relaunched and none is stranded."""
    facts = facts_of(names)
    view = lifecycle.collector_view(facts, limits)
    assert view.final == (not lifecycle.is_open(facts, limits))
    assert view.status in (Status.PENDING, *contract.OUTCOME_STATUSES, Status.EXHAUSTED, Status.CANCELLED)


@given(st.lists(key_names, max_size=8), limits)
def test_the_agent_finishes_a_run_as_the_collector_reports_it(names: list[str], limits: lifecycle.Limits) -> None:
    """A final run is never run again; where the collector calls a run final without a done marker, the agent writes that status."""
    facts = facts_of(names)
    view = lifecycle.collector_view(facts, limits)
    step = lifecycle.agent_start(facts, limits)
    if view.final:
        assert not step.workload
        assert step.done == (None if facts.done else view.status)
    if step.workload:
        assert not view.final


@given(st.lists(st.tuples(st.lists(key_names, max_size=4), limits), max_size=6), st.integers(1, 4))
def test_max_concurrent_keeps_started_runs_and_fills_up_in_order(runs: list[Any], cap: int) -> None:
    states = [(facts_of(names), limit) for names, limit in runs]
    kept = lifecycle.chosen(states, cap)
    started = [facts.done is None and lifecycle.started(facts) for facts, _ in states]
    waiting = [n for n, (facts, limit) in enumerate(states) if lifecycle.is_open(facts, limit) and not started[n]]
    assert all(kept[n] for n, flag in enumerate(started) if flag)  # a started run is never dropped
    assert all(lifecycle.is_open(facts, limit) for (facts, limit), flag in zip(states, kept, strict=True) if flag)  # the cap only removes
    launched = [n for n in waiting if kept[n]]
    assert launched == waiting[: max(0, cap - sum(started))]  # the first ones in the sweep's order, up to the cap


# --- single rules the table does not spell out -------------------------------------------------------


def test_a_done_marker_carries_its_exit_code_and_when_it_was_written() -> None:
    assert facts_of(["_attempts/R/i-1", "_done/R/failed.3"]).done == lifecycle.Done(Status.FAILED, 3, AT + timedelta(seconds=1))
    assert facts_of(["_done/R/timeout.none"]).done == lifecycle.Done(Status.TIMEOUT, None, AT)


def test_a_live_instance_shows_the_status_its_agent_tagged() -> None:
    def shown(tag: str | None) -> lifecycle.View:
        instance = Instance(instance_id="i-1", region="us-east-1", run=RUN, fingerprint=FINGERPRINT, state="running", status_tag=tag,
                            launched=AT)  # fmt: skip
        return lifecycle.collector_view(lifecycle.RunFacts(), lifecycle.Limits(3, 2), instance)

    assert shown("success") == lifecycle.View(Status.SUCCESS, False)  # its agent is uploading: not final before the done marker
    assert [shown(tag).status for tag in (None, "pending", "running", "bogus")] == [Status.RUNNING] * 4


def test_the_collector_says_why_when_the_status_alone_does_not() -> None:
    limits = lifecycle.Limits(3, 2)

    def reason(names: list[str], unread: tuple[str, ...] = ()) -> str:
        return lifecycle.collector_view(facts_of(names), limits, None, unread).reason

    assert reason(["_attempts/R/i-2", "_attempts/R/i-1"]) == "attempt on i-1, i-2 ended without an outcome; relaunched by the next apply"
    assert reason(["_attempts/R/i-1.failed", "_attempts/R/i-2.interrupted", "_attempts/R/i-3.interrupted"]) == (
        "1 failed attempts, 2 interruptions"
    )
    assert reason(["_stop/RUN"]) == "stop marker"
    assert reason(["_attempts/R/i-1.failed"]) == "relaunched by the next apply"
    assert reason([]) == ""
    assert reason([], ("_done", "_attempts")) == "could not read _done, _attempts"


def test_without_max_concurrent_every_open_run_is_kept() -> None:
    runs = [(facts_of(names), lifecycle.Limits(1, 1)) for names in ([], ["_done/R/success.0"], ["_attempts/R/i-1"], ["_stop/RUN"])]
    assert lifecycle.chosen(runs, None) == (True, False, True, False)


def test_an_agent_on_a_fresh_run_runs_it_and_by_default_succeeds() -> None:
    assert lifecycle.agent_start(lifecycle.RunFacts(), lifecycle.Limits(3, 2)) == lifecycle.AgentStep(True, Status.SUCCESS, Status.SUCCESS)
