"""The response importer (vccscale.io.read_export) on synthetic fixtures of every Qualtrics export variant.

Fixtures live in tests/fixtures/exports/ and are written by make_fixtures.py there (the same eight made-up
responses in every variant). Besides the format tests: a build -> fake export -> import round trip of the example
study, hypothesis fuzzing (mutated fixtures and random bytes must give a Dataset or a DataError, nothing else) and
a subprocess fuzz of the C-based .sav reader (a crash must not take the test run down).
"""
from __future__ import annotations

import hashlib
import importlib.util
import io
import random
import shutil
import subprocess
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from vccscale.errors import DataError
from vccscale.instrument.codebook import Codebook
from vccscale.io import Dataset, describe, read_export
from vccscale.io.read import STATUS_CODES, hash_identifier

REPO = Path(__file__).resolve().parents[1]
FIX = Path(__file__).resolve().parent / "fixtures" / "exports"

_spec = importlib.util.spec_from_file_location("make_fixtures", FIX / "make_fixtures.py")
mf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mf)

IDENTIFIERS = ["IPAddress", "RecipientLastName", "RecipientFirstName", "RecipientEmail", "ExternalReference",
               "LocationLatitude", "LocationLongitude"]
STATUS = [0, 0, 1, 0, 0, 2, 0, 0]
FINISHED = [True, True, True, True, False, True, True, True]


def read(name: str, *args, **kw) -> Dataset:
    return read_export(FIX / name, *args, **kw)


@pytest.fixture(scope="module")
def cb() -> Codebook:
    return Codebook.read(FIX / "codebook.json")


@pytest.fixture(scope="module")
def numeric() -> Dataset:
    return read("current_numeric.csv")


def col(ds: Dataset, name: str) -> list:
    return [None if pd.isna(v) else v for v in ds.data[name].tolist()]


# ---------------------------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------------------------
def test_fixtures_are_reproducible_and_small(tmp_path):
    out = mf.main(tmp_path)
    committed = {p.name for p in FIX.iterdir() if p.is_file() and p.suffix != ".py"}
    written = {p.name for p in out.iterdir()}
    assert committed == written
    for name in written:
        assert (out / name).read_bytes() == (FIX / name).read_bytes(), f"{name} is stale: run make_fixtures.py"
    assert sum(p.stat().st_size for p in FIX.iterdir() if p.is_file()) < 300 * 1024
    ips = {r["IPAddress"] for r in mf.RESPONSES} - {""}
    assert all(ip.startswith("192.0.2.") for ip in ips)


# ---------------------------------------------------------------------------------------------------------------
# the current format
# ---------------------------------------------------------------------------------------------------------------
def test_current_numeric_source(numeric):
    s = numeric.source
    assert (s.format, s.encoding, s.delimiter, s.values, s.archive_member) == \
        ("qualtrics_csv", "utf-8", ",", "numeric", None)
    assert s.sha256 == hashlib.sha256((FIX / "current_numeric.csv").read_bytes()).hexdigest()
    assert numeric.n_rows == 8
    assert (FIX / "current_numeric.csv").read_bytes().count(b"\r\n") >= 11   # CRLF records


def test_current_numeric_dtypes(numeric):
    dt = {k: str(v) for k, v in numeric.data.dtypes.items()}
    for c in ("StartDate", "EndDate", "RecordedDate"):
        assert dt[c] == "datetime64[us]"
    for c in ("Status", "Progress", "Duration (in seconds)", "Q1", "Q2_1", "Q3", "Q3_DO_1", "Q6", "Q6__2", "1_Q5",
              "Q9_1"):
        assert dt[c] == "Int64", c
    assert dt["Finished"] == "boolean"
    for c in ("Q10_Page Submit", "Q_RecaptchaScore"):
        assert dt[c] == "Float64"
    for c in ("ResponseId", "Q3_4_TEXT", "Q4_DO", "Q8", "org_id", "K-1-1-1", "DistributionChannel"):
        assert dt[c] == "string", c
    assert all(numeric.columns[c].dtype == dt[c] for c in dt)


