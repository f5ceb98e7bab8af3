"""The lavaan model-syntax parser and lavaan's default parameter table (vccscale.sem.syntax / .model)."""
from __future__ import annotations

import pytest

from vccscale.errors import ModelError
from vccscale.sem.model import build_partable
from vccscale.sem.syntax import parse_model


def keys(rows):
    return [(r.lhs, r.op, r.rhs) for r in rows]


def test_basic_operators_and_intercepts():
    rows = parse_model("f =~ x1 + x2 + x3\n f ~ z\n x1 ~~ x2\n x1 ~ 1\n y ~ 1 + z")
    assert keys(rows) == [("f", "=~", "x1"), ("f", "=~", "x2"), ("f", "=~", "x3"), ("f", "~", "z"),
                          ("x1", "~~", "x2"), ("x1", "~1", ""), ("y", "~1", ""), ("y", "~", "z")]


def test_comments_semicolons_and_continuation_lines():
    rows = parse_model("""
        # a comment line
        visual =~ x1 + x2 +   ! lavaan's other comment character
                  x3
        textual =~ x4; speed =~ x7
                 + x8
        dem =~
            y1
    """)
    assert keys(rows) == [("visual", "=~", "x1"), ("visual", "=~", "x2"), ("visual", "=~", "x3"),
                          ("textual", "=~", "x4"), ("speed", "=~", "x7"), ("speed", "=~", "x8"),
                          ("dem", "=~", "y1")]
    assert [r.line for r in rows] == [3, 3, 3, 5, 5, 5, 7]


def test_plus_on_both_sides():
    rows = parse_model("y1 + y2 ~ x1 + x2")
    assert keys(rows) == [("y1", "~", "x1"), ("y2", "~", "x1"), ("y1", "~", "x2"), ("y2", "~", "x2")]


def test_modifiers():
    rows = parse_model('f =~ NA*x1 + 1*x2 + a*x3 + "b"*x4 + start(0.5)*x5 + label("c")*x6 + 0.7?x7 + '
                       'equal("a")*x8 + 2.5e-1*x9')
    m = {r.rhs: r.modifier for r in rows}
    assert m["x1"].fixed == [None]
    assert m["x2"].fixed == [1.0]
    assert m["x3"].label == ["a"]
    assert m["x4"].label == ["b"]
    assert m["x5"].start == [0.5]
    assert m["x6"].label == ["c"]
    assert m["x7"].start == [0.7]
    assert m["x8"].label == ["a"]
    assert m["x9"].fixed == [0.25]


def test_vector_modifiers_and_chained_modifiers():
    rows = parse_model("f =~ c(1, NA)*x1 + c(l1, l2)*x2 + NA*a*x3")
    m = {r.rhs: r.modifier for r in rows}
    assert m["x1"].fixed == [1.0, None]
    assert m["x2"].label == ["l1", "l2"]
    assert m["x3"].fixed == [None] and m["x3"].label == ["a"]


def test_duplicates_merge_modifiers():
    rows = parse_model("f =~ NA*x1 + x2 + x3\n f =~ l1*x1")
    assert keys(rows) == [("f", "=~", "x1"), ("f", "=~", "x2"), ("f", "=~", "x3")]
    assert rows[0].modifier.fixed == [None] and rows[0].modifier.label == ["l1"]


def test_defined_and_constraints_keep_expressions():
    rows = parse_model("y ~ a*x + b*m\n ind := a * b\n tot := a^2 + exp(b)\n a == b")
    assert ("ind", ":=", "a * b") in keys(rows)
    assert ("a", "==", "b") in keys(rows)


@pytest.mark.parametrize("text,line,fragment", [
    ("f =~ x1 + x2\n f = x3", 2, "no operator"),
    ("f =~ x1 + + x2", 1, "empty term"),
    ("f =~ x1\n\n =~ x2", 3, "left-hand side"),
    ("f =~ x1 + x2 ~ x3", 1, "two operators"),
    ("f =~ 3x1", 1, "not a valid variable name"),
    ("f =~ foo(1)*x1", 1, "unknown modifier function"),
    ("f =~ x1\n y ~ y", 2, "regressed on itself"),
    ("f =~ x1 + x2\n g <~ x3", 2, "not supported"),
    ("f =~ x1\n x1 + 2*x2 ~ z", 2, "right-hand side"),
    ("f =~ c(1, a)*x1", 1, "mixes numbers and labels"),
    ("f =~ NA*x1 + 1*x1", 1, "conflicting fixed"),
])
def test_errors_name_the_line(text, line, fragment):
    with pytest.raises(ModelError) as exc:
        parse_model(text)
    msg = str(exc.value)
    assert f"line {line}" in msg, msg
    assert fragment in msg, msg


def test_no_model_statements():
    with pytest.raises(ModelError, match="no model statements"):
        parse_model("# only a comment\n")
    with pytest.raises(ModelError, match="must be a string"):
        parse_model(None)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------- lavaan's defaults
def table(pt, group=1):
    return [(r["lhs"], r["op"], r["rhs"], r["free"], r["ustart"]) for r in pt.rows if r["group"] == group]


