"""`vccscale cfa`/`sem --format json` on a plain numeric CSV file, read and reported without pandas
(vccscale.io.plain, cli._plain_fit): the same bytes on stdout and stderr as the pandas path, which the command
takes for every other file and whenever anything is not plain.

Reference: the command itself with the plain path switched off (read_export, fit, measurement_quality), which the
rest of the suite checks against lavaan/semTools; here the two must agree exactly (tolerance 0: the same JSON
text), and the plain reader must give read_export's numbers bit for bit.
"""
from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import vccscale.cli as cli
from vccscale.io import read_export
from vccscale.io.plain import MAX_BYTES, NotPlain, read_plain

REF = Path(__file__).parent / "reference" / "validate"
HS = REF / "HolzingerSwineford1939.csv"
HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"


# ---------------------------------------------------------------------------------------------- helpers
def _run(args: list[str], plain: bool, monkeypatch) -> tuple[int, str, str, bool]:
    """(exit code, stdout, stderr, whether the plain path answered) of one in-process CLI run."""
    taken = []
    real = cli._plain_fit

    def spy(*a, **k):
        out = real(*a, **k) if plain else None
        taken.append(out is not None)
        return out

    monkeypatch.setattr(cli, "_plain_fit", spy)
    res = CliRunner().invoke(cli.main, args)
    monkeypatch.setattr(cli, "_plain_fit", real)
    return res.exit_code, res.stdout, res.stderr, bool(taken and taken[0])


def _same(tmp_path: Path, monkeypatch, data: Path, model: str, *extra: str, expect_plain: bool | None = True,
          fmt: str = "json") -> dict:
    """Run the command with and without the plain path: the same exit code, stdout and stderr. ``expect_plain``
    None: the plain path must answer when the pandas path succeeds without a word on stderr."""
    mfile = tmp_path / "model.lav"
    mfile.write_text(model, encoding="utf-8")
    args = ["cfa" if "~" not in model.replace("=~", "") else "sem", str(data), "--model", str(mfile),
            "--format", fmt, *extra]
    fast = _run(args, True, monkeypatch)
    full = _run(args, False, monkeypatch)
    assert fast[:3] == full[:3], (fast[2], full[2])
    if expect_plain is None:  # a silent success must be answered by the plain path (the fit's own warnings can be)
        assert fast[3] or full[0] != 0 or full[2] != ""
    else:
        assert fast[3] is expect_plain, full[2]
    return json.loads(fast[1]) if fast[0] == 0 and fmt == "json" else {}


def _write(path: Path, names: list[str], cols: list[list[str]], *, quote_names: bool = False, crlf: bool = False,
           bom: bool = False) -> Path:
    head = ",".join(f'"{n}"' if quote_names else n for n in names)
    lines = [head] + [",".join(r) for r in zip(*cols)]
    eol = "\r\n" if crlf else "\n"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + (eol.join(lines) + eol).encode("utf-8"))
    return path


def _factor_data(rng: np.random.Generator, n: int, sizes: list[int], *, r: float = 0.4, reverse: int | None = None,
                 cross: bool = False) -> tuple[np.ndarray, list[str], list[list[str]]]:
    k = len(sizes)
    phi = np.full((k, k), r) + (1 - r) * np.eye(k)
    eta = rng.multivariate_normal(np.zeros(k), phi, size=n)
    cols, blocks, names = [], [], []
    j = 0
    for f, m in enumerate(sizes):
        items = []
        for _ in range(m):
            j += 1
            lam = rng.uniform(0.5, 0.9)
            x = lam * eta[:, f] + rng.normal(scale=np.sqrt(1 - lam ** 2), size=n)
            if cross and j == 2 and k > 1:
                x = x + 0.3 * eta[:, 1]
            if reverse is not None and j == reverse:
                x = -x
            cols.append(x)
            items.append(f"y{j}")
            names.append(f"y{j}")
        blocks.append(items)
    return np.column_stack(cols), names, blocks


def _cells(x: np.ndarray, style: str, rng: np.random.Generator) -> list[list[str]]:
    """Numbers as researchers' files write them: 'likert' (whole numbers 1-7), 'r' (R's write.csv: 15
    significant digits, exponents for small values), 'repr' (Python's shortest repr), 'fixed' (3 decimals)."""
    out = []
    for col in x.T:
        if style == "likert":
            out.append([str(int(v)) for v in np.clip(np.round(col * 1.3 + 4), 1, 7)])
        elif style == "r":
            out.append([f"{v:.15g}" if abs(v) >= 1e-4 else f"{v:.6e}".replace("e-0", "e-0") for v in col])
        elif style == "repr":
            out.append([repr(float(v)) for v in col])
        else:
            out.append([f"{v:.3f}" for v in col])
    return out


