"""Command-line contract of `vccscale import` (issue 5)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from vccscale.cli import main

FIX = Path(__file__).resolve().parent / "fixtures" / "exports"


def test_describe_json_keys():
    res = CliRunner().invoke(main, ["import", str(FIX / "current_numeric.csv"), "--describe", "--format", "json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)  # JSON only on stdout; the log goes to stderr
    assert set(info) >= {"format", "encoding", "n_rows", "n_columns", "columns", "dropped_identifiers"}
    assert info["format"] == "qualtrics_csv" and info["n_columns"] == len(info["columns"])
    assert {"name", "label", "import_id", "dtype"} <= set(info["columns"][0])
    assert "IPAddress" in info["dropped_identifiers"]
    assert all(c["name"] != "IPAddress" for c in info["columns"])
    assert "IPAddress" in res.stderr  # the log says which columns were dropped


def test_out_writes_data_and_sidecar(tmp_path):
    out = tmp_path / "data.parquet"
    res = CliRunner().invoke(main, ["import", str(FIX / "current_numeric.csv"), "--codebook",
                                    str(FIX / "codebook.json"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "data.parquet.meta.json").read_text())
    assert meta["source"]["sha256"] and meta["dropped_identifiers"]
    df = pd.read_parquet(out)
    assert len(df) == meta["n_rows"]
    # the written data set is read back by later commands with its metadata
    res = CliRunner().invoke(main, ["import", str(out), "--describe", "--format", "json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["n_rows"] == len(df)


def test_bad_inputs_exit_1_with_file_name(tmp_path):
    for name in ("bad_html.csv", "bad_empty.csv", "bad_xlsx.xlsx"):
        res = CliRunner().invoke(main, ["import", str(FIX / name), "--describe"])
        assert res.exit_code == 1 and name in res.stderr and "Traceback" not in res.output, name
    res = CliRunner().invoke(main, ["import", str(tmp_path / "missing.csv")])
    assert res.exit_code == 1 and "missing.csv" in res.stderr
    res = CliRunner().invoke(main, ["import", str(FIX / "current_numeric.csv"), "--identifiers", "hash"])
    assert res.exit_code == 1 and "salt" in res.stderr
