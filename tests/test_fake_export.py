"""fake_export: a synthetic Qualtrics numeric export of a hand-made two-version instrument."""
from __future__ import annotations

import csv
import json
import re
from collections import Counter
from datetime import datetime, timedelta

import numpy as np
import pytest

from vccscale.errors import DataError
from vccscale.instrument.codebook import Codebook, CodebookRow
from vccscale.instrument.fake import fake_export
from vccscale.instrument.model import DATE_COLUMNS, METADATA_COLUMNS

AGREE7 = {1: "Strongly disagree", 2: "Disagree", 3: "Somewhat disagree", 4: "Neither agree nor disagree",
          5: "Somewhat agree", 6: "Agree", 7: "Strongly agree"}
CONSTRUCTS = ("a_trust", "a_commit")
VERSIONS = {"provider": "p", "customer": "c"}


def _codebook() -> Codebook:
    rows = [CodebookRow(variable=v, import_id=i, label=lab, role="metadata", type=t)
            for v, i, lab, t in METADATA_COLUMNS]
    rows.append(CodebookRow(variable="side", import_id="QID2", label="Which side do you work for?",
                            role="respondent_role", type="single_choice", scale_min=1, scale_max=3,
                            value_labels={1: "Provider", 2: "Customer", 3: "Other"}, question_id="QID2"))
    q = 10
    for construct in CONSTRUCTS:
        for version, code in VERSIONS.items():
            q += 1
            for k in range(1, 5):
                rows.append(CodebookRow(
                    variable=f"{construct}_{code}_{k}", import_id=f"QID{q}_{k}",
                    label=f"How far do you agree? - {construct} item {k} ({version})",
                    item_id=f"{construct}_{k:02d}", construct=construct, perspective=version, role="item",
                    indicator="reflective", type="likert", reverse=(k == 4), scale_min=1, scale_max=7,
                    value_labels=AGREE7, question_id=f"QID{q}"))
    rows.append(CodebookRow(variable="attn_1", import_id="QID30_901", label="Please select \"Somewhat disagree\"",
                            role="attention_check", type="likert", scale_min=1, scale_max=7, value_labels=AGREE7,
                            correct_answer=3, question_id="QID30"))
    for f in ("side", "organisation_id", "dyad_id"):
        rows.append(CodebookRow(variable=f, import_id=f, label=f, role="embedded_data", type="text"))
    return Codebook(tuple(rows))


CB = _codebook()
ITEM_COLS = {v: r for v, r in CB.by_variable().items() if r.role == "item"}
PROVIDER_COLS = [v for v, r in ITEM_COLS.items() if r.perspective == "provider"]
CUSTOMER_COLS = [v for v, r in ITEM_COLS.items() if r.perspective == "customer"]


def _read(path):
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    data = [dict(zip(header, r)) for r in rows[3:]]
    return rows[:3], data


def _truth(path) -> dict[str, dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return {r["ResponseId"]: r for r in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    d = tmp_path_factory.mktemp("fake")
    out, truth = d / "export.csv", d / "truth.csv"
    summary = fake_export(CB, 200, 11, out, straightliners=0.05, random_responders=0.05, speeders=0.05,
                          missing=0.02, previews=2, duplicates=3, truth=truth)
    header, data = _read(out)
    return {"out": out, "truth": _truth(truth), "summary": summary, "header": header, "data": data}


@pytest.fixture(scope="module")
def clean400(tmp_path_factory):
    out = tmp_path_factory.mktemp("fake400") / "export.csv"
    fake_export(CB, 400, 3, out)
    return _read(out)[1]


def test_header_rows(export):
    row1, row2, row3 = export["header"]
    assert row1 == CB.variables
    assert row2 == [r.label for r in CB.rows]
    for r, cell in zip(CB.rows, row3):
        obj = json.loads(cell)
        assert obj["ImportId"] == r.import_id
        if r.variable in DATE_COLUMNS:
            assert obj == {"ImportId": r.import_id, "timeZone": "Z"}
        else:
            assert "timeZone" not in obj


def test_bytes_crlf_no_bom_quoted_row3(export):
    raw = export["out"].read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert raw.endswith(b"\r\n")
    assert raw.count(b"\n") == raw.count(b"\r\n")
    line3 = raw.split(b"\r\n")[2].decode()
    assert line3.startswith('"{""ImportId"":""startDate"",""timeZone"":""Z""}",')


def test_rows_and_ids(export):
    data, s = export["data"], export["summary"]
    assert len(data) == 200 + 2 + 3 == s["rows"]
    ids = [r["ResponseId"] for r in data]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"R_[A-Za-z0-9]{15}", i) for i in ids)
    assert set(ids) == set(export["truth"])
    previews = [r for r in data if r["Status"] == "1"]
    assert len(previews) == 2 and all(r["DistributionChannel"] == "preview" for r in previews)
    assert all(r["DistributionChannel"] == "anonymous" for r in data if r["Status"] == "0")