# ---------------------------------------------------------------------------------------------- the reader
@pytest.mark.parametrize("style", ["likert", "r", "repr", "fixed"])
@pytest.mark.parametrize("layout", [{}, {"quote_names": True}, {"crlf": True}, {"bom": True, "crlf": True}])
def test_reader_gives_read_exports_numbers(tmp_path, style, layout):
    rng = np.random.default_rng(len(style) * 7 + len(layout))
    x, names, _ = _factor_data(rng, 157, [3, 4])
    cols = _cells(x, style, rng)
    cols.append([rng.choice(["Pasteur", '"Grant-White"', "a b", ""]) for _ in range(157)])  # a text column
    names = names + ["school"]
    p = _write(tmp_path / "d.csv", names, cols, **layout)
    plain = read_plain(p)
    assert plain is not None and plain.columns == names
    items = names[:-1]
    ours = plain.matrix(items)
    ref = read_export(p).data[items].to_numpy(dtype=float)
    assert np.array_equal(ours, ref) and np.array_equal(np.signbit(ours), np.signbit(ref))
    assert ours.flags.f_contiguous  # column-major, as pandas holds a frame's numbers


@pytest.mark.parametrize("others", ["whole", "decimal"])
@pytest.mark.parametrize("cell", ["1e-05", "-2.5e-05", "3.0", "0", "0.5", "-0.5", "123456789012345", "1E3", "2e+2",
                                  "4.94e-324", "1.7976931348623157e308", "0.1000000000000000055511151231257827",
                                  "-0", "-0.0", "-0.000", "-1e-400", "9007199254740993.0"])
def test_reader_number_forms(tmp_path, cell, others):
    vals = [cell] + [str(v) if others == "whole" else f"{v}.5" for v in range(1, 30)]
    p = _write(tmp_path / "d.csv", ["a", "b"], [vals, [str(v % 5) for v in range(30)]])
    ours = read_plain(p).matrix(["a"])
    ref = read_export(p).data[["a"]].to_numpy(dtype=float)
    assert np.array_equal(ours, ref) and np.array_equal(np.signbit(ours), np.signbit(ref))


@pytest.mark.parametrize("cell", ["NA", "", "007", "0x1F", "1e400", "-1e400", "1234567890123456",
                                  '"3"', "1.", ".5", "+1", " 1", "1 ", "inf", "nan", "1,5"])
def test_not_plain_numbers(tmp_path, cell):
    vals = [cell] + [str(v) for v in range(1, 30)]
    p = _write(tmp_path / "d.csv", ["a", "b"], [vals, [str(v % 5) for v in range(30)]])
    plain = read_plain(p)
    if plain is not None:  # (a comma in a cell makes the row ragged: not plain already)
        with pytest.raises(NotPlain):
            plain.matrix(["a"])


#: files that are not plain, written as they are
_RAW_FILES = {
    "semicolon": b"a;b\n1;2\n",
    "ragged": b"a,b,c\n1,2,3\n4,5\n",
    "inner_quote": b'a,b,c\n1,2,"say ""hi"""\n',
    "quoted_comma": b'a,b,c\n1,2,"x,y"\n',
    "at_sign": b"a,b,c\n1,2,me@example.org\n",
    "invalid_utf8": b"a,b,c\n1,2,\xff\n",
    "empty_line": b"a,b,c\n1,2,3\n\n4,5,6\n",
    "bare_cr": b"a,b,c\r1,2,3\r",
    "mixed_eol": b"a,b,c\r\n1,2,3\n4,5,6\r\n",
    "qualtrics": b"StartDate,EndDate,Q1\nStart Date,End Date,Question 1\n2024-01-01 10:00:00,2024-01-01 10:05:00,3\n",
    "v1": b"V1,V2,Q1\nResponseID,ResponseSet,Question\nR_1,Default,3\n",
    "no_rows": b"a,b,c\n",
    "brace": b"a,b,c\n1,2,{x}\n",
    "nul": b"a,b,c\n1,2,\x00\n",
}
#: plain files but for one column name: (position, name)
_NAMES = {"email_name": (2, "Email"), "meta_name": (2, "StartDate"), "text_name": (2, "Q1_TEXT"),
          "do_name": (2, "Q2_DO"), "name_space": (2, "c d"), "dup_names": (2, "a"), "unnamed": (0, "")}


