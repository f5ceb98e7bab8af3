"""The streaming import (vccscale.io.stream.import_export) against the in-memory reader (read_export + write).

The reference is read_export itself: for every file and option the streamed Parquet file must hold the same data
frame (values and nullable dtypes, pandas.testing.assert_frame_equal, exact) and the same .meta.json sidecar
(log, dtypes, missing-value and e-mail counts, SHA-256 of the file) as ``read_export(...).write(...)``, and a bad
file must raise the same DataError (file, row, column, message). Small blocks (2-8 kB) make tens of blocks out of
files of a few hundred rows, so every decision that needs the whole column (a decimal, a code with leading zeros,
an answer label or a bad date in the last block only) is tested across block boundaries. The date parser is
checked against pandas.to_datetime(format=...) on generated strings.
"""
from __future__ import annotations

import csv
import io
import json
import random
import re
from pathlib import Path

import pandas as pd
import pytest

from vccscale.errors import DataError
from vccscale.io.read import DATE_FORMATS, read_export
from vccscale.io.stream import import_export, parse_dates

FIX = Path(__file__).parent / "fixtures" / "exports"
CODEBOOK = FIX / "codebook.json"


def _both(path: Path, tmp: Path, block: int, **kw):
    """(reference, streamed, how): each (meta, frame) or ("ERR", message)."""
    try:
        ds = read_export(path, **kw)
        ds.write(tmp / "ref.parquet")
        ref = (json.loads((tmp / "ref.parquet.meta.json").read_text()), pd.read_parquet(tmp / "ref.parquet"))
    except DataError as exc:
        ref = ("ERR", str(exc))
    try:
        info = import_export(path, tmp / "got.parquet", stream=True, block_size=block, **kw)
        got = (json.loads((tmp / "got.parquet.meta.json").read_text()), pd.read_parquet(tmp / "got.parquet"))
        how = info["how"]
    except DataError as exc:
        got, how = ("ERR", str(exc)), "error"
    return ref, got, how


def _same(ref, got) -> None:
    if ref[0] == "ERR" or got[0] == "ERR":
        assert got == ref
        return
    assert got[0] == ref[0]
    pd.testing.assert_frame_equal(got[1], ref[1])


# -- the fixture exports ---------------------------------------------------------------------------------------------
TEXT_FIXTURES = ["current_numeric.csv", "current_choice_text.csv", "current_utf8.tsv", "current_spreadsheet.csv",
                 "export_2016.csv", "legacy.csv", "plain.csv", "export.zip"]
OPTIONS = [{}, {"codebook": CODEBOOK}, {"na": ["NA", "-99"], "identifiers": "hash", "salt": "s",
                                        "redact_emails": True}, {"identifiers": "keep"}]


@pytest.mark.parametrize("name", TEXT_FIXTURES)
@pytest.mark.parametrize("opt", range(len(OPTIONS)))
def test_fixtures_stream_equal_in_memory(tmp_path: Path, name: str, opt: int) -> None:
    ref, got, how = _both(FIX / name, tmp_path, 2048, **OPTIONS[opt])
    _same(ref, got)
    assert how.startswith("streamed"), how


@pytest.mark.parametrize("name", ["current_utf16.tsv", "bad_zip_empty.zip", "bad_zip_two.zip", "qualtrics.sav",
                                  "bad_xlsx.xlsx", "bad_cp1252.csv",
                                  "bad_ragged.csv", "bad_truncated_quote.csv", "bad_truncated_row.csv",
                                  "bad_truncated_header.csv", "bad_html.csv", "bad_empty.csv"])
def test_other_files_read_in_memory_same_result_or_error(tmp_path: Path, name: str) -> None:
    ref, got, how = _both(FIX / name, tmp_path, 2048)
    _same(ref, got)
    assert not how.startswith("streamed")


def test_shipped_example_streams(tmp_path: Path) -> None:
    path = Path(__file__).parents[1] / "datasets" / "example_export.csv"
    ref, got, how = _both(path, tmp_path, 1 << 16)
    _same(ref, got)
    assert how.startswith("streamed")
    assert got[0]["source"]["sha256"] == ref[0]["source"]["sha256"]