def test_cfa_defaults_marker_and_covariances():
    pt = build_partable("visual =~ x1 + x2 + x3\n textual =~ x4 + x5 + x6", model_type="cfa")
    rows = table(pt)
    assert rows[0] == ("visual", "=~", "x1", False, 1.0)
    assert rows[1][3] is True
    assert ("visual", "~~", "textual", True, None) in rows
    assert [r[0] for r in rows if r[1] == "~~" and r[0] == r[2]] == ["x1", "x2", "x3", "x4", "x5", "x6", "visual",
                                                                     "textual"]
    assert pt.npar == 13 and not pt.meanstructure


def test_std_lv_fixes_variances_not_loadings():
    pt = build_partable("f =~ x1 + x2 + x3", std_lv=True)
    rows = table(pt)
    assert rows[0] == ("f", "=~", "x1", True, None)
    assert ("f", "~~", "f", False, 1.0) in rows


def test_sem_defaults_exogenous_and_pure_endogenous():
    pt = build_partable("ind60 =~ x1 + x2\n dem60 =~ y1 + y2\n dem65 =~ y3 + y4\n dem60 ~ ind60\n"
                        " dem65 ~ ind60 + dem60\n z1 ~ ind60\n z2 ~ ind60")
    rows = table(pt)
    # dem65, z1 and z2 predict nothing: their residuals covary (auto.cov.y); dem60 predicts dem65: no
    assert ("dem65", "~~", "z1", True, None) in rows and ("z1", "~~", "z2", True, None) in rows
    assert not any(r[1] == "~~" and "dem60" in (r[0], r[2]) and r[0] != r[2] for r in rows)
    assert pt.lv_x == ["ind60"]


def test_fixed_x_covariates_are_not_parameters():
    pt = build_partable("f =~ y1 + y2 + y3\n f ~ a + b")
    assert pt.ov_x == ["a", "b"]
    exo = [(r["lhs"], r["rhs"]) for r in pt.rows if r["exo"]]
    assert exo == [("a", "a"), ("a", "b"), ("b", "b")]
    assert all(r["par"] == -1 for r in pt.rows if r["exo"])


def test_single_indicator_residual_fixed_to_zero():
    pt = build_partable("f =~ x1 + x2 + x3\n g =~ x4\n f ~ g")
    assert ("x4", "~~", "x4", False, 0.0) in table(pt)


def test_labels_share_parameters_and_user_overrides():
    pt = build_partable("f =~ x1 + a*x2 + a*x3\n f ~~ 0.5*f\n x1 ~~ x2")
    par = {(r["lhs"], r["op"], r["rhs"]): r["par"] for r in pt.rows}
    assert par[("f", "=~", "x2")] == par[("f", "=~", "x3")] >= 0
    assert ("f", "~~", "f", False, 0.5) in table(pt)
    assert ("x1", "~~", "x2", True, None) in table(pt)


def test_intercepts_switch_on_meanstructure():
    pt = build_partable("f =~ x1 + x2 + x3\n x1 ~ 1")
    assert pt.meanstructure
    rows = table(pt)
    assert ("f", "~1", "", False, 0.0) in rows and ("x2", "~1", "", True, None) in rows


def test_multigroup_group_equal_and_free_latent_means():
    pt = build_partable("f =~ x1 + x2 + x3", ngroups=2, group_labels=["a", "b"],
                        group_equal=["loadings", "intercepts"])
    g1 = {(r["lhs"], r["op"], r["rhs"]): r for r in pt.rows if r["group"] == 1}
    g2 = {(r["lhs"], r["op"], r["rhs"]): r for r in pt.rows if r["group"] == 2}
    assert g1[("f", "=~", "x2")]["par"] == g2[("f", "=~", "x2")]["par"]
    assert g1[("x1", "~1", "")]["par"] == g2[("x1", "~1", "")]["par"]
    assert g1[("x1", "~~", "x1")]["par"] != g2[("x1", "~~", "x1")]["par"]
    assert not g1[("f", "~1", "")]["free"] and g2[("f", "~1", "")]["free"]


def test_multigroup_vector_modifier_needs_one_value_per_group():
    with pytest.raises(ModelError, match="3 values but the model has 2 group"):
        build_partable("f =~ c(1, NA, 1)*x1 + x2 + x3", ngroups=2)


@pytest.mark.parametrize("text,fragment", [
    ("y ~ a*x\n d := a*q", "unknown label"),
    ("y ~ a*x\n a == 2", "only equality constraints between two labels"),
    ("y ~ a*x\n y ~~ x\n b > 0", "inequality constraints"),
    ("y ~ x1*x2 + x1", "also a variable name"),
    ("f =~ x1 + a*x2 + x3\n f ~~ a*f\n f ~~ 1*f", "shared by a fixed and a free"),
    ("y ~ a*x\n d := a +* 2", "cannot read the expression"),
    ("y ~ a*x\n d := a.b__class__", "may only use"),
    ("y ~ a*x\n d := __import__(a)", "unknown function"),
])
def test_model_errors(text, fragment):
    with pytest.raises(ModelError, match=fragment):
        build_partable(text)


def test_group_equal_validation():
    with pytest.raises(ModelError, match="unknown group_equal"):
        build_partable("f =~ x1 + x2 + x3", ngroups=2, group_equal=["loading"])
