"""spawn_tf/diagnostics.py: diagnostics as values, their order, counts and the did-you-mean hint."""

from __future__ import annotations

from spawn_tf.diagnostics import Span, did_you_mean, error, has_errors, ordered, summary, warning


def test_render_and_json_name_the_place() -> None:
    problem = error("bad", "it is bad", Span(file="s.yaml", line=3, col=5), hint="fix it")
    assert problem.render() == "s.yaml:3:5: error: it is bad\n  hint: fix it"
    assert warning("w", "careful").render() == "warning: careful"
    assert problem.as_json() == {"severity": "error", "code": "bad", "message": "it is bad", "file": "s.yaml", "line": 3, "col": 5,
                                 "hint": "fix it"}  # fmt: skip


def test_ordered_by_place_without_repeats() -> None:
    late, early = error("a", "m", Span(file="f", line=9, col=1)), warning("b", "m", Span(file="f", line=2, col=4))
    unplaced = error("c", "m")
    assert ordered([late, early, unplaced, late]) == (unplaced, early, late)


def test_summary_and_has_errors() -> None:
    assert summary([]) == "" and not has_errors([])
    assert summary([error("a", "m"), error("b", "m"), warning("c", "m")]) == "2 errors, 1 warning"
    assert summary([warning("c", "m")]) == "1 warning" and not has_errors([warning("c", "m")])
    assert has_errors([warning("c", "m"), error("a", "m")])


def test_did_you_mean_names_the_closest_only() -> None:
    assert did_you_mean("instnce_type", ["instance_type", "region", "ttl"]) == "did you mean 'instance_type'?"
    assert did_you_mean("zzz", ["instance_type", "region"]) is None
    assert did_you_mean("ab", ["abc", "abd", "xyz"]) == "did you mean 'abc' or 'abd'?"