# -- generated exports: a column's type decided by its last block ------------------------------------------------------
META = ["StartDate", "EndDate", "Status", "IPAddress", "Progress", "Duration (in seconds)", "Finished",
        "RecordedDate", "ResponseId", "RecipientEmail"]
META_IID = ["startDate", "endDate", "status", "ipAddress", "progress", "duration", "finished", "recordedDate",
            "_recordId", "recipientEmail"]
ITEMS = ["Q1_1", "Q1_2", "Q2", "Q3_TEXT", "code", "score", "side", "wave"]


def _export(n: int = 400, edit=None, crlf: bool = False, header: int = 3, extra_col: bool = False,
            seed: int = 1, label: str = "") -> bytes:
    rng = random.Random(seed)
    names = META + ITEMS + ([""] if extra_col else [])
    rows = []
    for r in range(n):
        day = 1 + r % 28
        row = {"StartDate": f"2024-05-{day:02d} 10:{r % 60:02d}:00", "EndDate": f"2024-05-{day:02d} 11:{r % 60:02d}:05",
               "Status": "0", "IPAddress": f"192.0.2.{r % 250}", "Progress": "100",
               "Duration (in seconds)": str(300 + r), "Finished": "1",
               "RecordedDate": f"2024-05-{day:02d} 11:{r % 60:02d}:06", "ResponseId": f"R_{r:08d}abc",
               "RecipientEmail": "", "Q1_1": str(rng.randint(1, 7)),
               "Q1_2": "" if r % 9 == 0 else str(rng.randint(1, 7)), "Q2": str(rng.randint(1, 5)),
               "Q3_TEXT": rng.choice(["", "fine", "good, thanks", "multi\nline"]), "code": f"{rng.randint(10, 99)}",
               "score": f"{rng.randint(0, 100)}", "side": rng.choice(["provider", "customer"]), "wave": "1", "": ""}
        if edit:
            edit(r, row)
        rows.append([row[k] for k in names])
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n" if crlf else "\n")
    w.writerow(names)
    if header >= 2:
        w.writerow([(k + label if k else "") for k in names])
    if header >= 3:
        w.writerow([json.dumps({"ImportId": i}) for i in META_IID]
                   + [json.dumps({"ImportId": f"QID{k}"}) for k in range(len(ITEMS))]
                   + (['{"ImportId": "x"}'] if extra_col else []))
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _at(rows: set[int], col: str, value: str):
    def edit(r: int, row: dict) -> None:
        if r in rows:
            row[col] = value
    return edit


CASES = {
    "plain": None,
    "decimal_last_block": _at({395}, "score", "2.5"),
    "whole_decimal_last_block": _at({395}, "score", "3.0"),
    "leading_zero_last_block": _at({390}, "code", "007"),
    "hex_last_block": _at({390}, "code", "0x1F"),
    "sixteen_digits_last_block": _at({390}, "score", "1234567890123456.5"),
    "big_int_last_block": _at({390}, "score", "12345678901234567"),
    "label_last_block": _at({399}, "Q2", "Somewhat agree"),
    "text_last_block": _at({399}, "Q1_1", "n/a"),
    "na_token_late": _at({10, 380}, "Q1_2", "-99"),
    "email_late": _at({371}, "Q3_TEXT", "write to me at someone@example.org"),
    "email_in_numeric_column": _at({371}, "score", "x@example.org"),
    "status_label_late": _at({377}, "Status", "Survey Preview"),
    "status_bad_late": _at({377}, "Status", "Imported twice"),
    "finished_bad_late": _at({388}, "Finished", "maybe"),
    "finished_truefalse_late": _at({388}, "Finished", "True"),
    "duration_decimal_late": _at({350}, "Duration (in seconds)", "12.5"),
    "duration_text_late": _at({350}, "Duration (in seconds)", "long"),
    "date_bad_late": _at({360}, "StartDate", "2024-02-30 10:00:00"),
    "date_other_shape_late": _at({360}, "EndDate", "31/05/2024 10:00"),
    "empty_text_late_value": _at({399}, "Q3_TEXT", "last"),
    "all_missing_item": _at(set(range(400)), "Q2", ""),
    "unnamed_value_late": _at({398}, "", "oops"),
    "ragged_late": None,
    "invalid_utf8_late": None,
    "odd_quote_late": None,
}