def test_metadata_values(export):
    for r in export["data"]:
        start = datetime.strptime(r["StartDate"], "%Y-%m-%d %H:%M:%S")
        end = datetime.strptime(r["EndDate"], "%Y-%m-%d %H:%M:%S")
        rec = datetime.strptime(r["RecordedDate"], "%Y-%m-%d %H:%M:%S")
        assert (start.year, start.month) == (end.year, end.month) == (rec.year, rec.month) == (2026, 11)
        assert end - start == timedelta(seconds=int(r["Duration (in seconds)"]))
        assert rec >= end
        assert r["UserLanguage"] == "EN"
        assert r["RecipientLastName"] == r["RecipientFirstName"] == r["RecipientEmail"] == ""
        assert r["ExternalReference"] == ""
        if r["Status"] == "0":
            assert re.fullmatch(r"192\.0\.2\.\d{1,3}", r["IPAddress"])
            float(r["LocationLatitude"]), float(r["LocationLongitude"])
        if r["Finished"] == "1":
            assert r["Progress"] == "100"
        else:
            assert 20 <= int(r["Progress"]) < 100 and r["RecordedDate"]
    recorded = [r["RecordedDate"] for r in export["data"]]
    assert recorded == sorted(recorded)


def test_versions_and_embedded(export):
    truth = export["truth"]
    q_pos, e_pos = [i for i, v in enumerate(CB.variables) if v == "side"]  # the question, the embedded field
    with open(export["out"], newline="", encoding="utf-8") as fh:
        raw = list(csv.reader(fh))[3:]
    assert all(row[q_pos] == row[e_pos] for row in raw)
    for r in export["data"]:
        assert r["side"] in ("1", "2")
        assert truth[r["ResponseId"]]["side"] == r["side"]
        own, other = (PROVIDER_COLS, CUSTOMER_COLS) if r["side"] == "1" else (CUSTOMER_COLS, PROVIDER_COLS)
        assert all(r[c] == "" for c in other)
        if r["Finished"] == "1":
            assert sum(r[c] != "" for c in own) >= len(own) - 3
    sides = Counter(r["side"] for r in export["data"] if r["Status"] == "0")
    assert abs(sides["1"] - sides["2"]) <= 10


def test_dyads_and_organisations(export):
    originals = [r for r in export["data"]
                 if export["truth"][r["ResponseId"]]["type"] not in ("preview",)
                 and not export["truth"][r["ResponseId"]]["type"].startswith("duplicate_of:")]
    dyads: dict[str, list[str]] = {}
    orgs: Counter = Counter()
    for r in originals:
        dyads.setdefault(r["dyad_id"], []).append(r["side"])
        orgs[r["organisation_id"]] += 1
    assert len(dyads) == 100 and all(sorted(s) == ["1", "2"] for s in dyads.values())
    assert all(re.fullmatch(r"ORG\d{3}", o) and 3 <= k <= 8 for o, k in orgs.items())


def test_values_in_bounds(export):
    for r in export["data"]:
        for v, row in ITEM_COLS.items():
            if r[v] != "":
                assert row.scale_min <= int(r[v]) <= row.scale_max
        assert r["attn_1"] == "" or 1 <= int(r["attn_1"]) <= 7


def test_reproducible(tmp_path):
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    kw = dict(straightliners=0.1, random_responders=0.05, speeders=0.05, missing=0.05, previews=1, duplicates=2)
    fake_export(CB, 60, 7, a, **kw)
    fake_export(CB, 60, 7, b, **kw)
    fake_export(CB, 60, 8, c, **kw)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_truth_counts(export):
    types = Counter(t["type"] if not t["type"].startswith("duplicate_of:") else "duplicate"
                    for t in export["truth"].values())
    assert types["straightliner"] == types["random"] == types["speeder"] == 10
    assert types["preview"] == 2 and types["duplicate"] == 3
    assert types["partial"] == 6
    assert types["attentive"] == 200 - 30 - 6
    c = export["summary"]["counts"]
    assert {k: c[k] for k in ("straightliner", "random", "speeder", "preview", "duplicate", "partial")} == \
        {"straightliner": 10, "random": 10, "speeder": 10, "preview": 2, "duplicate": 3, "partial": 6}
    assert export["summary"]["n"] == 200 and export["summary"]["seed"] == 11


def test_duplicates_copy_answers(export):
    by_id = {r["ResponseId"]: r for r in export["data"]}
    answer_cols = [v for v in CB.variables if CB.by_variable()[v].role != "metadata"]
    for rid, t in export["truth"].items():
        if t["type"].startswith("duplicate_of:"):
            src = by_id[t["type"].split(":", 1)[1]]
            dup = by_id[rid]
            assert [dup[c] for c in answer_cols] == [src[c] for c in answer_cols]
            assert src["Finished"] == "1"