def test_current_numeric_metadata(numeric):
    d = numeric.data
    assert col(numeric, "Status") == STATUS
    assert col(numeric, "Finished") == FINISHED
    assert col(numeric, "Progress") == [100, 100, 100, 100, 45, 100, 100, 100]
    assert col(numeric, "Duration (in seconds)")[:2] == [1003, 1072]
    assert d["StartDate"][0] == pd.Timestamp("2024-03-04 09:15:02")
    assert d["EndDate"][6] == pd.Timestamp("2024-03-09 00:14:21")
    assert pd.isna(d["RecordedDate"][4]) and d["ResponseId"][4].startswith("FS_")
    assert any("Europe/Berlin" in line and "not shifted" in line for line in numeric.log)
    # identifiers are dropped by default; the other 10 metadata columns stay
    assert numeric.dropped_identifiers == IDENTIFIERS
    assert not set(IDENTIFIERS) & set(d.columns)
    assert any(line.startswith("dropped identifier columns: IPAddress") for line in numeric.log)
    assert [c for c in d.columns[:10]] == ["StartDate", "EndDate", "Status", "Progress", "Duration (in seconds)",
                                          "Finished", "RecordedDate", "ResponseId", "DistributionChannel",
                                          "UserLanguage"]


def test_current_numeric_values(numeric):
    assert col(numeric, "Q2_1") == [6, 7, 4, 5, 2, None, 3, 6]
    assert col(numeric, "Q2_3")[3] == -99                      # -99 is a value, not missing, on import
    assert col(numeric, "Q3_4_TEXT")[1] == 'Ad hoc, when "needed"'
    assert col(numeric, "Q8")[1] == "Zusammenarbeit läuft gut – danke!\nZweite Zeile, mit Komma"  # LF in CRLF file
    assert col(numeric, "Q8")[7] == "Fine\r\nthanks"
    assert col(numeric, "Q8")[3] == "Nincs, köszönöm."
    assert col(numeric, "Q10_Page Submit")[0] == pytest.approx(7.89)
    assert col(numeric, "org_id")[2] is None                    # empty cell -> NA
    # display order: split columns are permutations of 1..4, the joined column stays text
    do = numeric.data[[f"Q3_DO_{k}" for k in range(1, 5)]].dropna()
    assert all(sorted(r) == [1, 2, 3, 4] for r in do.astype(int).values.tolist())
    assert col(numeric, "Q4_DO")[0] == "3|1|2"


def test_current_numeric_column_info(numeric):
    c = numeric.columns
    assert c["Q1"].label == "Do you agree to take part?\nPlease read the information sheet first."
    assert "együttműködés" in c["Q2_1"].label and c["Q2_4"].label.endswith("every quarter")
    assert "“quotes” and, commas" in c["Q8"].label
    assert (c["Q6"].original, c["Q6"].import_id) == ("Q6", "QID6")
    assert (c["Q6__2"].original, c["Q6__2"].import_id, c["Q6__2"].name) == ("Q6", "QID7", "Q6__2")
    assert c["1_Q5"].import_id == "1_QID5" and c["2_Q5"].import_id == "2_QID5"
    assert c["Q3_DO_2"].import_id == "QID3_DO"
    assert c["Q8"].import_id == "QID8_TEXT"
    assert c["StartDate"].import_id == "startDate"
    assert all(ci.codebook_variable is None for ci in c.values())
    assert any("Q6__2 (QID7)" in line for line in numeric.log)


def test_choice_text_without_codebook(numeric):
    ds = read("current_choice_text.csv")
    assert ds.source.values == "choice_text"
    assert col(ds, "Status") == STATUS
    assert col(ds, "Finished") == FINISHED
    assert col(ds, "Q2_1")[0] == "Agree"
    assert str(ds.data["Q2_1"].dtype) == "string"
    assert col(ds, "Q3_DO_1") == col(numeric, "Q3_DO_1")
    assert any("Status" in line and "mapped" in line for line in ds.log)


def test_choice_text_with_codebook_equals_numeric(cb):
    num = read("current_numeric.csv", cb)
    txt = read("current_choice_text.csv", cb)
    assert txt.source.values == "choice_text" and num.source.values == "numeric"
    pd.testing.assert_frame_equal(num.data, txt.data)
    assert col(txt, "Q3")[1] == 4          # "Other, please specify" (comma in the label)
    assert col(txt, "Q6")[1] == 5          # "Very\xa0 satisfied": whitespace normalised
    assert col(txt, "Q9_2") == [None, 1, None, 1, None, None, None, 1]
    assert txt.columns["Q6__2"].codebook_variable == "Q6"
    assert txt.codebook_row("Q6__2").import_id == "QID7"
    assert txt.codebook_row("Q6").import_id == "QID6"


def test_unknown_label_names_file_row_and_column(tmp_path, cb):
    rows = mf.header_rows() + mf.data_rows(choice_text=True)
    j = [c[0] for c in mf.COLUMNS].index("Q2_2")
    rows[3 + 3][j] = "Kinda agree"            # the 4th response: row 7 of the file
    p = tmp_path / "labels.csv"
    p.write_text(mf.csv_text(rows), encoding="utf-8")
    with pytest.raises(DataError) as e:
        read_export(p, cb)
    assert (e.value.file, e.value.row, e.value.column) == (str(p), 7, "Q2_2")
    assert "Kinda agree" in e.value.message and "Strongly agree" in e.value.message