@pytest.mark.parametrize("case", ["tsv", "sidecar", *_RAW_FILES, *_NAMES])
def test_reader_leaves_other_files_to_read_export(tmp_path, case):
    names, cols = ["a", "b", "c"], [["1", "2", "3"], ["4", "5", "6"], ["7", "8", "9"]]
    p = tmp_path / ("d.tsv" if case == "tsv" else "d.csv")
    if case in _NAMES:
        k, name = _NAMES[case]
        names[k] = name
    if case in _RAW_FILES:
        p.write_bytes(_RAW_FILES[case])
    else:
        _write(p, names, cols)
    if case == "sidecar":
        p.with_name(p.name + ".meta.json").write_text("{}")
    assert read_plain(p) is None


def test_reader_size_limit(tmp_path, monkeypatch):
    p = _write(tmp_path / "d.csv", ["a", "b"], [["1"] * 50, ["2"] * 50])
    assert read_plain(p) is not None
    monkeypatch.setattr("vccscale.io.plain.MAX_BYTES", p.stat().st_size - 1)
    assert read_plain(p) is None
    assert MAX_BYTES >= 2**20


# ---------------------------------------------------------------------------------------------- the command
def test_hs1939_plain_and_without_pandas(tmp_path, monkeypatch):
    out = _same(tmp_path, monkeypatch, HS, HS_MODEL)
    assert out["n"] == 301 and set(out["reliability"]) == {"visual", "textual", "speed"}
    for fmt in ("json", "text"):
        args = ["cfa", str(HS), "--model", str(tmp_path / "model.lav"), "--format", fmt]
        code = ("import sys\nfrom vccscale.cli import main\n"
                f"try:\n    main({args!r})\n"
                "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
                "print('PANDAS', 'pandas' in sys.modules, file=sys.stderr)\n")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert "PANDAS False" in r.stderr
        if fmt == "json":
            assert json.loads(r.stdout) == out
        else:
            assert r.stdout.startswith("vccscale SEM (ML), 301 cases") and "visual =~      x1 1.000" in r.stdout


# seeds 4 and 16 draw weakly identified models that fail after thousands of iterations (the error path, 13-16 s)
@pytest.mark.parametrize("seed", [pytest.param(k, marks=pytest.mark.slow) if k in (4, 16, 17) else k
                                  for k in range(24)])
def test_random_models_same_json(tmp_path, monkeypatch, seed):
    """Random CFAs and SEMs (2-4 factors of 2-6 items, a cross-loading, residual covariances, second-order
    factors, regressions with := effects), ML/MLR, listwise/FIML, std.lv, both variance conventions, numbers
    written as Likert codes, R's write.csv, Python repr or 3 decimals."""
    rng = np.random.default_rng(1000 + seed)
    k = int(rng.integers(2, 5))
    sizes = [int(rng.integers(2 if seed % 5 else 1, 7)) for _ in range(k)]
    sizes[0] = max(sizes[0], 3)
    cross = seed % 4 == 1
    n = int(rng.choice([60, 150, 400, 1200]))
    x, names, blocks = _factor_data(rng, n, sizes, cross=cross)
    style = ["likert", "r", "repr", "fixed"][seed % 4]
    p = _write(tmp_path / "d.csv", names + ["id"], _cells(x, style, rng) + [[str(i + 1) for i in range(n)]],
               quote_names=seed % 3 == 0, crlf=seed % 2 == 1)
    lines = [f"f{i + 1} =~ " + " + ".join(b) for i, b in enumerate(blocks)]
    if cross:
        lines.append(f"f2 =~ {blocks[0][1]}")
    if seed % 6 == 2 and sizes[0] >= 3:
        lines.append(f"{blocks[0][0]} ~~ {blocks[0][1]}")
    if seed % 7 == 3 and k >= 3:
        lines.append("g =~ " + " + ".join(f"f{i + 1}" for i in range(k)))
    elif seed % 3 == 1 and k >= 3:
        lines += ["f3 ~ a*f1 + c*f2", "f2 ~ b*f1", "ind := a*b", "tot := c + a*b"]
    extra = []
    if seed % 2:
        extra += ["--estimator", "MLR"]
    if seed % 3 == 2:
        extra += ["--missing", "fiml"]
    if seed % 5 == 4:
        extra += ["--std-lv"]
    if seed % 4 == 3:
        extra += ["--ave-variances", "observed"]
    _same(tmp_path, monkeypatch, p, "\n".join(lines) + "\n", *extra, expect_plain=None)
    _same(tmp_path, monkeypatch, p, "\n".join(lines) + "\n", *extra, expect_plain=None, fmt="text")
    # the text table (written without pandas for one group) is pandas' to_string of the estimates
    from vccscale.errors import VccscaleError
    from vccscale.sem import fit_sem
    from vccscale.sem.results import text_table

    frame = read_export(p).data
    try:
        fit = fit_sem(frame, "\n".join(lines), estimator="MLR" if "MLR" in extra else "ML",
                      missing="fiml" if "fiml" in extra else "listwise", std_lv="--std-lv" in extra)
    except VccscaleError:
        return
    cols = ["lhs", "op", "rhs", "est", "se", "z", "pvalue", "std_all"]
    assert text_table(fit.parameter_records(), cols) == fit.estimates[cols].to_string(
        index=False, float_format=lambda v: f"{v:.3f}")


