"""Import benchmark: read_export against plain pandas on a large current-format Qualtrics export.

Run on demand (not part of the tests)::

    python benchmarks/import_benchmark.py                 # 100,000 responses x 300 columns
    python benchmarks/import_benchmark.py --rows 20000 --cols 100 --repeat 3 --keep /tmp/bench

The export is written once into a temporary directory (or ``--keep DIR``, reused when it exists): the 17
metadata columns, then Likert items (1-7, about 3% empty), one ``_TEXT`` column per 50 columns, numeric
entries and a few embedded-data fields. Each reader runs in a fresh subprocess, so the peak resident memory
(``VmHWM``, else ``ru_maxrss``) is its own; the table shows wall-clock seconds (best of ``--repeat``), peak RSS
and peak RSS above the interpreter + imports baseline.

Readers compared:
  * ``read_export``            vccscale's importer, typed columns (Int64/Float64/boolean/string/datetime)
  * ``read_export + codebook`` the same with a codebook mapping every column
  * ``import_export``          the streaming import to Parquet (vccscale.io.stream; with and without codebook);
                               pandas is imported in every child first, so "above base" compares like with like
                               (``vccscale import`` runs it without pandas: benchmarks/goals.py measures that)
  * ``pandas.read_csv``        ``pd.read_csv(path, skiprows=[1, 2])`` (numpy dtypes, no checks, C engine)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

META = [("StartDate", "startDate"), ("EndDate", "endDate"), ("Status", "status"), ("IPAddress", "ipAddress"),
        ("Progress", "progress"), ("Duration (in seconds)", "duration"), ("Finished", "finished"),
        ("RecordedDate", "recordedDate"), ("ResponseId", "_recordId"), ("RecipientLastName", "recipientLastName"),
        ("RecipientFirstName", "recipientFirstName"), ("RecipientEmail", "recipientEmail"),
        ("ExternalReference", "externalDataReference"), ("LocationLatitude", "locationLatitude"),
        ("LocationLongitude", "locationLongitude"), ("DistributionChannel", "distributionChannel"),
        ("UserLanguage", "userLanguage")]


def _columns(n_cols: int) -> list[tuple[str, str, str, str]]:
    """(name, label, ImportId, kind) for every column."""
    cols = [(n, n, i, "meta") for n, i in META]
    q = 1
    while len(cols) < n_cols - 3:
        for s in range(1, 11):
            if len(cols) >= n_cols - 3:
                break
            kind = "text" if (len(cols) % 50 == 0) else ("num" if len(cols) % 37 == 0 else "likert")
            sfx = "_TEXT" if kind == "text" else ""
            cols.append((f"Q{q}_{s}{sfx}", f"Question {q}, with a comma - statement {s}", f"QID{q}_{s}{sfx}", kind))
        q += 1
    cols += [(f, f, f, "embed") for f in ("side", "organisation_id", "wave")][: n_cols - len(cols)]
    return cols


def make_export(path: Path, n_rows: int, n_cols: int, seed: int = 1) -> None:
    import csv

    import pandas as pd

    rng = np.random.default_rng(seed)
    cols = _columns(n_cols)
    start = np.datetime64("2026-11-01T00:00:00") + rng.integers(0, 27 * 86400, n_rows).astype("timedelta64[s]")
    dur = rng.integers(120, 3000, n_rows)
    fmt = "%Y-%m-%d %H:%M:%S"
    data: dict[str, object] = {}
    for name, _, iid, kind in cols:
        if kind == "meta":
            v = {
                "startDate": pd.Series(start).dt.strftime(fmt),
                "endDate": pd.Series(start + dur.astype("timedelta64[s]")).dt.strftime(fmt),
                "recordedDate": pd.Series(start + dur.astype("timedelta64[s]")).dt.strftime(fmt),
                "status": np.zeros(n_rows, dtype=int), "progress": np.full(n_rows, 100), "duration": dur,
                "finished": np.ones(n_rows, dtype=int),
                "_recordId": [f"R_{i:015d}" for i in range(n_rows)],
                "ipAddress": [f"192.0.2.{1 + i % 254}" for i in range(n_rows)],
                "distributionChannel": np.full(n_rows, "anonymous"), "userLanguage": np.full(n_rows, "EN"),
                "locationLatitude": np.round(rng.uniform(36, 60, n_rows), 4),
                "locationLongitude": np.round(rng.uniform(-9, 25, n_rows), 4),
            }.get(iid, np.full(n_rows, ""))
        elif kind == "likert":
            x = rng.integers(1, 8, n_rows).astype(float)
            x[rng.random(n_rows) < 0.03] = np.nan
            v = pd.array(x, dtype="Float64").astype("Int64")
        elif kind == "num":
            v = rng.integers(0, 500, n_rows)
        elif kind == "text":
            v = np.where(rng.random(n_rows) < 0.2, "Some free text, with a comma", "")
        else:
            v = [f"ORG{i % 97:03d}" for i in range(n_rows)] if name == "organisation_id" else \
                rng.integers(1, 3, n_rows)
        data[name] = v
    df = pd.DataFrame(data)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\r\n")
        w.writerow([c[0] for c in cols])
        w.writerow([c[1] for c in cols])
        w.writerow([json.dumps({"ImportId": c[2], **({"timeZone": "Z"} if c[2] in ("startDate", "endDate",
                                                                                   "recordedDate") else {})},
                               separators=(",", ":")) for c in cols])
    df.to_csv(path, mode="a", header=False, index=False, lineterminator="\r\n")


def make_codebook(path: Path, n_cols: int) -> None:
    sys.path.insert(0, str(REPO))
    from vccscale.instrument.codebook import Codebook, CodebookRow

    labels = {i: f"label {i}" for i in range(1, 8)}
    rows = []
    for name, label, iid, kind in _columns(n_cols):
        if kind == "meta":
            rows.append(CodebookRow(variable=name, import_id=iid, label=label, role="metadata",
                                    type="identifier" if iid in ("ipAddress", "locationLatitude") else "text"))
        elif kind == "likert":
            rows.append(CodebookRow(variable=name, import_id=iid, label=label, role="item", type="likert",
                                    item_id=name, perspective="provider", scale_min=1, scale_max=7,
                                    value_labels=labels))
        elif kind == "num":
            rows.append(CodebookRow(variable=name, import_id=iid, label=label, role="question", type="numeric"))
        else:
            rows.append(CodebookRow(variable=name, import_id=iid, label=label,
                                    role="embedded_data" if kind == "embed" else "question", type="text"))
    Codebook(tuple(rows)).write_json(path)


_CHILD = r"""
import resource, sys, time, json