def test_codebook_mapping_lists(cb):
    ds = read("current_numeric.csv", cb)
    assert ds.not_in_codebook == ["Q_RecaptchaScore"]
    assert ds.missing_from_export == ["Q99"]
    assert ds.columns["Q2_1"].codebook_variable == "Q2_1"
    assert ds.item_columns("provider") == ["Q2_1", "Q2_2", "Q2_3", "Q2_4"]
    assert any(line.startswith("codebook") and "mapped" in line for line in ds.log)
    long = ds.to_long()
    assert list(long.columns[-4:]) == ["a_test_01", "a_test_02", "a_test_03", "a_test_04"]


def test_codebook_mapping_by_import_id_and_position(cb):
    # renamed variables: found by ImportId; the duplicated Q6 pair is told apart by ImportId whatever the order
    rows = [replace(r, variable=f"renamed_{r.variable}") if r.variable.startswith("Q2_") else r for r in cb.rows]
    q6 = [i for i, r in enumerate(rows) if r.variable == "Q6"]
    rows[q6[0]], rows[q6[1]] = rows[q6[1]], rows[q6[0]]
    ds = read("current_numeric.csv", Codebook(tuple(rows)))
    assert ds.columns["Q2_1"].codebook_variable == "renamed_Q2_1"
    assert ds.codebook_row("Q6").import_id == "QID6" and ds.codebook_row("Q6__2").import_id == "QID7"
    assert any("by ImportId" in line for line in ds.log)
    # a question with one column whose ImportId differs only after the QID: QID prefix fallback
    rows2 = [replace(r, import_id="QID8", variable="comments") if r.variable == "Q8" else r for r in cb.rows]
    ds2 = read("current_numeric.csv", Codebook(tuple(rows2)))
    assert ds2.columns["Q8"].codebook_variable == "comments"


def test_codebook_as_path():
    ds = read("current_numeric.csv", FIX / "codebook.json")
    assert ds.codebook is not None and ds.missing_from_export == ["Q99"]


# ---------------------------------------------------------------------------------------------------------------
# other variants
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, encoding", [("current_utf8.tsv", "utf-8"), ("current_utf16.tsv", "utf-16")])
def test_tsv_equals_csv(numeric, name, encoding):
    ds = read(name)
    assert (ds.source.format, ds.source.delimiter, ds.source.encoding) == ("qualtrics_tsv", "\t", encoding)
    pd.testing.assert_frame_equal(ds.data, numeric.data)
    assert [c.label for c in ds.columns.values()] == [c.label for c in numeric.columns.values()]


def test_utf16_without_bom(tmp_path, numeric):
    p = tmp_path / "x.tsv"
    p.write_bytes((FIX / "current_utf16.tsv").read_bytes()[2:])
    pd.testing.assert_frame_equal(read_export(p).data, numeric.data)


def test_spreadsheet_dates_and_booleans(numeric):
    ds = read("current_spreadsheet.csv")
    d, n = ds.data, numeric.data
    pd.testing.assert_series_equal(d["StartDate"], n["StartDate"].dt.floor("min"))   # DD/MM/YYYY HH:MM
    pd.testing.assert_series_equal(d["EndDate"], n["EndDate"])                        # H:MM:SS
    pd.testing.assert_series_equal(d["RecordedDate"], n["RecordedDate"].dt.floor("min"))
    assert col(ds, "Finished") == FINISHED                                            # TRUE/FALSE
    assert ds.source.values == "numeric"
    assert any("DD/MM/YYYY HH:MM" in line for line in ds.log)


def test_2016_variant(cb):
    ds = read("export_2016.csv", cb)
    assert ds.source.format == "qualtrics_2016"
    assert ds.columns["Q2_1"].import_id == "QID2-1"
    assert ds.columns["Q8"].import_id == "QID8-TEXT"
    assert set(ds.dropped_identifiers) == {"IPAddress", "RecipientLastName", "RecipientFirstName", "RecipientEmail",
                                           "ExternalDataReference", "LocationLatitude", "LocationLongitude",
                                           "LocationAccuracy"}
    assert col(ds, "Status") == STATUS and col(ds, "Finished") == FINISHED
    assert col(ds, "Q2_1") == [6, 7, 4, 5, 2, None, 3, 6]
    assert str(ds.data["StartDate"].dtype) == "datetime64[us]"
    assert ds.columns["ResponseID"].codebook_variable == "ResponseId"
    assert ds.not_in_codebook == ["ResponseSet"]
    # ImportIds with '-' map to the codebook's '_' ids
    rows = [replace(r, variable=f"x{r.variable}") if r.variable.startswith("Q2_") else r for r in cb.rows]
    ds2 = read("export_2016.csv", Codebook(tuple(rows)))
    assert ds2.columns["Q2_3"].codebook_variable == "xQ2_3"