@pytest.mark.parametrize("extra", [[], ["--missing", "fiml"], ["--estimator", "MLR", "--std-lv"]])
def test_observed_covariates_same_json(tmp_path, monkeypatch, extra):
    """Observed exogenous covariates (fixed.x) and an observed outcome in a SEM: the same JSON both ways."""
    rng = np.random.default_rng(11)
    x, names, blocks = _factor_data(rng, 250, [3, 3])
    age = rng.integers(20, 65, 250).astype(float)
    sales = x[:, 3:].sum(axis=1) + rng.normal(size=250)
    p = _write(tmp_path / "d.csv", names + ["age", "sales"],
               _cells(x, "fixed", rng) + [[str(int(v)) for v in age], [f"{v:.4f}" for v in sales]])
    model = ("f1 =~ " + " + ".join(blocks[0]) + "\nf2 =~ " + " + ".join(blocks[1])
             + "\nf2 ~ f1 + age\nsales ~ f2 + age\n")
    out = _same(tmp_path, monkeypatch, p, model, *extra)
    assert "sales" in out["r2"] and out["n"] == 250


def test_reverse_keyed_item_goes_to_pandas(tmp_path, monkeypatch):
    """A reverse-keyed item: cronbach_alpha warns (stderr), so the plain path hands over and the output (with the
    warning) is the pandas path's."""
    rng = np.random.default_rng(5)
    x, names, blocks = _factor_data(rng, 300, [4, 3], reverse=2)
    p = _write(tmp_path / "d.csv", names, _cells(x, "fixed", rng))
    model = "\n".join(f"f{i + 1} =~ " + " + ".join(b) for i, b in enumerate(blocks)) + "\n"
    mfile = tmp_path / "model.lav"
    mfile.write_text(model)
    code, out, err, taken = _run(["cfa", str(p), "--model", str(mfile), "--format", "json"], True, monkeypatch)
    assert code == 0 and not taken and "reverse" in err.lower()
    _same(tmp_path, monkeypatch, p, model, expect_plain=False)


def test_missing_values_go_to_pandas(tmp_path, monkeypatch):
    rng = np.random.default_rng(6)
    x, names, blocks = _factor_data(rng, 200, [3, 3])
    cols = _cells(x, "fixed", rng)
    cols[1][5] = "NA"
    cols[4][7] = ""
    p = _write(tmp_path / "d.csv", names, cols)
    model = "\n".join(f"f{i + 1} =~ " + " + ".join(b) for i, b in enumerate(blocks)) + "\n"
    _same(tmp_path, monkeypatch, p, model, expect_plain=False)
    _same(tmp_path, monkeypatch, p, model, "--missing", "fiml", expect_plain=False)


def test_errors_are_the_pandas_paths(tmp_path, monkeypatch):
    """A model naming a column the file lacks, a text column in the model (read_export reports it), a model with
    more parameters than moments, one that is not identified: the same message and exit code."""
    rng = np.random.default_rng(7)
    x, names, blocks = _factor_data(rng, 100, [3, 3])
    cols = _cells(x, "fixed", rng) + [["Pasteur"] * 100]
    p = _write(tmp_path / "d.csv", names + ["school"], cols)
    for model in ("f1 =~ y1 + y2 + nope\n", "f1 =~ y1 + y2 + school\n", "f1 =~ y1 + y2\n",
                  "f1 =~ y1 + y2 + y3\nf2 =~ y4 + y5\nf1 ~~ 0*f2\n"):
        _same(tmp_path, monkeypatch, p, model, expect_plain=False)