def _case_bytes(case: str) -> bytes:
    extra = case in ("unnamed_value_late",) or case == "plain"
    data = _export(edit=CASES[case], extra_col=extra)
    if case == "ragged_late":
        data = data.rstrip(b"\n") + b",extra\n"
    elif case == "invalid_utf8_late":
        data = data[:-40] + b"\xff" + data[-39:]
    elif case == "odd_quote_late":
        data = data.rstrip(b"\n") + b'"\n'
    return data


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("block", [4096, 8192])
def test_generated_cases_stream_equal_in_memory(tmp_path: Path, case: str, block: int) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(_case_bytes(case))
    ref, got, how = _both(path, tmp_path, block, na=["-99"] if case == "na_token_late" else None,
                          redact_emails=case.startswith("email"))
    _same(ref, got)
    if case in ("ragged_late", "invalid_utf8_late", "odd_quote_late"):
        assert not how.startswith("streamed")


@pytest.mark.parametrize("case", ["plain", "label_last_block", "status_label_late"])
def test_generated_with_codebook_and_hashes(tmp_path: Path, case: str) -> None:
    from vccscale.instrument.codebook import Codebook, CodebookRow

    rows = [CodebookRow(variable="Q2", import_id="QID2", label="Q2", role="item", type="likert",
                        value_labels={1: "Strongly disagree", 2: "Somewhat disagree", 3: "Neither", 4: "Somewhat agree",
                                      5: "Strongly agree"}),
            CodebookRow(variable="score", import_id="QID5", label="score", role="item", type="numeric")]
    cb = Codebook(rows=rows)
    path = tmp_path / "export.csv"
    path.write_bytes(_case_bytes(case))
    ref, got, how = _both(path, tmp_path, 4096, codebook=cb, identifiers="hash", salt="pepper")
    _same(ref, got)
    assert how.startswith("streamed")


@pytest.mark.slow  # 2 s or more on the 2-core development machine (the quick suite: -m 'not slow')
def test_crlf_inside_answers_at_every_block_boundary(tmp_path: Path) -> None:
    """CRLF line breaks inside quoted answers, shifted across the block boundary byte by byte (arrow drops the LF
    when a block ends between CR and LF, apache/arrow#51368; the stream never ends a read there)."""
    for shift in range(12):
        def edit(r: int, row: dict, shift: int = shift) -> None:
            row["Q3_TEXT"] = "a" * shift + "first line\r\nsecond line" if r % 3 == 0 else "x"
        path = tmp_path / f"crlf{shift}.csv"
        path.write_bytes(_export(n=120, edit=edit, crlf=True))
        ref, got, how = _both(path, tmp_path, 2048)
        _same(ref, got)
        assert how.startswith("streamed")
        assert got[1]["Q3_TEXT"].str.contains("\r\n", regex=False).sum() == 40


def test_auto_streams_only_large_parquet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import vccscale.io.stream as st

    path = tmp_path / "export.csv"
    path.write_bytes(_export())
    assert not import_export(path, tmp_path / "a.parquet")["streamed"]
    monkeypatch.setattr(st, "STREAM_MIN_BYTES", 1000)
    assert import_export(path, tmp_path / "b.parquet")["streamed"]
    info = import_export(path, tmp_path / "c.csv")
    assert not info["streamed"] and "CSV output" in info["how"]
    with pytest.raises(DataError, match="must end in .parquet or .csv"):
        import_export(path, tmp_path / "d.xlsx")


