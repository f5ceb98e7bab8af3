"""Issue 14: plain CSV files written by R (NA tokens), identifiers under labels and generic names, e-mail addresses in
text answers, size limits (zip members, line length, zips without an export) and blank metadata in cleaning.

Every input is hand-made here (made-up values; IPs from the documentation range 192.0.2.0/24, e-mail addresses
at example.org); the expectations are written out, not computed by the code under test.
"""
from __future__ import annotations

import importlib.util
import io
import json
import struct
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from vccscale.clean import clean
from vccscale.cli import main
from vccscale.errors import DataError
from vccscale.io import describe, read_export
from vccscale.io.dataset import ColumnInfo, Dataset, SourceInfo, load_dataset
from vccscale.io.read import hash_identifier

FIX = Path(__file__).resolve().parent / "fixtures" / "exports"

_spec = importlib.util.spec_from_file_location("make_fixtures", FIX / "make_fixtures.py")
mf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mf)

# what R's write.csv(df, "r.csv") writes: quoted header and strings, row names in an unnamed first column,
# missing values as unquoted NA
R_CSV = '''"","id","Q1","Q2","Q3","comment"
"1","a",1,5,2.5,"fine"
"2","b",NA,4,NA,NA
"3","c",3,NA,1.5,"write to jo.doe@example.org or ann@example.org"
"4","d",2,-99,.,"NA"
'''


def col(ds: Dataset, name: str) -> list:
    return [None if pd.isna(v) else v for v in ds.data[name].tolist()]


@pytest.fixture()
def r_csv(tmp_path) -> Path:
    p = tmp_path / "r.csv"
    p.write_text(R_CSV, encoding="utf-8")
    return p


def _qualtrics(tmp_path: Path, edits: dict[tuple[int, str], str]) -> Path:
    """The current-format fixture with cells changed: {(data row 0-based, column): value}."""
    rows = mf.header_rows() + mf.data_rows()
    names = [c[0] for c in mf.COLUMNS]
    for (r, c), v in edits.items():
        rows[3 + r][names.index(c)] = v
    p = tmp_path / "qualtrics.csv"
    p.write_text(mf.csv_text(rows), encoding="utf-8")
    return p


# ---------------------------------------------------------------------------------------------------------------
# 1. NA tokens of plain CSV files
# ---------------------------------------------------------------------------------------------------------------
def test_r_write_csv_na_is_missing_and_counted(r_csv):
    ds = read_export(r_csv)
    assert ds.source.format == "plain_csv"
    assert str(ds.data["Q1"].dtype) == "Int64" and col(ds, "Q1") == [1, None, 3, 2]
    assert col(ds, "Q2") == [5, 4, None, -99]          # -99 is no token by default
    assert str(ds.data["Q3"].dtype) == "string"        # "." is no token by default: stays text
    assert col(ds, "comment")[1] is None and col(ds, "comment")[3] is None   # NA unquoted and quoted
    assert ds.missing_tokens == {"NA": {"Q1": 1, "Q2": 1, "Q3": 1, "comment": 2}}
    line = next(x for x in ds.log if x.startswith("missing-value tokens"))
    assert "'NA' 5 cell(s) in 4 column(s)" in line and "Q1 1" in line
    d = describe(ds)
    assert d["missing_tokens"]["NA"] == {"cells": 5, "columns": {"Q1": 1, "Q2": 1, "Q3": 1, "comment": 2}}


def test_na_option_replaces_the_default(r_csv):
    ds = read_export(r_csv, na=["NA", "-99", "."])
    assert col(ds, "Q2") == [5, 4, None, None] and str(ds.data["Q3"].dtype) == "Float64"
    assert col(ds, "Q3") == [2.5, None, 1.5, None]
    assert ds.missing_tokens["-99"] == {"Q2": 1} and ds.missing_tokens["."] == {"Q3": 1}
    off = read_export(r_csv, na=[])                      # no token: NA stays text
    assert str(off.data["Q1"].dtype) == "string" and col(off, "Q1")[1] == "NA"
    with pytest.raises(DataError) as e:
        read_export(r_csv, na=[None])
    assert e.value.field == "na"