def test_missing_files_and_two_level_models_are_the_pandas_paths(tmp_path, monkeypatch):
    """A missing data or model file (the data's error first, as always) and a two-level model: the same output."""
    mfile = tmp_path / "m.lav"
    mfile.write_text(HS_MODEL)
    tl = tmp_path / "tl.lav"
    tl.write_text("level: 1\nf =~ x1 + x2 + x3\nlevel: 2\nf =~ x1 + x2 + x3\n")
    for args in (["cfa", str(tmp_path / "nope.csv"), "--model", str(tmp_path / "nope.lav")],
                 ["cfa", str(HS), "--model", str(tmp_path / "nope.lav")],
                 ["cfa", str(tmp_path / "nope.csv"), "--model", str(mfile)],
                 ["cfa", str(HS), "--model", str(tl)]):
        fast = _run(args + ["--format", "json"], True, monkeypatch)
        full = _run(args + ["--format", "json"], False, monkeypatch)
        assert fast[:3] == full[:3] and fast[0] == 1 and not fast[3]


def test_other_options_take_the_pandas_path(tmp_path, monkeypatch):
    """--modindices, --group (and --cluster, --codebook, --ordered, ...) take the pandas path; text output of a
    plain file does not."""
    mfile = tmp_path / "m.lav"
    mfile.write_text(HS_MODEL)
    for extra in (["--format", "json", "--modindices"], ["--format", "json", "--group", "school"],
                  ["--modindices"], ["--estimator", "MLR", "--group", "school"]):
        code, _, _, taken = _run(["cfa", str(HS), "--model", str(mfile), *extra], True, monkeypatch)
        assert code == 0 and not taken
    _same(tmp_path, monkeypatch, HS, HS_MODEL, fmt="text")


def test_text_table_as_pandas_writes_it():
    from vccscale.sem.results import text_table

    fmt = lambda v: f"{v:.3f}"  # noqa: E731
    for df in (pd.DataFrame({"lhs": ["a", "bbb", "c"], "est": [-0.5, np.nan, np.inf],
                             "z": [-np.inf, 1234.5678, -0.0], "pvalue": [0.0, 0.0, np.nan]}),
               pd.DataFrame({"lhs": ["x" * 60, "b"], "est": [0.5, 1.5]}),
               pd.DataFrame({"lhs": ["a"], "est": [np.nan]}),
               pd.DataFrame({"lhs": ["\u00e9", "\u00fc"], "std_all": [1e9, -1e-9]})):
        assert text_table(df.to_dict("records"), list(df.columns)) == df.to_string(index=False, float_format=fmt)
    with pytest.raises(TypeError):
        text_table([{"group": 1}], ["group"])


# ---------------------------------------------------------------------------------------------- deferred tables
def test_deferred_tables_equal_and_pickle(tmp_path):
    from vccscale.sem import fit_sem
    from vccscale.sem.results import table_records

    d = pd.read_csv(HS)
    model = HS_MODEL + "speed ~ a*visual\ntextual ~ b*speed\nab := a*b\n"
    fit = fit_sem(d, model, estimator="MLR")
    assert fit.tables_deferred
    names, sig = fit.moments("implied")
    recs = fit.parameter_records()
    r2 = fit.r2_records()
    assert fit.tables_deferred  # none of these built the tables
    assert json.dumps(recs) == json.dumps(fit.estimates.to_dict(orient="records"))  # (builds them)
    assert not fit.tables_deferred
    assert r2 == {k: float(v) for k, v in fit.r2.items()}
    assert np.array_equal(sig, fit.fitted_cov["all"].to_numpy()) and names == list(fit.fitted_cov["all"].columns)
    assert np.array_equal(fit.moments("sample")[1], fit.sample_cov["all"].to_numpy())
    fit2 = fit_sem(d, HS_MODEL, estimator="MLR")  # (a fit with := rows holds compiled code: not picklable)
    back = pickle.loads(pickle.dumps(fit2))
    assert not back.tables_deferred
    pd.testing.assert_frame_equal(back.estimates, fit_sem(d, HS_MODEL, estimator="MLR").estimates)
    rows = [{"a": 1, "b": 1.5, "c": "x", "d": np.int64(3), "e": np.float64(0.5), "f": True},
            {"a": 2.0, "b": 2, "c": "", "d": 4, "e": 1, "f": False}]
    ours = table_records(rows)
    assert ours == pd.DataFrame.from_records(rows).to_dict(orient="records")
    assert [type(v) for v in ours[1].values()] == [float, float, str, int, float, bool]