def test_legacy_two_row_export():
    raw = (FIX / "legacy.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfV1,") and raw.split(b"\n")[0].endswith(b",")
    ds = read("legacy.csv")
    assert (ds.source.format, ds.source.encoding) == ("legacy_csv", "utf-8-sig")
    assert list(ds.data.columns) == ["V1", "V2", "V7", "V8", "V9", "V10", "Q1", "Q2_1", "Q2_2", "Q2_3", "Q2_4",
                                     "Q8"]
    assert set(ds.dropped_identifiers) == {"V3", "V4", "V5", "V6", "LocationLatitude", "LocationLongitude",
                                           "LocationAccuracy"}
    assert ds.columns["V8"].label == "StartDate" and ds.columns["V1"].import_id is None
    assert col(ds, "V7") == STATUS and col(ds, "V10") == FINISHED
    assert str(ds.data["V8"].dtype) == "datetime64[us]"
    assert ds.response_id()[0] == "R_1aBcDeFgHiJkLmN"
    assert any("trailing" in line for line in ds.log)


def test_plain_one_header_row(numeric):
    ds = read("plain.csv")
    assert ds.source.format == "plain_csv"
    pd.testing.assert_frame_equal(ds.data, numeric.data)
    assert all(c.label == "" and c.import_id is None for c in ds.columns.values())


def test_sav(numeric, cb):
    ds = read("qualtrics.sav", cb)
    assert (ds.source.format, ds.source.encoding, ds.source.delimiter) == ("spss_sav", "UTF-8", None)
    c = ds.columns
    assert c["Status"].value_labels == STATUS_CODES
    assert c["Finished"].value_labels == {0: "False", 1: "True"}
    assert c["Q2_1"].value_labels[7] == "Strongly agree" and c["Q1"].value_labels[2] == "I do not agree"
    assert c["Q2_1"].label == numeric.columns["Q2_1"].label
    assert c["Duration__in_seconds_"].codebook_variable == "Duration (in seconds)"
    assert c["Duration__in_seconds_"].label == "Duration (in seconds)"
    assert set(ds.dropped_identifiers) == {"IPAddress", "LocationLatitude", "LocationLongitude"}
    d = ds.data
    assert str(d["Duration__in_seconds_"].dtype) == "Int64" and str(d["Finished"].dtype) == "boolean"
    assert str(d["Q10_Page_Submit"].dtype) == "Float64" and str(d["Q8"].dtype) == "string"
    for name in ("StartDate", "EndDate", "RecordedDate", "Status", "Progress", "Finished", "Q1", "Q2_1", "Q2_3",
                 "Q8", "ResponseId"):
        pd.testing.assert_series_equal(d[name], numeric.data[name], check_names=False)
    assert ds.source.values == "numeric"


def test_zip_archive(numeric):
    ds = read("export.zip")
    assert ds.source.archive_member == "VCC Survey Wave 1.csv"
    assert ds.source.format == "qualtrics_csv"
    assert ds.source.sha256 == hashlib.sha256((FIX / "export.zip").read_bytes()).hexdigest()
    pd.testing.assert_frame_equal(ds.data, numeric.data)


def test_format_from_content_not_extension(tmp_path, numeric):
    shutil.copy(FIX / "qualtrics.sav", tmp_path / "responses.csv")
    shutil.copy(FIX / "current_utf8.tsv", tmp_path / "responses.sav")
    shutil.copy(FIX / "export.zip", tmp_path / "responses.txt")
    assert read_export(tmp_path / "responses.csv").source.format == "spss_sav"
    assert read_export(tmp_path / "responses.sav").source.format == "qualtrics_tsv"
    pd.testing.assert_frame_equal(read_export(tmp_path / "responses.txt").data, numeric.data)


def test_encoding_override(numeric):
    ds = read("bad_cp1252.csv", encoding="cp1252")
    assert ds.source.encoding == "cp1252"
    assert col(ds, "Q8")[1] == col(numeric, "Q8")[1]
    assert "együttmuködés" in ds.columns["Q2_1"].label
    pd.testing.assert_frame_equal(ds.data.drop(columns=["Q8"]), numeric.data.drop(columns=["Q8"]))