def test_empty_cells_counted_in_plain_csv(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text("id,x\na,1\nb,\nc,NA\n", encoding="utf-8")
    ds = read_export(p)
    assert col(ds, "x") == [1, None, None]
    assert ds.missing_tokens == {"": {"x": 1}, "NA": {"x": 1}}


def test_qualtrics_exports_get_no_na_tokens(tmp_path):
    # a respondent typed NA into a text answer of a Qualtrics export: kept as written, nothing counted
    p = _qualtrics(tmp_path, {(0, "Q8"): "NA"})
    ds = read_export(p)
    assert ds.source.format == "qualtrics_csv"
    assert col(ds, "Q8")[0] == "NA" and ds.missing_tokens == {}
    assert not any(x.startswith("missing-value tokens") for x in ds.log)
    # asked for explicitly, the token applies to Qualtrics exports too
    ds = read_export(p, na=["NA"])
    assert col(ds, "Q8")[0] is None and ds.missing_tokens["NA"] == {"Q8": 1}


def test_study_file_na_and_sidecar(tmp_path, r_csv):
    from vccscale.study import DataSection

    d = DataSection.model_validate({"export": "x.csv", "na": ["NA", -99, "."], "redact_emails": True})
    assert d.na == ["NA", "-99", "."] and d.redact_emails
    ds = read_export(r_csv, na=d.na)
    out = tmp_path / "data.parquet"
    ds.write(out)
    back = load_dataset(out)
    assert back.missing_tokens == ds.missing_tokens


def test_cli_import_na_and_json(r_csv):
    res = CliRunner().invoke(main, ["import", str(r_csv), "--na", "NA", "-99", ".", "--format", "json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["missing_tokens"]["-99"] == {"cells": 1, "columns": {"Q2": 1}}
    assert info["missing_tokens"]["."] == {"cells": 1, "columns": {"Q3": 1}}
    assert info["missing_tokens"]["NA"]["cells"] == 5
    assert "missing-value tokens 'NA', '-99', '.'" in res.stderr
    q2 = next(c for c in info["columns"] if c["name"] == "Q2")
    assert q2["dtype"] == "Int64"


# ---------------------------------------------------------------------------------------------------------------
# 2. identifiers under other names; e-mail addresses in text answers
# ---------------------------------------------------------------------------------------------------------------
LABEL_NAMES = ["IP Address", "Recipient Email", "Recipient First Name", "Location Latitude", "Location Longitude",
               "External Data Reference"]
GENERIC = ["email", "e_mail", "ip_address", "ip", "phone", "name", "first_name", "last_name", "latitude",
           "longitude"]


def _plain_with_identifiers(tmp_path: Path) -> Path:
    header = ["ResponseId", *LABEL_NAMES, *GENERIC, "Q1"]
    values = ["R_1", "192.0.2.1", "a@example.org", "Ann", "52.5", "13.4", "ext-1", "b@example.org",
              "c@example.org", "192.0.2.2", "192.0.2.3", "555-0100", "Ann Smith", "Ann", "Smith", "52.5", "13.4",
              "4"]
    p = tmp_path / "ids.csv"
    p.write_text(",".join(f'"{h}"' for h in header) + "\n" + ",".join(values) + "\n", encoding="utf-8")
    return p


def test_identifiers_by_label_names_and_generic_names(tmp_path):
    p = _plain_with_identifiers(tmp_path)
    ds = read_export(p)
    assert sorted(ds.dropped_identifiers) == sorted(LABEL_NAMES + GENERIC)
    assert list(ds.data.columns) == ["ResponseId", "Q1"]
    line = next(x for x in ds.log if x.startswith("dropped identifier columns: "))
    assert "IP Address (by name 'IP Address')" in line and "email (by name 'email')" in line
    hashed = read_export(p, identifiers="hash", salt="pepper")
    assert sorted(hashed.hashed_identifiers) == sorted(LABEL_NAMES + GENERIC)
    assert col(hashed, "ip") == [hash_identifier("192.0.2.3", "pepper")]


def test_identifiers_by_row2_label_and_import_id(tmp_path):
    # row 1 names that say nothing; row 2 labels and row 3 ImportIds that do
    text = ('ResponseId,Q90,Q91,Q92,contact,Q1\n'
            'Response ID,IP Address,Recipient Email,Location Latitude,Contact,How satisfied?\n'
            '"{""ImportId"":""_recordId""}","{""ImportId"":""QID90_TEXT""}","{""ImportId"":""QID91_TEXT""}",'
            '"{""ImportId"":""QID92_TEXT""}","{""ImportId"":""email""}","{""ImportId"":""QID1""}"\n'
            'R_1,192.0.2.1,a@example.org,52.5,b@example.org,4\n')
    p = tmp_path / "labels.csv"
    p.write_text(text, encoding="utf-8")
    ds = read_export(p)
    assert ds.source.format == "qualtrics_csv"
    assert ds.dropped_identifiers == ["Q90", "Q91", "Q92", "contact"]
    line = next(x for x in ds.log if x.startswith("dropped identifier columns: "))
    assert "Q90 (by label 'IP Address')" in line and "contact (by ImportId 'email')" in line
    assert list(ds.data.columns) == ["ResponseId", "Q1"]


def test_emails_in_text_answers_flagged_and_redacted(r_csv):
    ds = read_export(r_csv)
    assert ds.email_cells == {"comment": 1} and not ds.emails_redacted
    line = next(x for x in ds.log if x.startswith("e-mail addresses in text answers"))
    assert "comment (1 cell)" in line and "@" not in "".join(ds.log)       # never an address in the log
    assert "example.org" in col(ds, "comment")[2]                           # not redacted unless asked
    red = read_export(r_csv, redact_emails=True)
    assert col(red, "comment")[2] == "write to [email removed] or [email removed]"
    assert red.emails_redacted and describe(red)["email_cells"] == {"comment": 1}
    res = CliRunner().invoke(main, ["import", str(r_csv), "--redact-emails", "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["emails_redacted"] is True and "@" not in res.stderr


# ---------------------------------------------------------------------------------------------------------------
# 3. size limits
# ---------------------------------------------------------------------------------------------------------------
def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_zip_member_over_the_declared_size_limit(tmp_path):
    p = _zip(tmp_path / "big.zip", {"export.csv": b"a,b\n" + b"1,2\n" * 1000})   # 4,004 bytes inside
    with pytest.raises(DataError) as e:
        read_export(p, max_unzipped_bytes=1000)
    assert "'export.csv' decompresses to 4,004 bytes" in e.value.message and "1,000" in e.value.message
    assert e.value.file == str(p)
    assert read_export(p, max_unzipped_bytes=5000).n_rows == 1000


def test_zip_lying_about_its_size_is_not_read_past_the_declared_size(tmp_path):
    p = _zip(tmp_path / "liar.zip", {"export.csv": b"a,b\n" + b"1,2\n" * 1000})
    raw = bytearray(p.read_bytes())
    # declare 10 bytes in the local header (offset 22) and the central directory entry (offset 24)
    struct.pack_into("<I", raw, 22, 10)
    cd = raw.rfind(b"PK\x01\x02")
    struct.pack_into("<I", raw, cd + 24, 10)
    p.write_bytes(bytes(raw))
    with pytest.raises(DataError) as e:
        read_export(p, max_unzipped_bytes=1000)
    assert "damaged zip archive" in e.value.message


def test_zip_decompression_stops_at_the_limit(tmp_path, monkeypatch):
    # a member stream that never ends (what a zip bomb with a forged size would be): reading stops at the limit
    p = _zip(tmp_path / "bomb.zip", {"export.csv": b"a,b\n1,2\n"})
    read_bytes = []

    class Endless(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, b):
            b[:] = b"x" * len(b)
            read_bytes.append(len(b))
            return len(b)

    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, m, *a, **k: io.BufferedReader(Endless()))
    with pytest.raises(DataError) as e:
        read_export(p, max_unzipped_bytes=3 << 20)
    assert "decompresses to more than 3,145,728 bytes" in e.value.message
    assert sum(read_bytes) < (3 << 20) + (2 << 20) + (1 << 16)


def test_zip_without_an_export_is_rejected_with_its_contents(tmp_path):
    p = _zip(tmp_path / "notes.zip", {"notes.txt": b"a,b\n1,2\n"})
    with pytest.raises(DataError) as e:
        read_export(p)
    assert "holds no CSV, TSV or SPSS (.sav) export" in e.value.message and "'notes.txt'" in e.value.message
    # a .sav under another name is recognised by its first bytes
    q = _zip(tmp_path / "sav.zip", {"responses.dat": (FIX / "qualtrics.sav").read_bytes()})
    assert read_export(q).source.format == "spss_sav"


def test_line_longer_than_the_limit_names_the_row(tmp_path):
    p = tmp_path / "long.csv"
    p.write_text("a,b\n1,2\n" + "3," + "x" * 200 + "\n4,5\n", encoding="utf-8")
    with pytest.raises(DataError) as e:
        read_export(p, max_line_chars=50)
    assert e.value.row == 3 and e.value.file == str(p)
    assert "line longer than 50 characters (202 characters on line 3)" in e.value.message
    assert str(e.value).startswith(f"{p}, row 3: line longer than 50 characters")
    # characters, not bytes: 40 two-byte characters pass a limit of 50
    q = tmp_path / "accents.csv"
    q.write_text("a,b\n1," + "é" * 40 + "\n", encoding="utf-8")
    assert col(read_export(q, max_line_chars=50), "b") == ["é" * 40]
    # a row after a value with line breaks: the row is counted as records, not lines
    r = tmp_path / "multi.csv"
    r.write_text('a,b\n1,"two\nlines"\n2,' + "y" * 100 + "\n", encoding="utf-8")
    with pytest.raises(DataError) as e:
        read_export(r, max_line_chars=50)
    assert (e.value.row, "line 4" in e.value.message) == (3, True)


def test_line_longer_than_a_parser_block_is_read(tmp_path, monkeypatch):
    from vccscale.io import formats

    monkeypatch.setattr(formats, "BLOCK_SIZE", 1024)
    p = tmp_path / "wide.csv"
    p.write_text("a,b\n1," + "z" * 5000 + "\n2,ok\n", encoding="utf-8")
    ds = read_export(p)
    assert col(ds, "b") == ["z" * 5000, "ok"]
    q = tmp_path / "wide_quoted.csv"
    q.write_text('a,b\n1,"' + ("w" * 300 + "\n") * 10 + '"\n2,ok\n', encoding="utf-8")
    assert read_export(q).data["b"].str.len().tolist() == [3010, 2]


def test_size_limit_arguments_checked(r_csv):
    for bad in (0, -1, 1.5, True):
        with pytest.raises(DataError):
            read_export(r_csv, max_line_chars=bad)
        with pytest.raises(DataError):
            read_export(r_csv, max_unzipped_bytes=bad)


# ---------------------------------------------------------------------------------------------------------------
# 4. blank Status / Finished / Progress / Duration in cleaning
# ---------------------------------------------------------------------------------------------------------------
def _blank_metadata() -> Dataset:
    data = pd.DataFrame({
        "ResponseId": [f"R_{i}" for i in range(7)],
        "Status": pd.array([0, None, 1, 0, 0, 0, 0], dtype="Int64"),
        "Finished": pd.array([True, True, True, None, None, False, True], dtype="boolean"),
        "Progress": pd.array([100, 100, 100, None, 100, 40, 100], dtype="Int64"),
        "Duration (in seconds)": pd.array([300, 200, 10, 400, None, 50, 350], dtype="Int64")})
    return Dataset(data=data, columns={c: ColumnInfo(c, c) for c in data},
                   source=SourceInfo("x.csv", "plain_csv", "utf-8", "0"))


def test_blank_metadata_is_kept_flagged_and_logged():
    res = clean(_blank_metadata())
    a = res.audit.set_index(["rule", "response_id"])
    # Status blank: kept, flagged, with the reason
    row = a.loc[("status", "R_1")]
    assert (bool(row["flagged"]), bool(row["excluded"])) == (True, False)
    assert row["note"] == "Status blank: preview/test rule could not be applied"
    assert bool(a.loc[("status", "R_2"), "excluded"])               # a preview is still excluded
    # Finished and Progress blank: could not be applied; Finished blank with Progress: decided on Progress
    assert a.loc[("unfinished", "R_3"), "note"] == "Finished and Progress blank: unfinished rule could not be applied"
    assert a.loc[("unfinished", "R_4"), "note"] == "Finished blank: unfinished rule applied on Progress only"
    assert not a.loc[("unfinished", "R_3"), "excluded"] and a.loc[("unfinished", "R_3"), "flagged"]
    assert bool(a.loc[("unfinished", "R_5"), "excluded"])           # Finished false: excluded as before
    # Duration blank: kept and flagged
    assert a.loc[("speeders", "R_4"), "note"] == "Duration blank: speeder rule could not be applied"
    assert bool(a.loc[("speeders", "R_4"), "flagged"]) and not bool(a.loc[("speeders", "R_4"), "excluded"])
    # normal rows: flagged only when excluded
    ok = res.audit[~res.audit["response_id"].isin(["R_1", "R_3", "R_4"])]
    assert (ok["flagged"] == ok["excluded"]).all()
    assert set(res.data.data["ResponseId"]) == {"R_0", "R_1", "R_3", "R_4", "R_6"}
    # the researcher sees count and ids in the notes and the summary
    assert "status: 1 response(s) kept but flagged, Status blank: preview/test rule could not be applied: R_1" \
        in res.notes
    fk = res.summary()["flagged_kept"]
    assert fk["speeders"] == {"Duration blank: speeder rule could not be applied": {"n": 1, "response_ids": ["R_4"]}}
    assert fk["unfinished"]["Finished and Progress blank: unfinished rule could not be applied"]["response_ids"] \
        == ["R_3"]


def test_blank_status_in_a_qualtrics_export_cli(tmp_path):
    p = _qualtrics(tmp_path, {(0, "Status"): "", (1, "Duration (in seconds)"): ""})
    study = tmp_path / "study.yaml"
    study.write_text("study:\n  id: s\n  title: T\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["clean", str(p), "--study", str(study), "--out", str(tmp_path / "out"),
                                    "--format", "json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["flagged_kept"]["status"] == {
        "Status blank: preview/test rule could not be applied": {"n": 1, "response_ids": ["R_1aBcDeFgHiJkLmN"]}}
    assert summary["flagged_kept"]["speeders"][
        "Duration blank: speeder rule could not be applied"]["response_ids"] == ["R_2bCdEfGhIjKlMnO"]
    audit = pd.read_csv(summary["files"]["audit"])
    r = audit[(audit["rule"] == "status") & (audit["response_id"] == "R_1aBcDeFgHiJkLmN")].iloc[0]
    assert (bool(r["flagged"]), bool(r["excluded"])) == (True, False)


def test_long_line_inside_a_quoted_value_names_the_record(tmp_path):
    p = tmp_path / "quoted.csv"
    p.write_text('a,b\n1,ok\n2,"first line\n' + "q" * 100 + '"\n3,ok\n', encoding="utf-8")
    with pytest.raises(DataError) as e:
        read_export(p, max_line_chars=50)
    assert e.value.row == 3 and "on line 4" in e.value.message
