"""`vccscale hypotheses plan` and the model checks behind it (issue 17): every hypothesis's methods and status, the
self-loop and feedback-loop flags, and family-scope models kept recursive.

Independent values: cycles of small graphs by hand; the registry's known cases (H40 is x_trust -> x_trust; H57's
d_spe -> d_materializing and H58's d_materializing -> d_spe close a loop in one family model)."""
from __future__ import annotations

import json

from click.testing import CliRunner

from vccscale.cli import main
from vccscale.models.library import find_cycles, plan_edges, plan_hypothesis, plan_records


def test_find_cycles_by_hand():
    assert find_cycles([("a", "b"), ("b", "c")]) == []
    assert find_cycles([("a", "b"), ("b", "a"), ("a", "c")]) == [("a", "b", "a")]
    assert find_cycles([("c", "d"), ("d", "e"), ("e", "c"), ("x", "x")]) == [("c", "d", "e", "c"), ("x", "x")]
    # two loops through one node form one strongly connected component: one cycle reported for it
    assert len(find_cycles([("a", "b"), ("b", "a"), ("b", "c"), ("c", "b")])) == 1


def test_plan_lists_every_hypothesis_with_at_most_three_untested(registry):
    recs = plan_records(registry, registry.hypotheses.values())
    assert len(recs) == 71
    untested = [r for r in recs if r["status"] == "not_tested"]
    assert len(untested) <= 3 and all(r["reason"] for r in untested)
    assert [r["id"] for r in untested] == ["H46", "H60"]  # longitudinal data; interaction of an event index
    kinds = {r["id"]: {c["kind"] for c in r["components"]} for r in recs}
    assert kinds["H52"] == {"structure_comparison"} and kinds["H56"] == {"general_path"}
    assert all(r["status"] in ("full", "partial", "not_tested") for r in recs)
    full = [r for r in recs if r["status"] == "full"]
    assert all(not r["untested"] and r["components"] for r in full)
    # a partial plan always names what is not tested
    assert all(r["untested"] for r in recs if r["status"] == "partial")
    h40 = next(r for r in recs if r["id"] == "H40")
    assert h40["self_loop"] and "split its items" in h40["fix"] and h40["status"] == "partial"
    assert not any(r["cycle"] for r in recs)  # one model per hypothesis: no generated model is non-recursive


def test_family_scope_flags_the_feedback_loop_and_tests_apart(registry):
    recs = {r["id"]: r for r in plan_records(registry, registry.hypotheses_in("D"), scope="family")}
    assert recs["H57"]["cycle"] and recs["H58"]["cycle"]
    assert ["d_materializing", "d_spe", "d_materializing"] in recs["H57"]["cycles"]
    assert "separate models" in recs["H57"]["fix"]
    edges = plan_edges(plan_hypothesis(registry, registry.hypotheses["H57"]))
    assert ("d_spe", "d_materializing") in edges


def test_family_scope_models_leave_out_hypotheses_that_close_a_loop(registry):
    from vccscale.models.hypotheses import _separate_feedback_loops

    plans = [plan_hypothesis(registry, registry.hypotheses[h]) for h in ("H57", "H58", "H54")]
    by_family = {"D": list(plans)}
    notes = _separate_feedback_loops(by_family)
    assert set(notes) == {"H57", "H58"} and "feedback loop" in notes["H57"] and "H58" in notes["H57"]
    assert [p.id for p in by_family["D"]] == ["H54"]
    edges = set().union(*(plan_edges(p) for p in by_family["D"]))
    assert find_cycles(edges) == []


def test_cli_plan_json_and_table():
    r = CliRunner().invoke(main, ["hypotheses", "plan", "--format", "json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert len(rows) == 71 and {"id", "status", "components", "self_loop", "cycle", "fix"} <= set(rows[0])
    assert all(c["method"] for row in rows for c in row["components"])
    r = CliRunner().invoke(main, ["hypotheses", "plan", "--family", "D", "--scope", "family"])
    assert r.exit_code == 0 and "cycle" in r.output and "16 hypotheses" in r.output
    r = CliRunner().invoke(main, ["hypotheses", "plan", "--scope", "all"])
    assert r.exit_code == 2