def test_excel_resaved_variants(tmp_path, numeric):
    # "CSV UTF-8" from a spreadsheet: BOM added to a current export; semicolons from a European locale
    p = tmp_path / "bom.csv"
    p.write_bytes(b"\xef\xbb\xbf" + (FIX / "current_numeric.csv").read_bytes())
    ds = read_export(p)
    assert (ds.source.format, ds.source.encoding) == ("qualtrics_csv", "utf-8-sig")
    pd.testing.assert_frame_equal(ds.data, numeric.data)
    p2 = tmp_path / "semi.csv"
    p2.write_text(mf.csv_text(mf.header_rows() + mf.data_rows(), delimiter=";"), encoding="utf-8")
    ds2 = read_export(p2)
    assert ds2.source.delimiter == ";" and any("semicolon" in line for line in ds2.log)
    pd.testing.assert_frame_equal(ds2.data, numeric.data)


def test_labels_row_without_import_ids(tmp_path, numeric):
    rows = mf.header_rows()[:2] + mf.data_rows()       # row 3 deleted by hand
    p = tmp_path / "two.csv"
    p.write_text(mf.csv_text(rows), encoding="utf-8")
    ds = read_export(p)
    assert ds.source.format == "legacy_csv" and ds.columns["Q1"].label.startswith("Do you agree")
    assert any("no ImportIds" in line for line in ds.log)
    pd.testing.assert_frame_equal(ds.data, numeric.data)


def test_crlf_inside_values_across_parser_blocks(tmp_path, monkeypatch):
    # pyarrow drops the "\n" of a quoted CRLF whose "\r" ends a parser block (apache/arrow#51368); the reader
    # must notice CRLFs inside values and re-read such files as one block
    from vccscale.io import formats

    block = 1 << 12
    monkeypatch.setattr(formats, "BLOCK_SIZE", block)

    def rows(pad: int) -> list[list[str]]:
        body = [[f"R_{i:015d}", "some text, more", str(i % 7)] for i in range(400)]
        body[3][1] = "x" * pad
        body[5][1] = "one\r\ntwo"
        return [["ResponseId", "Q8", "Q1"]] + body

    p = tmp_path / "crlf.csv"
    for end in ("\r\n", "\n"):        # CRLF and LF record ends
        first = mf.csv_text(rows(1), lineterminator=end).encode("utf-8")
        pad = 1 + (block - 1) - (first.index(b"one\r\n") + 3)     # that "\r" is the last byte of block 1
        data = mf.csv_text(rows(pad), lineterminator=end).encode("utf-8")
        assert data.index(b"one\r\n") + 3 == block - 1
        p.write_bytes(data)
        ds = read_export(p)
        assert col(ds, "Q8")[5] == "one\r\ntwo"
        assert col(ds, "Q8") == [r[1] or None for r in rows(pad)[1:]]


def test_three_header_rows_without_data(tmp_path):
    p = tmp_path / "empty_export.csv"
    p.write_text(mf.csv_text(mf.header_rows()), encoding="utf-8")
    ds = read_export(p)
    assert ds.n_rows == 0 and ds.source.format == "qualtrics_csv"
    assert "Q2_1" in ds.columns


# ---------------------------------------------------------------------------------------------------------------
# identifiers, describe, write
# ---------------------------------------------------------------------------------------------------------------
def test_identifiers_hash(numeric):
    with pytest.raises(DataError, match="salt"):
        read("current_numeric.csv", identifiers="hash")
    ds = read("current_numeric.csv", identifiers="hash", salt="pepper")
    assert ds.hashed_identifiers == IDENTIFIERS and ds.dropped_identifiers == []
    ips = col(ds, "IPAddress")
    assert ips[0] == hash_identifier("192.0.2.10", "pepper") and len(ips[0]) == 16
    assert ips[2] is None                                   # empty stays missing
    assert int(ips[0], 16) >= 0 and "192.0.2" not in "".join(i for i in ips if i)
    assert col(read("current_numeric.csv", identifiers="hash", salt="salt")
               , "IPAddress")[0] != ips[0]
    assert any(line.startswith("hashed identifier columns") for line in ds.log)
    pd.testing.assert_frame_equal(ds.data.drop(columns=IDENTIFIERS), numeric.data)


def test_identifiers_keep_and_bad_mode():
    ds = read("current_numeric.csv", identifiers="keep")
    assert col(ds, "IPAddress")[0] == "192.0.2.10"
    assert col(ds, "LocationLatitude")[0] == "52.52000122070312500"   # kept as exported, not rounded
    assert ds.dropped_identifiers == [] and ds.hashed_identifiers == []
    with pytest.raises(DataError):
        read("current_numeric.csv", identifiers="remove")