def peak_kb():
    # VmHWM is the peak RSS of this process image (ru_maxrss would carry the parent's peak across exec)
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


sys.path.insert(0, {repo!r})
import pandas as pd, pyarrow, pyarrow.csv
from vccscale.io import read_export
from vccscale.instrument.codebook import Codebook
import vccscale.io.read
base = peak_kb()
which, path, cbp = sys.argv[1], sys.argv[2], sys.argv[3]
t = time.perf_counter()
if which == "pandas":
    df = pd.read_csv(path, skiprows=[1, 2], low_memory=False)
    shape = df.shape
elif which == "codebook":
    ds = read_export(path, Codebook.read(cbp))
    shape = ds.data.shape
elif which.startswith("stream"):
    from vccscale.io.stream import import_export
    m = import_export(path, path + ".parquet", Codebook.read(cbp) if which == "stream_codebook" else None,
                      stream=True)
    shape = (m["n_rows"], m["n_columns"])
else:
    ds = read_export(path)
    shape = ds.data.shape
dt = time.perf_counter() - t
peak = peak_kb()
print(json.dumps({{"seconds": dt, "peak_kb": peak, "base_kb": base, "shape": list(shape)}}))
"""


def run(which: str, path: Path, cb: Path) -> dict:
    code = _CHILD.format(repo=str(REPO))
    out = subprocess.run([sys.executable, "-c", code, which, str(path), str(cb)], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise SystemExit(f"{which} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--cols", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=1, help="runs per reader (best time, max memory)")
    ap.add_argument("--keep", type=Path, default=None, help="directory for the generated export (reused)")
    args = ap.parse_args(argv)
    tmp = None
    if args.keep is None:
        tmp = tempfile.TemporaryDirectory(prefix="vccscale-bench-")
        d = Path(tmp.name)
    else:
        d = args.keep
        d.mkdir(parents=True, exist_ok=True)
    path = d / f"export_{args.rows}x{args.cols}.csv"
    cb = d / f"codebook_{args.cols}.json"
    if not path.exists():
        t = time.perf_counter()
        make_export(path, args.rows, args.cols)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t:.1f} s")
    if not cb.exists():
        make_codebook(cb, args.cols)
    results = {}
    for which, label in (("vccscale", "read_export"), ("codebook", "read_export + codebook"),
                         ("stream", "import_export (streamed)"), ("stream_codebook", "import_export + codebook"),
                         ("pandas", "pandas.read_csv(skiprows=[1,2])")):
        runs = [run(which, path, cb) for _ in range(max(args.repeat, 1))]
        results[label] = {"seconds": min(r["seconds"] for r in runs), "peak_kb": max(r["peak_kb"] for r in runs),
                          "base_kb": min(r["base_kb"] for r in runs), "shape": runs[0]["shape"]}
    size = path.stat().st_size / 1e6
    print(f"\nfile: {args.rows} rows x {args.cols} columns, {size:.1f} MB ({os.cpu_count()} CPUs)\n")
    ref = results["pandas.read_csv(skiprows=[1,2])"]["seconds"]
    print(f"{'reader':34} {'seconds':>8} {'vs pandas':>9} {'peak MB':>8} {'above base':>10}  shape")
    for label, r in results.items():
        print(f"{label:34} {r['seconds']:8.2f} {r['seconds'] / ref:8.2f}x {r['peak_kb'] / 1024:8.0f} "
              f"{(r['peak_kb'] - r['base_kb']) / 1024:10.0f}  {r['shape'][0]} x {r['shape'][1]}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
