"""A researcher's own study, end to end (issue 13, points 3 and 7): the right n on wide exports, one scale score
and `vccscale score`, construct ids in mediate and rsa, `reliability --reverse`, and the README's CFA command on a
built and fake-exported study.

Expectations are independent of the code under test: hand-made data with closed forms, scores recomputed by hand
from the wide export, and psych's values in tests/reference/validate/wide_scale_reference.json (written by
wide_scale_reference.R; R is not needed here).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from vccscale.cli import main
from reference_data import load_reference

REF = Path(__file__).resolve().parent / "reference" / "validate"
WIDE = REF / "wide_scale.csv"
P_ITEMS = ["p1", "p2", "p3", "p4", "p5"]
STUDY_CONSTRUCTS = "[a_drv_cust_involvement, a_align_diag_design, x_vcc_customer, x_rel_satisfaction, " \
                   "b_p1_vc_identify_opps]"


def run(args, ok=True):
    res = CliRunner().invoke(main, [str(a) for a in args])
    if ok:
        assert res.exit_code == 0, res.output
    return res


@pytest.fixture(scope="module")
def ref():
    return load_reference(REF / "wide_scale_reference.json")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A fresh `vccscale init` study narrowed to a few constructs (one asked of both versions with reverse-keyed
    items, a formative composite of two joint sub-activities), built and fake-exported as the README says."""
    from vccscale.pipeline import init_study

    d = init_study("s", tmp_path_factory.mktemp("study"))
    text = (d / "study.yaml").read_text(encoding="utf-8")
    lines = [f"  constructs: {STUDY_CONSTRUCTS}" if ln.startswith("  families: [A]") else ln
             for ln in text.splitlines()]
    (d / "study.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    run(["instrument", "build", d / "study.yaml", "--out", d / "build"])
    run(["instrument", "fake-export", d / "build", "--n", 300, "--seed", 1, "--out", d / "data" / "export.csv"])
    return d


@pytest.fixture(scope="module")
def dataset(study):
    from vccscale.instrument.codebook import Codebook
    from vccscale.io import read_export

    return read_export(study / "data" / "export.csv", Codebook.read(study / "build" / "codebook.json"))


def hand_scores(ds, cid: str) -> pd.DataFrame:
    """A construct's score by hand from the wide export: per version, the mean of the version's items (reverse
    keyed: min + max - x; missing codes missing) when at least half are answered."""
    frames = []
    rows = [r for r in ds.codebook.rows if r.role == "item" and r.construct == cid]
    for persp in dict.fromkeys(r.perspective for r in rows):
        vals = []
        for r in (r for r in rows if r.perspective == persp):
            v = pd.to_numeric(ds.data[r.variable], errors="coerce").astype(float)
            v = v.where(~v.isin(r.missing_codes))
            vals.append(r.scale_min + r.scale_max - v if r.reverse else v)
        x = pd.concat(vals, axis=1)
        answered = x.notna().sum(axis=1)
        score = x.mean(axis=1).where(answered >= math.ceil(len(vals) / 2))
        frames.append(pd.DataFrame({"response_id": ds.data["ResponseId"], "perspective": persp or "joint",
                                    "relationship_id": ds.data["relationship_id"], cid: score}))
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------------------------------------ 1. right n
@pytest.mark.filterwarnings("ignore:an ultra-Heywood case")  # 3 items, 6 rows: only n is looked at
def test_n_is_the_respondents_who_answered_hand_made(tmp_path):
    """6 providers answer p1..p3, 4 customers leave them empty (they answer c1): n = 6, and the Feldt CI and
    Bartlett's chi-square follow from n = 6 (closed forms)."""
    from vccscale.validate import answered_rows, bartlett, cronbach_alpha, efa, item_analysis

    p = np.array([[1, 2, 1], [2, 2, 3], [3, 4, 3], [4, 4, 5], [5, 5, 4], [2, 1, 2]], float)
    data = pd.DataFrame(np.vstack([p, np.full((4, 3), np.nan)]), columns=["p1", "p2", "p3"])
    data["c1"] = [np.nan] * 6 + [3, 4, 5, 2]
    k, n = 3, 6
    alpha = k / (k - 1) * (1 - p.var(axis=0, ddof=1).sum() / p.sum(axis=1).var(ddof=1))
    a = cronbach_alpha(data, ["p1", "p2", "p3"])
    assert (a.n_obs, a.n_rows_without_answers) == (6, 4)
    assert a.alpha == pytest.approx(alpha, abs=1e-12)
    f_hi, f_lo = stats.f.ppf(0.975, n - 1, (n - 1) * (k - 1)), stats.f.ppf(0.025, n - 1, (n - 1) * (k - 1))
    assert (a.ci_lower, a.ci_upper) == pytest.approx((1 - (1 - alpha) * f_hi, 1 - (1 - alpha) * f_lo), abs=1e-12)
    b = bartlett(data, ["p1", "p2", "p3"])
    chisq = -math.log(np.linalg.det(np.corrcoef(p, rowvar=False))) * (n - 1 - (2 * k + 5) / 6)
    assert (b.n, b.n_rows_without_answers) == (6, 4) and b.chisq == pytest.approx(chisq, abs=1e-10)
    assert item_analysis(data, ["p1", "p2", "p3"]).n_obs == 6
    assert efa(data, ["p1", "p2", "p3"], 1).n_obs == 6
    # a row that answered one item is a respondent (pairwise-complete correlations, as psych)
    part = pd.concat([data, pd.DataFrame({"p1": [3.0]})], ignore_index=True)
    assert answered_rows(part[["p1", "p2", "p3"]])[1] == 4 and cronbach_alpha(part, ["p1", "p2", "p3"]).n_obs == 7
    # the CLI says so, in JSON and on stderr
    data.to_csv(tmp_path / "wide.csv", index=False)
    res = run(["reliability", tmp_path / "wide.csv", "--items", "p1", "p2", "p3", "--format", "json"])
    out = json.loads(res.stdout)
    assert (out["n"], out["n_rows"], out["n_rows_without_answers"]) == (6, 10, 4)
    assert "4 of 10 rows answered none of the 3 items" in res.stderr and out["codebook_reversed_items"] == []


def test_wide_export_equals_psych_on_the_answered_rows(ref):
    """psych counts nrow(x) = 260; on the 160 rows that answered, psych::alpha / cortest.bartlett / fa agree with
    vccscale to 1e-9, and psych's all-rows CI (too narrow) is not what vccscale reports."""
    from vccscale.validate import bartlett, cronbach_alpha, efa, reverse_items

    d = pd.read_csv(WIDE)
    with pytest.warns(UserWarning, match="p4"):
        a = cronbach_alpha(d, P_ITEMS)
    r, r_all = ref["alpha_answered_rows"], ref["alpha_all_rows"]
    assert (a.n_obs, a.n_rows_without_answers) == (ref["n_answered"], ref["n_rows"] - ref["n_answered"])
    for mine, theirs in ((a.alpha, "raw_alpha"), (a.std_alpha, "std_alpha"), (a.ase, "ase"),
                         (a.ci_lower, "feldt_lower"), (a.ci_upper, "feldt_upper")):
        assert mine == pytest.approx(r[theirs], abs=1e-9), theirs
    assert a.alpha == pytest.approx(r_all["raw_alpha"], abs=1e-12)          # alpha does not depend on n ...
    assert a.ci_upper - a.ci_lower > r_all["feldt_upper"] - r_all["feldt_lower"] + 0.02   # ... its CI does
    b = bartlett(d, P_ITEMS)
    assert b.n == 160 and b.chisq == pytest.approx(ref["bartlett_answered_rows"]["chisq"], rel=1e-9)
    assert b.chisq < ref["bartlett_all_rows"]["chisq"] - 100
    f = efa(reverse_items(d[P_ITEMS], ["p4"]), P_ITEMS, 1)
    fr = ref["fa_answered_rows"]
    assert f.n_obs == fr["n_obs"] == 160
    for mine, theirs in (("chisq", "STATISTIC"), ("rmsea", "RMSEA"), ("tli", "TLI"), ("bic", "BIC")):
        assert f.fit[mine] == pytest.approx(fr[theirs], rel=1e-4), mine


def test_efa_and_item_analysis_cli_report_n(ref):
    res = run(["efa", WIDE, "--items", *P_ITEMS, "--factors", "1", "--format", "json"])
    out = json.loads(res.stdout)
    assert (out["n"], out["n_rows_without_answers"], out["bartlett"]["n"]) == (160, 100, 160)
    assert out["bartlett"]["chisq"] == pytest.approx(ref["bartlett_answered_rows"]["chisq"], rel=1e-9)
    assert "100 of 260 rows answered none" in res.stderr
    out = json.loads(run(["item-analysis", WIDE, "--items", *P_ITEMS, "--format", "json"]).stdout)
    assert (out["n"], out["n_rows"], out["n_rows_without_answers"]) == (160, 260, 100)
    assert {i["item"]: i["n"] for i in out["items"]} == {c: int(pd.read_csv(WIDE)[c].notna().sum()) for c in P_ITEMS}


def test_export_with_and_without_codebook(study):
    """On a Qualtrics export: export columns without a codebook (raw, n = the version's rows); with the codebook
    the reverse-keyed item is reversed; item ids stack both versions (n = both), --perspective keeps one."""
    exp, cb = study / "data" / "export.csv", study / "build" / "codebook.json"
    cols = [f"a_drv_cust_involvement_p_{k}" for k in range(1, 6)]
    raw = run(["reliability", exp, "--items", *cols, "--format", "json"])
    rescored = run(["reliability", exp, "--items", *cols, "--codebook", cb, "--format", "json"])
    a_raw, a_cb = json.loads(raw.stdout), json.loads(rescored.stdout)
    assert a_raw["n"] == a_cb["n"] == 150 and a_raw["n_rows"] == 300
    assert "--reverse a_drv_cust_involvement_p_4" in raw.stderr and a_cb["alpha"] > a_raw["alpha"] + 0.3
    assert "reversed (min + max - x): a_drv_cust_involvement_p_4" in rescored.stderr
    assert a_cb["codebook_reversed_items"] == ["a_drv_cust_involvement_p_4"] and a_cb["reversed_items"] == []
    ids = [f"a_drv_cust_involvement_0{k}" for k in range(1, 6)]
    both = json.loads(run(["reliability", exp, "--items", *ids, "--codebook", cb, "--format", "json"]).stdout)
    cust = run(["reliability", exp, "--items", *ids, "--codebook", cb, "--perspective", "customer", "--format",
                "json"])
    assert both["n"] == 300 and json.loads(cust.stdout)["n"] == 150
    bad = run(["reliability", exp, "--items", "a_drv_cust_involvement_01", "nope", "--codebook", cb], ok=False)
    assert bad.exit_code == 1 and "nope" in bad.stderr and "export.csv" in bad.stderr and "codebook" in bad.stderr


# ------------------------------------------------------------------------------------------------ 2. one score
def test_composite_score_closed_form(registry):
    """Composite = unit-weighted mean of the sub-activity means; a sub-activity with fewer than half of its items
    answered is missing, and so is the composite."""
    from vccscale.clean.scoring import scale_score

    b1 = [i.id for i in registry.items_of("b_p1_vc_explore_enhance") if i.kind == "reflective"]
    b2 = [i.id for i in registry.items_of("b_p1_vc_vp_concept") if i.kind == "reflective"]
    assert len(b1) == len(b2) == 5
    x = pd.DataFrame([[1, 2, 3, 4, 5] + [7, 7, 7, 7, 7],
                      [2, 2, 2, None, None] + [6, 6, None, None, None],
                      [4, 4, 4, 4, 4] + [1, 2, 3, None, None]], columns=b1 + b2, dtype=float)
    s, why = scale_score(registry, "b_p1_vc_identify_opps", x)
    assert why == "" and s.iloc[0] == pytest.approx((3 + 7) / 2) and np.isnan(s.iloc[1])
    assert s.iloc[2] == pytest.approx((4 + 2) / 2)
    assert scale_score(registry, "b_p1_vc_identify_opps", x, min_answered=0.4)[0].iloc[1] == pytest.approx(4)
    assert scale_score(registry, "b_p1_vc_identify_opps", x[b1])[0] is None  # a sub-activity without items


def test_same_numbers_as_the_hypothesis_tests(dataset, registry):
    """construct_scores (vccscale score) and models.hypotheses.scale_score give identical numbers."""
    from vccscale.clean.scoring import construct_scores, rescored_long
    from vccscale.models.hypotheses import scale_score as hypotheses_score

    res = construct_scores(dataset, registry=registry)
    assert "b_p1_vc_identify_opps" in res.constructs and len(res.blocks["b_p1_vc_identify_opps"]) == 2
    lf = rescored_long(dataset)
    for cid in res.constructs:
        theirs, why = hypotheses_score(registry, cid, lf)
        assert why == "" and np.array_equal(res.scores[cid].to_numpy(), theirs.to_numpy(), equal_nan=True), cid


def test_score_cli_writes_scores_by_hand(study, dataset, tmp_path):
    exp, cb = study / "data" / "export.csv", study / "build" / "codebook.json"
    res = run(["score", exp, "--codebook", cb, "--out", tmp_path / "scores.csv", "--format", "json"])
    out = json.loads(res.stdout)
    df = pd.read_csv(tmp_path / "scores.csv")
    assert list(df.columns[:4]) == ["response_id", "perspective", "organisation_id", "relationship_id"]
    assert len(df) == out["n_rows"] == 300 and set(df["perspective"]) == {"provider", "customer"}
    cons = {c["id"]: c for c in out["constructs"]}
    assert set(cons) == {"a_drv_cust_involvement", "a_align_diag_design", "x_vcc_customer", "x_rel_satisfaction",
                         "b_p1_vc_explore_enhance", "b_p1_vc_vp_concept", "b_p1_vc_identify_opps"}
    for cid, c in cons.items():
        assert c["n_scored"] == df[cid].notna().sum() and c["n_scored"] + c["n_missing"] == 300
    rev = {r.item_id for r in dataset.codebook.rows if r.role == "item" and r.reverse
           and r.construct in cons}
    assert set(out["reversed_items"]) == rev and "a_drv_cust_involvement_04" in rev
    hand = hand_scores(dataset, "a_drv_cust_involvement")
    got = df.merge(hand, on=["response_id", "perspective"], suffixes=("", "_hand"))
    assert len(got) == 300
    assert np.allclose(got["a_drv_cust_involvement"], got["a_drv_cust_involvement_hand"], atol=1e-12, equal_nan=True)
    run(["score", exp, "--codebook", cb, "--out", tmp_path / "s.parquet", "--constructs", "x_vcc_customer",
         "--min-answered", "1"])
    strict = pd.read_parquet(tmp_path / "s.parquet")
    assert list(strict.columns)[-1] == "x_vcc_customer"
    assert strict["x_vcc_customer"].notna().sum() <= cons["x_vcc_customer"]["n_scored"]
    assert out["not_scored"] == {}
    bad = run(["score", exp, "--codebook", cb, "--out", tmp_path / "x.csv", "--constructs", "nope"], ok=False)
    assert bad.exit_code == 1 and "'nope'" in bad.stderr and "codebook.json" in bad.stderr


# ------------------------------------------------------------------------------------------------ 3. mediate, rsa
def test_mediate_with_construct_ids_equals_ols_on_hand_scores(study, dataset):
    exp, cb = study / "data" / "export.csv", study / "build" / "codebook.json"
    res = run(["mediate", exp, "--codebook", cb, "--x", "a_drv_cust_involvement", "--m", "a_align_diag_design",
               "--y", "x_vcc_customer", "--bootstrap", 50, "--seed", 1, "--perspective", "customer", "--format",
               "json"])
    out = json.loads(res.stdout)
    keys = ["response_id", "perspective"]
    h = hand_scores(dataset, "a_drv_cust_involvement")
    for cid in ("a_align_diag_design", "x_vcc_customer"):
        h = h.merge(hand_scores(dataset, cid).drop(columns="relationship_id"), on=keys)
    h = h[h["perspective"] == "customer"].dropna()
    assert out["n"] == len(h) and out["variables"]["perspective"] == "customer"
    slope = np.polyfit(h["a_drv_cust_involvement"], h["a_align_diag_design"], 1)[0]
    assert {e["name"]: e["est"] for e in out["effects"]}["a"] == pytest.approx(slope, abs=1e-10)
    bad = run(["mediate", exp, "--codebook", cb, "--x", "a_drv_cust_involvement", "--m", "nope", "--y",
               "x_vcc_customer", "--seed", 1], ok=False)
    assert bad.exit_code == 1 and "'nope'" in bad.stderr and "export.csv" in bad.stderr \
        and "codebook.json" in bad.stderr


def test_rsa_pairs_provider_and_customer_by_relationship(study, dataset):
    from vccscale.models.rsa import rsa

    exp, cb = study / "data" / "export.csv", study / "build" / "codebook.json"
    same = run(["rsa", exp, "--codebook", cb, "--x", "x_vcc_customer", "--y", "x_vcc_customer", "--z",
                "x_rel_satisfaction"], ok=False)
    assert same.exit_code == 2 and "--pair-by relationship_id" in same.output
    res = run(["rsa", exp, "--codebook", cb, "--x", "x_vcc_customer", "--y", "x_vcc_customer", "--z",
               "x_rel_satisfaction", "--pair-by", "relationship_id", "--format", "json"])
    out = json.loads(res.stdout)
    x = hand_scores(dataset, "x_vcc_customer")
    z = hand_scores(dataset, "x_rel_satisfaction")
    prov = x[x["perspective"] == "provider"].groupby("relationship_id")["x_vcc_customer"].mean()
    cust = x[x["perspective"] == "customer"].groupby("relationship_id")["x_vcc_customer"].mean()
    zc = z[z["perspective"] == "customer"].groupby("relationship_id")["x_rel_satisfaction"].mean()
    frame = pd.DataFrame({"X": prov, "Y": cust, "Z": zc}).dropna()
    theirs = rsa(frame, "X", "Y", "Z", center="midpoint", scale_min=1, scale_max=7)  # the codebook's 1..7
    assert out["n"] == theirs.n and out["variables"]["pairing"]["by"] == "relationship_id"
    for b in ("b1", "b2", "b3", "b4", "b5"):
        assert out["coefficients"][b]["est"] == pytest.approx(theirs.coefficients.loc[b, "est"], abs=1e-10), b


# ------------------------------------------------------------------------------------------------ 4. --reverse
def test_reliability_reverse_equals_psych_alpha_keys(ref):
    res = run(["reliability", WIDE, "--items", *P_ITEMS, "--reverse", "p4", "--format", "json"])
    out, r = json.loads(res.stdout), ref["alpha_keys_p4"]
    assert out["reversed_items"] == ["p4"] and out["n"] == 160 and "warning" not in res.stderr
    assert out["alpha"] == pytest.approx(r["raw_alpha"], abs=1e-9)
    assert out["alpha_std"] == pytest.approx(r["std_alpha"], abs=1e-9)
    assert out["alpha_ci"] == pytest.approx([r["feldt_lower"], r["feldt_upper"]], abs=1e-9)
    assert out["omega_total"] == pytest.approx(ref["omega_keys_p4"]["omega_tot"], abs=1e-6)
    drop = {i["item"]: i for i in out["items"]}
    for item in P_ITEMS:
        name = item + "-" if item == "p4" else item
        assert drop[item]["r_drop"] == pytest.approx(r["r_drop"][name], abs=1e-9)
        assert drop[item]["alpha_if_deleted"] == pytest.approx(r["alpha_drop"][name], abs=1e-9)
    plain = run(["reliability", WIDE, "--items", *P_ITEMS])
    assert "correlate negatively with the total scale" in plain.stderr and "--reverse p4" in plain.stderr
    keyed = json.loads(run(["reliability", WIDE, "--items", *P_ITEMS, "--check-keys", "--format", "json"]).stdout)
    assert keyed["reversed_items"] == ["p4"]
    assert keyed["alpha"] == pytest.approx(ref["alpha_check_keys"]["raw_alpha"], abs=1e-9)
    assert run(["reliability", WIDE, "--items", *P_ITEMS, "--reverse", "p9"], ok=False).exit_code == 2


# ------------------------------------------------------------------------------------------------ 5. README CFA
def test_readme_cfa_command_fits_the_generated_model(study, monkeypatch):
    monkeypatch.chdir(study)
    model = (study / "build" / "measurement.lavaan").read_text(encoding="utf-8")
    assert "marker =~ marker_01 + marker_02 + marker_03 + marker_04" in model
    assert "a_align_ri =~" not in model and "a_align_ri: second-order factor with one indicator" in model
    res = run(["cfa", "data/export.csv", "--codebook", "build/codebook.json", "--long", "--model",
               "build/measurement.lavaan"])
    assert "marker =~" in res.stdout and "CFI" in res.stdout
    out = json.loads(run(["cfa", "data/export.csv", "--codebook", "build/codebook.json", "--long", "--model",
                          "build/measurement.lavaan", "--format", "json"]).stdout)
    loads = [e for e in out["estimates"] if e["lhs"] == "marker" and e["op"] == "=~"]
    assert [e["rhs"] for e in loads] == ["marker_01", "marker_02", "marker_03", "marker_04"]
    assert out["n"] > 250


def test_long_frame_keeps_marker_items_and_explains_listwise_losses():
    from vccscale.clean.scoring import incomplete_rows
    from vccscale.instrument.codebook import Codebook, CodebookRow
    from vccscale.io.dataset import ColumnInfo, Dataset, SourceInfo

    rows = (CodebookRow("q_p_1", "Q1_1", item_id="q_01", construct="q", perspective="provider", role="item"),
            CodebookRow("q_c_1", "Q2_1", item_id="q_01", construct="q", perspective="customer", role="item"),
            CodebookRow("marker_1", "Q3_1", item_id="marker_01", role="marker"))
    data = pd.DataFrame({"ResponseId": ["a", "b"], "q_p_1": [5, None], "q_c_1": [None, 3], "marker_1": [2, 6]})
    cols = {c: ColumnInfo(c, c, codebook_variable=c if c != "ResponseId" else None) for c in data}
    ds = Dataset(data=data, columns=cols, source=SourceInfo("x", "plain_csv", "utf-8", "0"), codebook=Codebook(rows))
    lf = ds.to_long().set_index("perspective")
    assert lf.loc["provider", "marker_01"] == 2 and lf.loc["customer", "marker_01"] == 6
    frame = pd.DataFrame({"perspective": ["provider"] * 3 + ["customer"] * 2, "a": [1, 2, None, 1, 2],
                          "b": [1, 2, 3, None, None]})
    why = incomplete_rows(frame, ["a", "b"])
    assert why == {"n": 3, "by": {"provider": 1, "customer": 2}, "never_answered": {"customer": ["b"]}}


def test_constructs_without_a_scale_score_are_listed_not_dropped(registry):
    from vccscale.clean.scoring import construct_scores
    from vccscale.errors import DataError
    from vccscale.instrument.codebook import Codebook, CodebookRow
    from vccscale.io.dataset import ColumnInfo, Dataset, SourceInfo

    ev = registry.items_of("d_compelling_events")[0].id
    rows = (CodebookRow("ev_1", "Q1_1", item_id=ev, construct="d_compelling_events", role="item"),
            CodebookRow("q_1", "Q2_1", item_id="q_01", construct="q", role="item"),
            CodebookRow("q_2", "Q2_2", item_id="q_02", construct="q", role="item"))
    data = pd.DataFrame({"ResponseId": ["a", "b"], "ev_1": [1, 0], "q_1": [3, 4], "q_2": [5, None]})
    cols = {c: ColumnInfo(c, c, codebook_variable=c if c != "ResponseId" else None) for c in data}
    ds = Dataset(data=data, columns=cols, source=SourceInfo("x.csv", "plain_csv", "utf-8", "0"),
                 codebook=Codebook(rows, source="cb.json"))
    res = construct_scores(ds, registry=registry)
    assert res.constructs == ("q",) and list(res.scores["q"]) == [4.0, 4.0]
    assert "event index" in res.not_scored["d_compelling_events"]
    with pytest.raises(DataError, match="cannot score 'd_compelling_events'"):
        construct_scores(ds, ["d_compelling_events"], registry=registry)


def test_codebook_applies_to_data_written_by_import(study, tmp_path):
    """--codebook is used (never silently ignored) when DATA is a file written by `vccscale import --out`: the
    scores equal those computed from the export itself; a file imported without that codebook is refused with
    the fix named."""
    exp, cb = study / "data" / "export.csv", study / "build" / "codebook.json"
    run(["import", exp, "--codebook", cb, "--out", tmp_path / "with.parquet"])
    run(["import", exp, "--out", tmp_path / "without.parquet"])
    run(["score", exp, "--codebook", cb, "--out", tmp_path / "a.csv", "--constructs", "x_vcc_customer"])
    run(["score", tmp_path / "with.parquet", "--codebook", cb, "--out", tmp_path / "b.csv", "--constructs",
         "x_vcc_customer"])
    a, b = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    assert len(a) == len(b) == 300
    assert np.allclose(a["x_vcc_customer"], b["x_vcc_customer"], equal_nan=True)
    bad = run(["score", tmp_path / "without.parquet", "--codebook", cb, "--out", tmp_path / "c.csv"], ok=False)
    assert "imported without this codebook" in bad.output and "--codebook" in bad.output