def test_describe(numeric):
    d = describe(numeric)
    assert set(d) == {"format", "encoding", "n_rows", "n_columns", "columns", "dropped_identifiers",
                      "missing_tokens", "email_cells", "emails_redacted"}
    # a Qualtrics export gets no missing-value tokens and its text answers hold no e-mail address (issue 14)
    assert (d["missing_tokens"], d["email_cells"], d["emails_redacted"]) == ({}, {}, False)
    assert (d["format"], d["encoding"], d["n_rows"], d["n_columns"]) == ("qualtrics_csv", "utf-8", 8, 35)
    assert d["columns"][0] == {"name": "StartDate", "label": "Start Date", "import_id": "startDate",
                               "dtype": "datetime64[us]"}
    assert d["dropped_identifiers"] == IDENTIFIERS


def test_write_parquet_and_csv(tmp_path, cb):
    ds = read("current_choice_text.csv", cb, identifiers="hash", salt="x")
    p, meta = ds.write(tmp_path / "out.parquet")
    back = pd.read_parquet(p)
    pd.testing.assert_frame_equal(back, ds.data)
    assert '"values": "choice_text"' in meta.read_text(encoding="utf-8")
    c, _ = ds.write(tmp_path / "out.csv")
    assert pd.read_csv(c).shape == ds.data.shape


# ---------------------------------------------------------------------------------------------------------------
# bad input: one clear DataError each
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, words, row, column", [
    ("bad_html.csv", "HTML page", None, None),
    ("bad_truncated_quote.csv", "never closed", 5, None),
    ("bad_truncated_row.csv", "truncated", 11, None),
    ("bad_truncated_header.csv", "2 header rows", None, None),
    ("bad_ragged.csv", "43 fields, row 1 has 42", 6, None),
    ("bad_cp1252.csv", "byte offset 800", 2, "Q2_1"),
    ("bad_xlsx.xlsx", "Excel workbook", None, None),
    ("bad_xls.xls", "old Excel", None, None),
    ("bad_empty.csv", "empty", None, None),
    ("bad_zip_empty.zip", "no file", None, None),
    ("bad_zip_two.zip", "2 files", None, None),
    ("does_not_exist.csv", "not found", None, None),
])
def test_bad_files(name, words, row, column):
    with pytest.raises(DataError) as e:
        read(name)
    err = e.value
    assert words in err.message
    assert err.file is not None and err.file.endswith(name)
    assert (err.row, err.column) == (row, column)


def test_bad_cp1252_suggests_encoding():
    with pytest.raises(DataError, match="encoding='cp1252'"):
        read("bad_cp1252.csv")


@pytest.mark.parametrize("content, words", [
    (b"   \n\n", "whitespace"),
    (b'{"responses": []}', "JSON"),
    (b"<?xml version='1.0'?><Responses/>", "XML"),
    (b"\x1f\x8b\x08\x00", "gzip"),
    (b"a,b\nx,\x00y\n", "NUL"),
    (b"\xef\xbb\xbf", "no column names"),
])
def test_other_bad_content(tmp_path, content, words):
    p = tmp_path / "x.csv"
    p.write_bytes(content)
    with pytest.raises(DataError, match=words):
        read_export(p)


def test_directory_and_bad_arguments(tmp_path):
    with pytest.raises(DataError, match="directory"):
        read_export(tmp_path)
    with pytest.raises(DataError, match="unknown encoding"):
        read("current_numeric.csv", encoding="no-such-codec")
    with pytest.raises(DataError, match="codebook"):
        read("current_numeric.csv", codebook=42)


def _edit(tmp_path: Path, column: str, row: int, value: str) -> Path:
    rows = mf.header_rows() + mf.data_rows()
    rows[3 + row][[c[0] for c in mf.COLUMNS].index(column)] = value
    p = tmp_path / "edited.csv"
    p.write_text(mf.csv_text(rows), encoding="utf-8")
    return p


@pytest.mark.parametrize("column, value, words", [
    ("Status", "Wrong type", "unknown response type"),
    ("Finished", "maybe", "1/0 or True/False"),
    ("StartDate", "yesterday", "not a date"),
    ("Progress", "12.5", "whole number"),
])
def test_bad_metadata_values_name_row_and_column(tmp_path, column, value, words):
    p = _edit(tmp_path, column, 2, value)
    with pytest.raises(DataError) as e:
        read_export(p)
    assert words in e.value.message and value in e.value.message
    assert (e.value.row, e.value.column) == (6, column)