def test_stream_output_is_deterministic(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(_export())
    import_export(path, tmp_path / "a.parquet", stream=True, block_size=4096)
    import_export(path, tmp_path / "b.parquet", stream=True, block_size=4096)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert (tmp_path / "a.parquet.meta.json").read_text() == (tmp_path / "b.parquet.meta.json").read_text()


def test_failed_stream_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(_case_bytes("status_bad_late"))
    with pytest.raises(DataError, match="unknown response type"):
        import_export(path, tmp_path / "a.parquet", stream=True, block_size=4096)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.csv"]


# -- dates: the parser against pandas.to_datetime(format=...) --------------------------------------------------------
def _date_strings(rng: random.Random, n: int, fmt: str) -> list[str]:
    """Strings in the shape of ``fmt`` (values unpadded, out of range, year 0, leap days, doubled blanks, tabs) and
    in other shapes."""
    def num(lo: int, hi: int, pad: int) -> str:
        v = rng.randint(lo, hi)
        return str(v).zfill(pad) if rng.random() < 0.8 else str(v)
    fill = {"Y": lambda: rng.choice([num(1, 9999, 4), num(1990, 2030, 4), "0000", num(0, 99, 2)]),
            "y": lambda: num(0, 99, 2), "m": lambda: rng.choice([num(1, 12, 2), num(0, 13, 2)]),
            "d": lambda: rng.choice([num(1, 28, 2), num(28, 31, 2), num(0, 32, 2)]),
            "H": lambda: num(0, 24, 2), "I": lambda: num(0, 13, 2), "M": lambda: num(0, 60, 2),
            "S": lambda: rng.choice([num(0, 59, 2), num(58, 62, 2)]), "p": lambda: rng.choice(["AM", "pm", "Pm", "XM"])}
    out = []
    for _ in range(n):
        if rng.random() < 0.75:
            parts = re.split(r"(%[A-Za-z])", fmt)
            s = "".join(fill[p[1]]() if p.startswith("%") else p.replace(" ", rng.choice([" ", " ", "  ", "\t"]))
                        for p in parts)
            out.append(s)
            continue
        y, mo, d = num(1, 9999, 4), num(0, 13, 2), num(0, 32, 2)
        h, mi, sec = num(0, 25, 2), num(0, 61, 2), num(0, 61, 2)
        sep = rng.choice(["-", "/", "."])
        date = rng.choice([f"{y}{sep}{mo}{sep}{d}", f"{d}{sep}{mo}{sep}{y}", f"{mo}{sep}{d}{sep}{y}"])
        time = rng.choice([f"{h}:{mi}:{sec}", f"{h}:{mi}", f"{h}:{mi}:{sec} PM", ""])
        out.append(f"{date} {time}" if time else date)
    return out


@pytest.mark.parametrize("fmt", [f for f, _ in DATE_FORMATS])
def test_parse_dates_equals_pandas(fmt: str) -> None:
    import pyarrow as pa

    rng = random.Random(sum(map(ord, fmt)))
    vals = _date_strings(rng, 3000, fmt) + ["2024-02-29 10:00:00", "2023-02-29 10:00:00", "1900-02-29 00:00",
                                       "2000-02-29 00:00", "29/02/2000 12:00", "12/31/2024 12:00 AM",
                                       "12/31/2024 12:00:00 PM", "2024-05-01", "01/05/2024"]
    want = pd.to_datetime(pd.Series(vals), format=fmt, errors="coerce")
    want = want.mask(want.dt.year < 1)     # read._dates: year 0 is no date (pandas reads it in ISO shapes only)
    got = parse_dates(pa.array(vals, pa.string()), fmt).to_pandas()
    w = want.astype("datetime64[us]")
    bad = [(v, a, b) for v, a, b in zip(vals, w, got) if not ((pd.isna(a) and pd.isna(b)) or a == b)]
    assert not bad, bad[:10]
    assert want.notna().sum() > 50 and want.isna().sum() > 50


# -- more edges of the block-by-block reading -------------------------------------------------------------------------
def test_literal_quote_in_unquoted_value(tmp_path: Path) -> None:
    """A quote inside an unquoted value (12" written by hand) is literal for the parser but would mislead the
    record boundaries: the file is read in memory, with read_export's result."""
    path = tmp_path / "export.csv"
    data = _export(edit=_at({5, 300}, "Q3_TEXT", "TOKEN"))
    path.write_bytes(data.replace(b"TOKEN", b'a 12" screen'))   # not quoted, as a hand-edited file may be
    ref, got, how = _both(path, tmp_path, 4096)
    assert ref[1]["Q3_TEXT"].str.contains('12"', regex=False).sum() == 2
    _same(ref, got)
    assert not how.startswith("streamed")


def test_quoted_answers_with_quotes_and_line_breaks_stream(tmp_path: Path) -> None:
    def edit(r: int, row: dict) -> None:
        row["Q3_TEXT"] = f'she said "fine, {r}"\nand left' if r % 4 == 0 else row["Q3_TEXT"]
    path = tmp_path / "export.csv"
    path.write_bytes(_export(edit=edit))
    ref, got, how = _both(path, tmp_path, 4096)
    _same(ref, got)
    assert how.startswith("streamed")
    assert got[1]["Q3_TEXT"].str.contains('"fine, 0"', regex=False).any()


def _codebook(labels: dict[int, str]):
    from vccscale.instrument.codebook import Codebook, CodebookRow

    return Codebook(rows=(CodebookRow(variable="Q2", import_id="QID2", label="Q2", role="item", type="likert",
                                      value_labels=labels),))


@pytest.mark.parametrize("edit", ["hex_then_label", "label_then_hex", "numeric_labels", "decimal_then_label"])
def test_coded_columns_across_blocks(tmp_path: Path, edit: str) -> None:
    labels = {1: "Strongly disagree", 2: "Disagree", 3: "Neither", 4: "Agree", 5: "Strongly agree"}
    edits = {"hex_then_label": {30: "0x1F", 390: "Agree"}, "label_then_hex": {30: "Agree", 390: "0x1F"},
             "numeric_labels": {390: "Agree"}, "decimal_then_label": {30: "2.5", 390: "Agree"}}[edit]
    if edit == "numeric_labels":
        labels = {1: "1", 2: "2", 3: "3", 4: "Agree", 5: "5"}

    def fn(r: int, row: dict) -> None:
        if r in edits:
            row["Q2"] = edits[r]
    path = tmp_path / "export.csv"
    path.write_bytes(_export(edit=fn))
    ref, got, how = _both(path, tmp_path, 4096, codebook=_codebook(labels))
    _same(ref, got)


def test_without_pandas_keeps_pandas_out_of_the_stream_only(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "export.csv"
    path.write_bytes(_export())
    code = (f"import sys; from vccscale.io.stream import import_export; "
            f"m = import_export({str(path)!r}, {str(tmp_path / 'o.parquet')!r}, stream=True, block_size=4096, "
            f"without_pandas=True); print(m['streamed'], 'pandas' in sys.modules); "
            f"import pandas as pd; print(len(pd.read_parquet({str(tmp_path / 'o.parquet')!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False", "400"]


def test_cli_import_streams_a_large_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    import vccscale.io.stream as st
    from vccscale.cli import main

    monkeypatch.setattr(st, "STREAM_MIN_BYTES", 1000)
    path = tmp_path / "export.csv"
    path.write_bytes(_export())
    res = CliRunner().invoke(main, ["import", str(path), "--out", str(tmp_path / "o.parquet"), "--format", "json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["n_rows"] == 400 and info["dropped_identifiers"] == ["IPAddress", "RecipientEmail"]
    assert "streamed in blocks" in res.stderr
    ref = read_export(path)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "o.parquet"), ref.data)


def test_literal_quotes_are_found_even_when_they_pair_up(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    data = _export(edit=_at({5}, "Q3_TEXT", "TOKEN"))
    path.write_bytes(data.replace(b"TOKEN", b'12" or 15" screens'))
    ref, got, how = _both(path, tmp_path, 4096)
    _same(ref, got)
    assert "unquoted" in how


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_canonical_dates_fast_path_equals_pandas(seed: int) -> None:
    """Qualtrics' zero-padded YYYY-MM-DD HH:MM:SS, every value of that width (arrow's strptime, its fields read
    back), including 30 February, 10:60, 24:00, second 60, year 0000 and a sign in the year."""
    import pyarrow as pa

    rng = random.Random(seed)
    vals = [f"{rng.choice([rng.randint(1, 9999), 2024, 2000, 1900, 0]):04d}-{rng.randint(0, 13):02d}-"
            f"{rng.randint(0, 31):02d} {rng.randint(0, 24):02d}:{rng.randint(0, 60):02d}:{rng.randint(0, 61):02d}"
            for _ in range(3000)]
    if seed == 2:
        vals = [v for v in vals if not v.startswith("0000")]        # all valid years: the fast path decides
        vals = [v for v in vals if pd.notna(pd.to_datetime(v, format="%Y-%m-%d %H:%M:%S", errors="coerce"))
                and int(v[-2:]) < 60]
        from vccscale.io.stream import _canonical_dates
        assert _canonical_dates(pa.array(vals, pa.string())) is not None     # the fast path reads them
    if seed == 3:
        vals[5] = "+024-05-01 10:00:00"
    want = pd.to_datetime(pd.Series(vals), format="%Y-%m-%d %H:%M:%S", errors="coerce")
    want = want.mask(want.dt.year < 1).astype("datetime64[us]")
    got = parse_dates(pa.array(vals, pa.string()), "%Y-%m-%d %H:%M:%S").to_pandas()
    bad = [(v, a, b) for v, a, b in zip(vals, want, got) if not ((pd.isna(a) and pd.isna(b)) or a == b)]
    assert not bad, bad[:5]


def test_header_rows_longer_than_the_first_read(tmp_path: Path) -> None:
    """Question texts of a wide instrument make the label row longer than the 64 kB read first (family C's
    export with two versions: 524 columns): more is read until the header rows are complete."""
    path = tmp_path / "export.csv"
    path.write_bytes(_export(label=" - a long question text, with a comma" * 400))
    ref, got, how = _both(path, tmp_path, 1 << 16)
    _same(ref, got)
    assert how.startswith("streamed")
    assert len(got[0]["columns"][10]["label"]) > 10_000


# -- zip archives (Qualtrics' API download) ---------------------------------------------------------------------------
def _zip(tmp_path: Path, data: bytes, name: str = "export.csv", extra: dict | None = None) -> Path:
    import zipfile

    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data, compress_type=zipfile.ZIP_DEFLATED)
        for k, v in (extra or {}).items():
            zf.writestr(k, v)
    return path


def test_zip_archive_streams_its_export(tmp_path: Path) -> None:
    path = _zip(tmp_path, _export(edit=_at({390}, "score", "2.5")))
    ref, got, how = _both(path, tmp_path, 4096)
    _same(ref, got)
    assert how.startswith("streamed")
    assert got[0]["source"]["archive_member"] == "export.csv" and got[0]["log"][0].startswith("read archive member")


@pytest.mark.parametrize("case", ["two_members", "sav_inside", "too_big", "bad_status", "damaged"])
def test_zip_archives_that_are_not_streamed_give_read_exports_result(tmp_path: Path, case: str) -> None:
    data = _export()
    kw: dict = {}
    if case == "two_members":
        path = _zip(tmp_path, data, extra={"other.csv": "a,b\n1,2\n"})
    elif case == "sav_inside":
        path = _zip(tmp_path, (FIX / "qualtrics.sav").read_bytes(), name="export.sav")
    elif case == "too_big":
        path, kw = _zip(tmp_path, data), {"max_unzipped_bytes": 10_000}
    elif case == "bad_status":
        path = _zip(tmp_path, _export(edit=_at({390}, "Status", "Imported twice")))
    else:
        path = _zip(tmp_path, data)
        raw = bytearray(path.read_bytes())
        raw[len(raw) // 2] ^= 0xFF             # a damaged byte in the compressed data
        path.write_bytes(bytes(raw))
    ref, got, how = _both(path, tmp_path, 4096, **kw)
    _same(ref, got)
    if case != "bad_status":
        assert not how.startswith("streamed")


def test_study_run_imports_a_large_export_streamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`vccscale run`'s import stage goes through import_export: a large export is streamed, to the same data."""
    import vccscale.io.stream as st
    from vccscale.pipeline.runner import run_study

    study = Path(__file__).parents[1] / "analysis" / "example_study.yaml"
    monkeypatch.setattr(st, "STREAM_MIN_BYTES", 1000)
    monkeypatch.setattr(st, "STREAM_BLOCK", 1 << 16)
    res = run_study(study, only="import", out=tmp_path / "out", progress=False)
    assert res is not None
    got = pd.read_parquet(tmp_path / "out" / "data" / "imported.parquet")
    ref = read_export(Path(__file__).parents[1] / "datasets" / "example_export.csv",
                      Path(__file__).parents[1] / "instruments" / "build" / "example_study" / "codebook.json")
    pd.testing.assert_frame_equal(got, ref.data)
    import pyarrow.parquet as pq
    assert pq.ParquetFile(tmp_path / "out" / "data" / "imported.parquet").metadata.num_row_groups > 1   # streamed


def test_record_boundary_against_brute_force() -> None:
    """_boundary: the end of the last line end with an even number of quotes before it (checked against counting
    from the start for every line end), in one pass over the tail even when an answer holds 200,000 line breaks."""
    from vccscale.io.stream import _boundary

    def brute(buf: bytes) -> int:
        for pos in range(len(buf) - 1, -1, -1):
            if buf[pos:pos + 1] == b"\n" and buf[:pos].count(b'"') % 2 == 0:
                return pos + 1
        return 0
    rng = random.Random(7)
    for _ in range(3000):
        buf = bytes(rng.choice(b'ab,"\n') for _ in range(rng.randint(0, 40)))
        assert _boundary(buf) == brute(buf), buf
    assert _boundary(b"a,b\n" * 1000 + b'x,"' + b"line\n" * 200_000) == 4000


def test_progress_reports_both_passes_to_the_end(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b"\xef\xbb\xbf" + _export())      # with a byte-order mark: counted as read too
    calls: list[tuple[int, int, int]] = []
    import_export(path, tmp_path / "o.parquet", stream=True, block_size=4096, progress=lambda *a: calls.append(a))
    size = path.stat().st_size
    for step in (1, 2):
        done = [d for s, d, t in calls if s == step]
        assert len(done) > 5 and done == sorted(done) and done[-1] == size
    assert [s for s, _, _ in calls] == sorted(s for s, _, _ in calls)      # pass 1 ends before pass 2 begins
    assert {t for _, _, t in calls} == {size}


# -- random exports: every decision across blocks ---------------------------------------------------------------------
_CELLS = {
    "int": lambda r: str(r.randint(-5, 120)),
    "float": lambda r: f"{r.uniform(-3, 3):.2f}",
    "whole_float": lambda r: f"{r.randint(0, 9)}.0",
    "zero_code": lambda r: r.choice(["007", "012", "0", "10"]),
    "label": lambda r: r.choice(["Agree", "Strongly agree", "Neither agree nor disagree"]),
    "text": lambda r: r.choice(["fine", "a, b", 'said "hi"', "two\nlines", "n/a"]),
    "token": lambda r: r.choice(["NA", " NA ", "-99"]),
    "email": lambda r: "mail me: x.y@example.org",
    "date": lambda r: f"2024-0{r.randint(1, 9)}-{r.randint(1, 28):02d} {r.randint(0, 23):02d}:00:00",
    "blank": lambda r: "",
}


@pytest.mark.parametrize("seed", range(40))
def test_random_exports_stream_equal_in_memory(tmp_path: Path, seed: int) -> None:
    """Plain CSV files (one header row) of random columns, each mostly one kind of value with a few cells of other
    kinds scattered anywhere (so a column's type may change in any block), read in random block sizes, with the
    missing-value tokens NA and -99 and e-mail redaction on every second file."""
    rng = random.Random(seed)
    n, k = rng.randint(30, 300), rng.randint(2, 9)
    kinds = [rng.choice(list(_CELLS)) for _ in range(k)]
    rows = []
    for _ in range(n):
        row = []
        for kind in kinds:
            use = kind if rng.random() > 0.03 else rng.choice(list(_CELLS))
            row.append(_CELLS[use](rng))
        rows.append(row)
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator=rng.choice(["\n", "\r\n"]))
    w.writerow([f"v{j}" for j in range(k)])
    w.writerows(rows)
    path = tmp_path / "export.csv"
    path.write_bytes(buf.getvalue().encode("utf-8"))
    kw = {"na": ["NA", "-99"], "redact_emails": True} if seed % 2 else {}
    ref, got, how = _both(path, tmp_path, rng.choice([512, 1024, 2048, 8192]), **kw)
    _same(ref, got)
