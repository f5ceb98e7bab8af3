"""`vccscale simulate --study`: pilot exports drawn from the population model a study's hypotheses imply.

Every number is checked against an independent value: closed forms of the standardised population model
(computed by the separate RAM code of vccscale.simulate.population from the written lavaan syntax), Isserlis'
theorem for the variance of quadratic terms, the reliability of a mean score for ICC(1), and recovery of planted
effects by the project's own hypothesis tests.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from vccscale.cli import main

REPO = Path(__file__).resolve().parents[1]
EFFECT, LOADING, ICC, DYAD_R, CONGRUENCE = 0.3, 0.7, 0.2, 0.4, 0.4


def make_study(root: Path, name: str, family: str, hypotheses: list[str], versions: str | None = None,
               codebook: bool = False) -> Path:
    """A study made by `vccscale init`, edited to a family, versions and hypotheses (as a researcher would)."""
    from vccscale.pipeline import init_study

    d = init_study(name, root)
    p = d / "study.yaml"
    t = p.read_text(encoding="utf-8")
    t = t.replace("families: [A]", f"families: [{family}]")
    if versions:
        t = t.replace("versions: [provider, customer]", f"versions: [{versions}]")
    t = t.replace("hypotheses: [A]", f"hypotheses: [{', '.join(hypotheses)}]")
    if not codebook:
        t = t.replace("  codebook: build/codebook.json\n", "")
    p.write_text(t, encoding="utf-8")
    return p


def long_frame(export: Path, study_file: Path, registry):
    from vccscale.instrument import build_instrument, codebook_from_instrument
    from vccscale.io import read_export
    from vccscale.clean.scoring import rescored_long
    from vccscale.study import load_study

    cb = codebook_from_instrument(build_instrument(registry, load_study(study_file)), registry)
    return rescored_long(read_export(export, cb)), cb


@pytest.fixture(scope="module")
def family_a(tmp_path_factory, registry):
    """Family A (provider, customer) with H1 (paths), H6 (second-order -> outcomes), H12 (provider > customer)
    and H15 (paths and an indirect effect) at n = 600."""
    from vccscale.simulate import simulate_study

    root = tmp_path_factory.mktemp("simA")
    study = make_study(root, "pilot_a", "A", ["H1", "H6", "H12", "H15"])
    out = root / "export.csv"
    sim = simulate_study(study, 600, 11, out, registry=registry, truth=root / "truth.csv",
                         population_out=root / "population.lavaan")
    return {"study": study, "out": out, "sim": sim, "root": root}


# ------------------------------------------------------------------------------------------- population model
def test_population_is_standardised_with_the_requested_values(family_a, registry):
    """The written syntax, read back by the independent RAM code of vccscale.simulate.population, implies unit
    latent variances, standardised loadings of .7 (negative for reverse-keyed items) and paths of .3."""
    from vccscale.simulate import population_model, study_population

    pop = study_population(family_a["study"], registry)
    assert pop.sides == ("provider", "customer")
    for side in pop.sides:
        pm = population_model(pop.syntax(side))
        names = list(pm.ov_names) + list(pm.lv_names)
        cov = pm.cov
        var = dict(zip(names, np.diag(cov)))
        for lv in pm.lv_names:
            assert var[lv] == pytest.approx(1.0, abs=1e-9), lv
        for r in pm.rows:
            if r["op"] == "=~" and r["rhs"] in pm.ov_names:      # item loadings
                std = r["value"] * math.sqrt(var[r["lhs"]] / var[r["rhs"]])
                rev = registry.items[r["rhs"]].reverse
                assert std == pytest.approx(-LOADING if rev else LOADING, abs=1e-9), r["rhs"]
        # H1: three drivers -> alignment (.3 each, standardised; all variances are 1)
        for f in ("a_drv_cust_involvement", "a_drv_proactive_attitude", "a_drv_collaboration"):
            assert pm.value("a_align_diag_design", "~", f) == pytest.approx(EFFECT, abs=1e-12)
        # drivers share an outcome: uncorrelated; unrelated exogenous constructs correlate .2
        i = {n: k for k, n in enumerate(names)}
        assert cov[i["a_drv_cust_involvement"], i["a_drv_collaboration"]] == pytest.approx(0.0, abs=1e-12)
        assert abs(cov[i["a_drv_cust_involvement"], i["x_value_codestruction"]]) == pytest.approx(0.2, abs=1e-12)
        lv = [i[n] for n in pm.lv_names]
        assert np.linalg.eigvalsh(cov[np.ix_(lv, lv)]).min() > 0
    # H12: a latent mean difference of d = .5 (provider > customer) with unit variance in both groups
    mu = {s: pop.mu[s][pop.index("x_vcc_customer")] for s in pop.sides}
    assert mu["provider"] - mu["customer"] == pytest.approx(0.5, abs=1e-12)


def test_quadratic_congruence_term_variance_closed_form(tmp_path, registry):
    """Family B, H17: q = (X - Y)^2 of two standard normal latent variables with correlation r has variance
    8 (1 - r)^2 (Isserlis); its standardised weight is .4 and the outcome still has variance 1."""
    from vccscale.simulate import population_model, study_population

    study = make_study(tmp_path, "pilot_b", "B", ["H17"])
    pop = study_population(study, registry)
    (q,) = [q for q in pop.q if q.target == "b_p1_outcome"]
    S = pop.cov[pop.sides[0]]
    r = S[pop.index(q.a), pop.index(q.b)]
    for s in pop.sides:
        assert q.var[s] == pytest.approx(8 * (1 - r) ** 2, rel=1e-12)
        assert q.coef[s] * math.sqrt(q.var[s]) == pytest.approx(-CONGRUENCE, abs=1e-12)
        pm = population_model(pop.syntax(s))
        names = list(pm.ov_names) + list(pm.lv_names)
        assert pm.cov[names.index("b_p1_outcome"), names.index("b_p1_outcome")] == pytest.approx(1.0, abs=1e-9)


@pytest.mark.slow
def test_conflicts_are_resolved_and_reported(tmp_path, registry):
    from vccscale.simulate import study_population

    d = make_study(tmp_path, "pilot_d", "D", ["H57", "H58"])
    b = study_population(d, registry)
    loops = [c for c in b.conflicts if c["rule"] == "feedback loop"]
    assert [c["path"] for c in loops] == ["d_materializing -> d_spe"]   # H57's d_spe -> d_materializing is first
    rows = [p for p in b.planted if p.hypothesis == "H58" and p.parameter == "d_materializing -> d_spe"]
    assert rows and not rows[0].planted and "feedback loop" in rows[0].note
    c = make_study(tmp_path, "pilot_c", "C", ["H40"], versions="staff, partner_manager")
    b = study_population(c, registry)
    assert any(x["rule"] == "self-loop" and x["path"] == "x_trust -> x_trust" for x in b.conflicts)
    nest = [p for p in b.planted if p.hypothesis == "H40" and p.type == "nesting"]
    assert nest and nest[0].planted and nest[0].value == pytest.approx(ICC)
    a = make_study(tmp_path, "pilot_a2", "A", ["H8", "H14"])
    b = study_population(a, registry)
    # H8 states driver -> value = 0 (full mediation); H14's congruence slope on the same path yields to it
    slope = [p for p in b.planted if p.hypothesis == "H14" and p.parameter.startswith("a_drv_collaboration ->")]
    assert slope and not slope[0].planted and "H8 states this path 0" in slope[0].note
    zero = [p for p in b.planted if p.hypothesis == "H8" and p.parameter == "a_drv_collaboration -> x_vcc_customer"]
    assert zero[0].planted and zero[0].value == 0.0


# ------------------------------------------------------------------------------------------- the export
def test_export_imports_with_the_codebook_and_nesting_ids(family_a, registry):
    lf, cb = long_frame(family_a["out"], family_a["study"], registry)
    sim = family_a["sim"]
    assert sim.codebook_source == "built" and sim.codebook_path is None
    assert len(lf) == 600 and set(lf["perspective"]) == {"provider", "customer"}
    # one provider and one customer per relationship; organisations hold one side only
    per = lf.groupby("relationship_id")["perspective"].agg(lambda s: tuple(sorted(s)))
    assert (per == ("customer", "provider")).all() and len(per) == 300
    assert (lf.groupby("organisation_id")["perspective"].nunique() == 1).all()
    sizes = lf.groupby("organisation_id").size()
    assert sizes.min() >= 4 and sizes.max() <= 8 + 3
    truth = pd.read_csv(family_a["root"] / "truth.csv")
    assert (truth["type"] == "attentive").all()       # no flaws unless asked for
    # reverse-keyed items load negatively in the raw answers and positively after reverse-keying
    from vccscale.io import read_export

    raw = read_export(family_a["out"], cb).to_long()
    for frame, sign in ((raw, -1), (lf, 1)):
        x = frame[["a_drv_cust_involvement_01", "a_drv_cust_involvement_04"]].astype(float)
        assert sign * x.corr().iloc[0, 1] > 0.2


@pytest.mark.slow
def test_same_seed_same_bytes_across_processes(tmp_path):
    study = make_study(tmp_path, "pilot_h", "A", ["H1", "H15"])
    digests = []
    for k, hashseed in enumerate(("0", "12345")):
        out = tmp_path / f"e{k}.csv"
        env = {**os.environ, "PYTHONHASHSEED": hashseed, "PYTHONPATH": str(REPO)}
        r = subprocess.run([sys.executable, "-m", "vccscale", "simulate", "--study", str(study), "--n", "60",
                            "--seed", "5", "--out", str(out), "--population-out", str(tmp_path / f"p{k}.lavaan")],
                           env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert "codebook: the instrument built in memory" in r.stderr
        digests.append((hashlib.sha256(out.read_bytes()).hexdigest(),
                        hashlib.sha256((tmp_path / f"p{k}.lavaan").read_bytes()).hexdigest()))
    assert digests[0] == digests[1]
    other = tmp_path / "other.csv"
    assert CliRunner().invoke(main, ["simulate", "--study", str(study), "--n", "60", "--seed", "6", "--out",
                                     str(other)]).exit_code == 0
    assert hashlib.sha256(other.read_bytes()).hexdigest() != digests[0][0]


# ------------------------------------------------------------------------------------------- recovery
@pytest.mark.slow
def test_recovery_family_a(family_a, registry):
    """At n = 600 the project's hypothesis tests support the planted paths, the second-order path, the side
    difference and the mediation; a path that is zero in the population is not significant; ICC(1) of a scale
    score by organisation and the provider-customer correlation are near their planted values times the
    reliability of the mean score (closed form, before categorisation)."""
    from vccscale.models.hypotheses import scale_score, test_hypotheses
    from vccscale.models.multilevel import icc
    from vccscale.sem import fit_sem
    from vccscale.study import load_study

    lf, _ = long_frame(family_a["out"], family_a["study"], registry)
    res = {r.id: r for r in test_hypotheses(load_study(family_a["study"]), lf, registry)}
    for h in ("H1", "H6", "H12", "H15"):
        assert res[h].decision == "supported", (h, res[h].reason)
    est = {p["name"]: p["std_all"] for p in res["H1"].parameters}
    for v in est.values():
        assert v == pytest.approx(EFFECT, abs=0.12)
    # a zero path: a driver has no effect on satisfaction beyond value for the customer (not planted)
    items = {c: [i.id for i in registry.items_of(c) if i.id in lf.columns]
             for c in ("a_drv_collaboration", "x_vcc_customer", "x_rel_satisfaction")}
    model = "\n".join(f"{c} =~ {' + '.join(v)}" for c, v in items.items())
    model += "\nx_rel_satisfaction ~ x_vcc_customer + a_drv_collaboration\n"
    e = fit_sem(lf, model).estimates
    row = e[(e["lhs"] == "x_rel_satisfaction") & (e["op"] == "~") & (e["rhs"] == "a_drv_collaboration")].iloc[0]
    assert row["pvalue"] > 0.05 and abs(row["std_all"]) < 0.1
    # ICC(1) of a scale score by organisation: ICC x reliability of the mean of k items loading .7
    cid = "a_drv_collaboration"
    k = len(items[cid])
    omega = (k * LOADING) ** 2 / ((k * LOADING) ** 2 + k * (1 - LOADING ** 2))
    score, _ = scale_score(registry, cid, lf)
    r = icc(pd.DataFrame({"g": lf["organisation_id"], "v": score}), "g", "v")
    assert r.icc1 == pytest.approx(ICC * omega, abs=0.07)
    # the provider's and the customer's scores of one relationship correlate dyad_r x reliability
    d = pd.DataFrame({"rel": lf["relationship_id"], "side": lf["perspective"], "v": score})
    wide = d.pivot(index="rel", columns="side", values="v")
    assert wide["provider"].corr(wide["customer"]) == pytest.approx(DYAD_R * omega, abs=0.1)


@pytest.mark.slow
def test_congruence_family_b(tmp_path, registry):
    """H17 (family B): the response surface of the phase-1 outcome on the VC and VK composites shows a1 > 0 and
    a4 < 0 at n = 600 (planted: slope .3 along X = Y, -(X - Y)^2 with weight .4). The further conditions of a
    congruence effect (Humberg et al. 2019: ridge on X = Y, a3 = 0) are tested by equivalence; with this weak
    curvature (attenuated in scale scores) the principal axis is too imprecise at n = 600 (SE of p11 about .3) for
    them to be shown, so the decision is partial and names them (measured at seeds 3-5)."""
    from vccscale.models.hypotheses import test_hypotheses
    from vccscale.simulate import simulate_study
    from vccscale.study import load_study

    study = make_study(tmp_path, "pilot_b", "B", ["H17"])
    out = tmp_path / "b.csv"
    sim = simulate_study(study, 600, 3, out, registry=registry)
    planted = sim.to_frame()
    assert planted[planted.type == "congruence"].planted.all()
    lf, _ = long_frame(out, study, registry)
    (r,) = test_hypotheses(load_study(study), lf, registry)
    surf = {p["name"]: p for p in r.parameters}
    assert surf["a1"]["est"] > 0 and surf["a4"]["est"] < 0
    assert surf["a1"]["pvalue"] < 0.05 and surf["a4"]["pvalue"] < 0.05
    assert r.decision == "partial" and "p11 = 1 (congruence condition" in r.reason, r.reason


@pytest.mark.slow
@pytest.mark.parametrize("family,versions", [("C", "staff, partner_manager"), ("D", None)])
def test_families_c_and_d_simulate(tmp_path, registry, family, versions):
    from vccscale.simulate import simulate_study

    study = make_study(tmp_path, f"pilot_{family.lower()}", family, [family], versions=versions)
    out = tmp_path / "x.csv"
    sim = simulate_study(study, 240, 2, out, registry=registry)
    lf, _ = long_frame(out, study, registry)
    assert len(lf) == 240
    if family == "C":
        assert set(lf["perspective"]) == {"staff", "partner_manager"} and not sim.design["dyadic"]
        assert sim.design["n_networks"] > 0        # the instrument records network ids
    else:
        assert sim.design["dyadic"]
    rows = sim.to_frame()
    assert rows.planted.any() and (rows.loc[~rows.planted, "note"] != "").all()
    assert sim.max_latent_correlation < 0.85


# ------------------------------------------------------------------------------------------- CLI
def test_cli_json_contract(tmp_path):
    study = make_study(tmp_path, "pilot_j", "A", ["H1", "H12"])
    out, pop = tmp_path / "e.csv", tmp_path / "pop.lavaan"
    res = CliRunner().invoke(main, ["simulate", "--study", str(study), "--n", "80", "--seed", "1", "--out", str(out),
                                    "--population-out", str(pop), "--straightliners", "0.05", "--previews", "2",
                                    "--format", "json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["codebook"]["source"] == "built" and d["n"] == 80 and d["export"]["rows"] == 82
    assert d["export"]["counts"]["straightliner"] == 4
    assert [h["id"] for h in d["planted"]] == ["H1", "H12"]
    eff = d["planted"][0]["effects"]
    assert {"relation", "type", "parameter", "value", "planted", "note"} <= set(eff[0])
    assert all(k == k.lower() for k in d)
    from vccscale.simulate import population_model

    text = pop.read_text()
    assert "customer" in text and population_model(text.split("# vccscale pilot")[1].join(["# x", ""])) is not None


@pytest.mark.slow
def test_cli_errors(tmp_path):
    r = CliRunner()
    st = make_study(tmp_path, "pilot_e", "A", ["H1"])
    t = st.read_text()
    no_models = tmp_path / "nomodels.yaml"
    no_models.write_text(t[:t.index("# Hypothesis tests")], encoding="utf-8")
    res = r.invoke(main, ["simulate", "--study", str(no_models), "--n", "50", "--seed", "1", "--out",
                          str(tmp_path / "x.csv")])
    assert res.exit_code == 1 and "nomodels.yaml" in res.output and "'models'" in res.output
    no_inst = tmp_path / "noinst.yaml"
    no_inst.write_text(t[:t.index("# What the instrument")] + t[t.index("# The responses"):], encoding="utf-8")
    res = r.invoke(main, ["simulate", "--study", str(no_inst), "--n", "50", "--seed", "1", "--out",
                          str(tmp_path / "x.csv")])
    assert res.exit_code == 1 and "noinst.yaml" in res.output and "'instrument'" in res.output
    res = r.invoke(main, ["simulate", "--study", str(st), "--n", "10", "--seed", "1", "--out", str(tmp_path / "x.csv")])
    assert res.exit_code == 1 and "too small" in res.output and "'n'" in res.output
    res = r.invoke(main, ["simulate", "--study", str(st), "--model", "m.lavaan", "--n", "50", "--seed", "1", "--out",
                          str(tmp_path / "x.csv")])
    assert res.exit_code == 2 and "not both" in res.output
    res = r.invoke(main, ["simulate", "--study", str(st), "--points", "5", "--n", "50", "--seed", "1", "--out",
                          str(tmp_path / "x.csv")])
    assert res.exit_code == 2
    # a codebook whose items name a construct the registry does not know
    from vccscale.instrument import build_instrument, codebook_from_instrument
    from vccscale.instrument.codebook import Codebook
    from vccscale.registry import load_registry
    from vccscale.study import load_study
    import dataclasses

    reg = load_registry()
    cb = codebook_from_instrument(build_instrument(reg, load_study(st)), reg)
    rows = [dataclasses.replace(x, construct="a_not_a_construct") if x.item_id == "a_drv_collaboration_01" else x
            for x in cb.rows]
    bad = tmp_path / "bad_codebook.json"
    Codebook(tuple(rows)).write_json(bad)
    res = r.invoke(main, ["simulate", "--study", str(st), "--codebook", str(bad), "--n", "50", "--seed", "1",
                          "--out", str(tmp_path / "x.csv")])
    assert res.exit_code == 1 and "bad_codebook.json" in res.output and "a_not_a_construct" in res.output


def test_congruence_and_asymmetry_on_one_surface_are_reported(tmp_path, registry):
    """H17 asks a congruence effect (the ridge on the line of congruence implies a3 = 0, Humberg et al. 2019) and
    H20 an asymmetry (a3 < 0) of the same surface: a3 is planted as H20 states and the conflict is reported, so a
    researcher knows H17 can be partial at best on such data. H17 alone: no such conflict."""
    from vccscale.simulate import study_population

    both = study_population(make_study(tmp_path, "pilot_b2", "B", ["H17", "H20"]), registry)
    (c,) = [c for c in both.conflicts if c["rule"] == "congruence vs asymmetry"]
    assert c["statements"][0].startswith("H17") and c["statements"][1] == "H20 (a3 < 0)"
    alone = study_population(make_study(tmp_path, "pilot_b3", "B", ["H17"]), registry)
    assert not [c for c in alone.conflicts if c["rule"] == "congruence vs asymmetry"]