def test_careless_types(export):
    truth = export["truth"]
    data = export["data"]
    median = float(np.median([int(r["Duration (in seconds)"]) for r in data]))
    for r in data:
        kind = truth[r["ResponseId"]]["type"]
        own = PROVIDER_COLS if r["side"] == "1" else CUSTOMER_COLS
        if kind == "straightliner":
            vals = {r[c] for c in own} | {r["attn_1"]}
            assert len(vals) == 1 and "" not in vals
        elif kind == "speeder":
            assert int(r["Duration (in seconds)"]) < 0.3 * median
        elif kind in ("attentive", "random"):
            assert int(r["Duration (in seconds)"]) >= 0.3 * median


def test_attentive_pass_attention_check(export):
    att = [r for r in export["data"] if export["truth"][r["ResponseId"]]["type"] == "attentive"]
    passed = sum(r["attn_1"] == "3" for r in att)
    assert passed / len(att) >= 0.95


def test_missing_only_for_attentive(export):
    assert export["summary"]["missing_cells"] > 0
    for r in export["data"]:
        if export["truth"][r["ResponseId"]]["type"] in ("straightliner", "random", "speeder", "preview"):
            own = PROVIDER_COLS if r["side"] == "1" else CUSTOMER_COLS
            assert all(r[c] != "" for c in own)


def _corr(data, a: str, b: str) -> float:
    pairs = np.array([(int(r[a]), int(r[b])) for r in data if r[a] != "" and r[b] != ""], dtype=float)
    return float(np.corrcoef(pairs[:, 0], pairs[:, 1])[0, 1])


def test_item_correlations(clean400):
    for code in VERSIONS.values():
        within, between, reverse = [], [], []
        for c in CONSTRUCTS:
            fwd = [f"{c}_{code}_{k}" for k in (1, 2, 3)]
            within += [_corr(clean400, x, y) for i, x in enumerate(fwd) for y in fwd[i + 1:]]
            reverse += [_corr(clean400, f"{c}_{code}_4", x) for x in fwd]
        a = [f"{CONSTRUCTS[0]}_{code}_{k}" for k in (1, 2, 3)]
        b = [f"{CONSTRUCTS[1]}_{code}_{k}" for k in (1, 2, 3)]
        between += [_corr(clean400, x, y) for x in a for y in b]
        assert min(within) > 0.2
        assert min(within) > max(between)
        assert np.mean(between) > 0
        assert max(reverse) < 0
    means = [np.mean([int(r[v]) for r in clean400 if r[v] != ""]) for v in ITEM_COLS if not ITEM_COLS[v].reverse]
    assert 4.0 < np.mean(means) < 4.8


def test_single_perspective_codebook(tmp_path):
    rows = tuple(r for r in CB.rows if r.perspective != "customer")
    data = _read(fake_export(Codebook(rows), 30, 1, tmp_path / "p.csv")["path"])[1]
    assert {r["side"] for r in data} == {"1"}
    assert len({r["dyad_id"] for r in data}) == 30


@pytest.mark.parametrize("kw", [dict(straightliners=1.5), dict(speeders=0.6), dict(missing=-0.1),
                                dict(straightliners=0.5, random_responders=0.4, speeders=0.3),
                                dict(duplicates=-1), dict(duplicates=500)])
def test_bad_arguments(tmp_path, kw):
    with pytest.raises(DataError):
        fake_export(CB, 20, 1, tmp_path / "x.csv", **kw)


def test_organisations_hook_sets_the_nesting(tmp_path):
    import pandas as pd

    """fake_export(organisations=...) gives respondent k the caller's organisation id (issue 10)."""
    from pathlib import Path

    from vccscale.instrument import Codebook, fake_export
    from vccscale.io import read_export

    cb = Codebook.read(Path(__file__).resolve().parents[1] / "instruments" / "build" / "example_study" /
                       "codebook.json")
    orgs = [f"{'P' if k % 2 == 0 else 'C'}{k // 10:02d}" for k in range(40)]
    fake_export(cb, n=40, seed=1, out=tmp_path / "e.csv", truth=tmp_path / "t.csv", organisations=orgs)
    t = pd.read_csv(tmp_path / "t.csv")
    assert sorted(t["organisation_id"]) == sorted(orgs)
    assert (t.loc[t["side"] == 1, "organisation_id"].str[0] == "P").all()
    ds = read_export(tmp_path / "e.csv", cb)
    assert set(ds.data["organisation_id"]) == set(orgs)
    with pytest.raises(DataError, match="organisation"):
        fake_export(cb, n=40, seed=1, out=tmp_path / "x.csv", organisations=orgs[:10])