def test_status_labels_all_known(tmp_path):
    rows = mf.header_rows() + mf.data_rows()
    j = [c[0] for c in mf.COLUMNS].index("Status")
    labels = list(STATUS_CODES.values())
    for k, r in enumerate(rows[3:]):
        r[j] = labels[k]
    p = tmp_path / "s.csv"
    p.write_text(mf.csv_text(rows), encoding="utf-8")
    ds = read_export(p)
    assert col(ds, "Status") == list(STATUS_CODES)[:8]
    assert ds.source.values == "choice_text"


def test_numeric_looking_codes_stay_text_without_codebook(tmp_path):
    p = tmp_path / "codes.csv"
    p.write_text("id,zip,big,score\nA,01234,12345678901234567890,1.5\nB,99999,1,2\n", encoding="utf-8")
    ds = read_export(p)
    assert [str(ds.data[c].dtype) for c in ds.data.columns] == ["string", "string", "string", "Float64"]
    assert col(ds, "zip") == ["01234", "99999"]


# ---------------------------------------------------------------------------------------------------------------
# round trip: instrument -> codebook -> fake export -> import
# ---------------------------------------------------------------------------------------------------------------
def test_build_fake_export_round_trip(tmp_path):
    from vccscale.instrument import build_instrument, codebook_from_instrument, fake_export
    from vccscale.registry import load_registry
    from vccscale.study import load_study

    reg = load_registry()
    inst = build_instrument(reg, load_study(REPO / "analysis" / "example_study.yaml"))
    cb = codebook_from_instrument(inst, reg)
    fake_export(cb, n=60, seed=1, out=tmp_path / "e.csv")
    ds = read_export(tmp_path / "e.csv", cb)
    assert ds.source.format == "qualtrics_csv" and ds.n_rows == 60
    assert ds.missing_from_export == [] and ds.not_in_codebook == []
    items = [r for r in cb.rows if r.role == "item"]
    by_var = {ci.codebook_variable: name for name, ci in ds.columns.items()}
    for r in items:
        assert r.variable in by_var, r.variable
        s = ds.data[by_var[r.variable]]
        assert str(s.dtype) == "Int64", r.variable
        v = s.dropna()
        assert len(v) == 0 or (v.min() >= r.scale_min and v.max() <= r.scale_max) or \
            set(v) <= set(range(r.scale_min, r.scale_max + 1)) | set(r.missing_codes), r.variable
    assert all(ds.columns[c].codebook_variable for c in ds.item_columns())
    assert len(ds.item_columns()) == len(items)
    assert str(ds.data["StartDate"].dtype) == "datetime64[us]" and str(ds.data["Finished"].dtype) == "boolean"
    long = ds.to_long()
    assert {"provider", "customer"} <= set(long["perspective"])
    item_ids = {r.item_id for r in items}
    assert item_ids <= set(long.columns)
    assert long["response_id"].nunique() == 60


# ---------------------------------------------------------------------------------------------------------------
# import weight
# ---------------------------------------------------------------------------------------------------------------
def test_import_does_not_load_pandas():
    code = ("import sys, vccscale.io, vccscale.cli; from vccscale.io import Dataset; "
            "sys.exit(1 if 'pandas' in sys.modules or 'pyarrow' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, check=False).returncode == 0


# ---------------------------------------------------------------------------------------------------------------
# fuzzing
# ---------------------------------------------------------------------------------------------------------------
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FUZZ = settings(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
VALID = ["current_numeric.csv", "current_choice_text.csv", "current_utf8.tsv", "current_utf16.tsv",
         "current_spreadsheet.csv", "export_2016.csv", "legacy.csv", "plain.csv", "export.zip"]
TOKENS = [b'"', b"\n", b"\r\n", b"\r", b"\t", b",", b";", b"\xef\xbb\xbf", b"\xff\xfe", b"\x00", b'""', b"{",
          b'{"ImportId":', b"\xe9", b"\xc3", b"V1,"]
_TMPDIR = tempfile.TemporaryDirectory(prefix="vccscale-fuzz-")   # removed when the test run ends
_TMP = Path(_TMPDIR.name)
_CB = Codebook.read(FIX / "codebook.json")


def _check(data: bytes, name: str = "fuzz.csv", codebook: Codebook | None = None) -> None:
    p = _TMP / name
    p.write_bytes(data)
    try:
        ds = read_export(p, codebook)
    except DataError as exc:
        assert exc.file is not None and str(exc)
        return
    assert isinstance(ds, Dataset)
    assert list(ds.data.columns) == list(ds.columns) and ds.n_rows == len(ds.data)


@st.composite
def mutated(draw):
    name = draw(st.sampled_from(VALID))
    data = bytearray((FIX / name).read_bytes())
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["truncate", "flip", "insert", "delete"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "truncate":
            del data[pos:]
        elif op == "flip" and data:
            data[pos] ^= draw(st.integers(1, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.sampled_from(TOKENS))
        else:
            del data[pos:pos + draw(st.integers(1, 64))]
    return name, bytes(data)


@settings(FUZZ, max_examples=120)
@given(mutated(), st.booleans())
def test_fuzz_mutated_fixtures(case, with_codebook):
    name, data = case
    assume(not data.startswith((b"$FL2", b"$FL3")))   # .sav content is fuzzed in subprocesses below
    _check(data, "fuzz" + Path(name).suffix, _CB if with_codebook else None)


@settings(FUZZ, max_examples=60)
@given(st.binary(min_size=0, max_size=2048))
def test_fuzz_random_bytes(data):
    assume(not data.startswith((b"$FL2", b"$FL3")))
    _check(data)


@settings(FUZZ, max_examples=20)
@given(st.binary(min_size=0, max_size=512), st.sampled_from(["a.csv", "x/b.tsv", "__MACOSX/._a.csv"]))
def test_fuzz_zip_members(data, member):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(member, data)
    assume(not data.startswith((b"$FL2", b"$FL3")))
    _check(buf.getvalue(), "fuzz.zip")


_SAV_CHILD = """
import sys
from vccscale.errors import DataError
from vccscale.io import read_export
try:
    read_export(sys.argv[1])
except DataError:
    sys.exit(3)
"""


def _corrupt_savs(out: Path) -> list[Path]:
    """~20 corrupted copies of the .sav fixture: truncations, flipped bytes in header, dictionary and data."""
    good = (FIX / "qualtrics.sav").read_bytes()
    rng = random.Random(20240311)
    variants: list[bytes] = []
    for frac in (0.02, 0.1, 0.3, 0.5, 0.75, 0.95):
        variants.append(good[:int(len(good) * frac)])
    for lo, hi in ((64, 176), (176, 1200), (1200, len(good) - 200), (len(good) - 200, len(good))):
        for _ in range(3):
            b = bytearray(good)
            for _ in range(rng.randint(1, 8)):
                b[rng.randrange(lo, hi)] = rng.randrange(256)
            variants.append(bytes(b))
    variants.append(good[:4] + bytes(rng.randrange(256) for _ in range(600)))
    variants.append(good[:176] + b"\xff" * 64 + good[240:])
    # byte flips that made pyreadstat 1.3 crash with a segmentation fault (found by a 200-variant run)
    crash = random.Random(1)
    for k in range(169):
        b = bytearray(good)
        if crash.random() < 0.2:
            b = b[:crash.randrange(len(b))]
        else:
            for _ in range(crash.randint(1, 10)):
                b[crash.randrange(4, len(b))] = crash.randrange(256)
        if k in (34, 58, 168):
            variants.append(bytes(b))
    paths = []
    for k, v in enumerate(variants):
        p = out / f"corrupt_{k:02d}.sav"
        p.write_bytes(v)
        paths.append(p)
    return paths


@pytest.mark.slow  # ~21 s
def test_fuzz_sav_in_subprocess(tmp_path):
    paths = _corrupt_savs(tmp_path)
    assert len(paths) >= 20

    def run(p: Path) -> tuple[Path, int, str]:
        try:
            r = subprocess.run([sys.executable, "-c", _SAV_CHILD, str(p)], cwd=REPO, capture_output=True, text=True,
                               timeout=120, check=False)
        except subprocess.TimeoutExpired:
            return p, -999, "timeout"
        return p, r.returncode, r.stderr[-2000:]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, paths))
    bad = [(p.name, code, err) for p, code, err in results if code not in (0, 3)]
    assert not bad, bad


def test_sav_in_process_and_in_zip(monkeypatch, numeric):
    from vccscale.io import formats

    monkeypatch.setattr(formats, "SAV_IN_SUBPROCESS", False)
    ds = read("qualtrics.sav")
    assert ds.source.format == "spss_sav" and ds.columns["Status"].value_labels == STATUS_CODES
    monkeypatch.setattr(formats, "SAV_IN_SUBPROCESS", True)
    p = _TMP / "sav.zip"
    with zipfile.ZipFile(p, "w") as zf:
        zf.write(FIX / "qualtrics.sav", "Survey.sav")
    dz = read_export(p)
    assert dz.source.archive_member == "Survey.sav"
    pd.testing.assert_frame_equal(dz.data, ds.data)
