"""vccscale CLI: Import and cleaning commands: import, clean, screen, score.

Thin layer over the library; the commands are registered on :func:`vccscale.cli.main`."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .cli import main
from .cli_support import (
    FORMAT,
    ListOption,
    echo_json,
    fmt_value,
    item_columns,
    load_registry_for,
    print_table,
    read_data,
    registry_option,
)


# ---------------------------------------------------------------------------------------------------- import
@main.command("import")
@click.argument("export", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--codebook", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Codebook of the instrument (csv/json): maps columns, recodes choice text to numbers.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the data (.parquet or .csv) plus a .meta.json sidecar.")
@click.option("--describe", is_flag=True, help="Print what was read: format, encoding, columns, dropped identifiers.")
@click.option("--identifiers", type=click.Choice(["drop", "hash", "keep"]), default="drop", show_default=True,
              help="IP address, location, recipient names/e-mail, external reference: drop them, keep a salted "
                   "hash, or keep them.")
@click.option("--salt", default=None, help="Salt for --identifiers hash (or set VCCSCALE_SALT).")
@click.option("--encoding", default=None, help="Override the detected text encoding.")
@click.option("--na", cls=ListOption, help="Cell values read as missing: --na NA -99 . (default: NA in plain CSV "
              "files, none in Qualtrics exports; empty cells are always missing). Counts go to the log.")
@click.option("--redact-emails", is_flag=True, help="Replace e-mail addresses typed into text answers with "
              "'[email removed]' (without it they are only counted in the log).")
@click.option("--format", "fmt", type=FORMAT, default="table", show_default=True)
def import_cmd(export: Path, codebook: Path | None, out_file: Path | None, describe: bool, identifiers: str,
               salt: str | None, encoding: str | None, na: tuple[str, ...], redact_emails: bool, fmt: str) -> None:
    """Read a Qualtrics export (3-row CSV, legacy or 2016 CSV, TSV, SPSS .sav, zip) or a plain CSV file (e.g.
    written by R) into an analysis data set.

    Direct identifiers are dropped by default and the log says which columns were dropped. A UTF-8 CSV/TSV export
    of 32 MB or more (also in a zip) written with --out FILE.parquet is streamed in blocks (memory does not grow
    with the file; same result as reading it whole)."""
    import os

    from .io import describe as describe_ds
    from .outpaths import check_outputs, data_inputs

    check_outputs([*data_inputs(export), codebook], files=[
        ("--out", out_file), ("--out", out_file and out_file.with_name(out_file.name + ".meta.json"))])
    salt = salt or os.environ.get("VCCSCALE_SALT")
    written = export.suffix.lower() in (".parquet", ".csv") and export.with_name(export.name + ".meta.json").exists()
    if out_file is not None and not written:
        # straight to the file: a large UTF-8 CSV/TSV export written to Parquet is streamed (memory does not grow
        # with the file); other files are read in memory as below
        from .io.stream import import_export

        meta = import_export(export, out_file, codebook, identifiers=identifiers, salt=salt, encoding=encoding,
                             na=list(na) if na else None, redact_emails=redact_emails, without_pandas=True,
                             progress=_import_progress)
        for line in meta["log"]:
            click.echo(line, err=True)
        click.echo(f"wrote {meta['files'][0]} and {meta['files'][1]} ({meta['how']})", err=True)
        ds = meta
    else:
        ds = read_data(export, codebook, identifiers, salt, encoding, na=list(na) if na else None,
                       redact_emails=redact_emails)
        for line in ds.log:
            click.echo(line, err=True)
        if out_file is not None:
            data_path, meta_path = ds.write(out_file)
            click.echo(f"wrote {data_path} and {meta_path}", err=True)
    if describe or fmt == "json":
        info = describe_ds(ds)
        if fmt == "json":
            echo_json(info)
        else:
            click.echo(f"{info['format']} ({info['encoding']}): {info['n_rows']} rows x {info['n_columns']} columns")
            print_table(["name", "label", "import_id", "dtype"],
                   [[c["name"], c["label"][:60], c["import_id"], c["dtype"]] for c in info["columns"]])
            click.echo(f"dropped identifiers: {', '.join(info['dropped_identifiers']) or 'none'}")
            if info["missing_tokens"]:
                click.echo("read as missing: " + ", ".join(f"{'empty' if t == '' else repr(t)} {v['cells']} cells"
                                                           for t, v in info["missing_tokens"].items()))
            if info["email_cells"]:
                click.echo(f"e-mail addresses {'redacted' if info['emails_redacted'] else 'found'} in: " + ", ".join(
                    f"{k} ({n} cells)" for k, n in info["email_cells"].items()))
    elif out_file is None:
        click.echo(f"{ds.source.format}: {ds.n_rows} rows x {len(ds.columns)} columns (use --out or --describe)")


def _import_progress(step: int, done: int, total: int) -> None:
    """A one-line progress display on a terminal's stderr (the streaming import's two passes)."""
    import sys

    if not sys.stderr.isatty():
        return
    what = "checking and deciding column types" if step == 1 else "converting and writing"
    sys.stderr.write(f"\rimport pass {step} of 2 ({what}): {100 * done / max(total, 1):3.0f}%")
    if step == 2 and done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


# ---------------------------------------------------------------------------------------------------- clean
@main.command("clean")
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--study", "study_file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Study file: its cleaning: section sets the rules (defaults otherwise); data: names the codebook.")
@click.option("--codebook", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Codebook (overrides the study file's data.codebook).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--data-format", type=click.Choice(["parquet", "csv"]), default="parquet", show_default=True)
@click.option("--na", cls=ListOption, help="When DATA is an export: cell values read as missing, --na NA -99 . "
              "(overrides the study file's data.na).")
@click.option("--format", "fmt", type=FORMAT, default="table", show_default=True)
def clean_cmd(data: Path, study_file: Path, codebook: Path | None, out_dir: Path, data_format: str,
              na: tuple[str, ...], fmt: str) -> None:
    """Screen DATA with the study's rules; write clean data, the audit log, the CONSORT table and a summary."""
    from .clean import clean
    from .study import CleaningSection, load_study

    from .outpaths import check_outputs, data_inputs

    study = load_study(study_file)
    cb = codebook or (study.resolve(study.data.codebook) if study.data and study.data.codebook else None)
    check_outputs([*data_inputs(data), study_file, cb], dirs=[("--out", out_dir, [
        f"clean.{data_format}", f"clean.{data_format}.meta.json", "audit_log.csv", "consort.csv",
        "screening_indices.csv", "cleaning_summary.json"])])
    ds = read_data(data, cb, na=list(na) if na else (study.data.na if study.data else None),
                   redact_emails=bool(study.data and study.data.redact_emails))
    res = clean(ds, study.cleaning or CleaningSection())
    paths = res.write(out_dir, data_format)
    summary = {**res.summary(), "files": {k: str(v) for k, v in paths.items()}}
    if fmt == "json":
        echo_json(summary)
        return
    print_table(["step", "rule", "excluded", "remaining"],
           [[r.step, r.rule, r.excluded, r.remaining] for r in res.consort.itertuples()], title="screening")
    for n in res.notes:
        click.echo(n, err=True)
    for k, v in paths.items():
        click.echo(f"  {k:8s} {v}")


@main.command("screen")
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--items", cls=ListOption, help="Item columns in order: --items A1 A2 A3 (default: the codebook's items).")
@click.option("--scales", cls=ListOption, type=click.IntRange(min=1),
              help="Factor lengths in item order, for even-odd: --scales 4 4 4 (default: from the codebook).")
@click.option("--codebook", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--format", "fmt", type=FORMAT, default="table", show_default=True)
def screen_cmd(data: Path, items: tuple[str, ...], scales: tuple[int, ...], codebook: Path | None,
               fmt: str) -> None:
    """Careless-responding indices per respondent: longstring, IRV, Mahalanobis D², even-odd, person-total.

    Definitions as the R package careless (vccscale.clean.indices); row is the 0-based data row. With --items,
    the columns are taken as given (no reverse-keying); without, the codebook's items per respondent version."""
    import pandas as pd

    from .clean.pipeline import index_flags, indices_frame, screen_indices
    from .errors import DataError

    ds = read_data(data, codebook)
    if len(ds.data) == 0:
        raise DataError("no responses to screen: the data has 0 rows (an export with its header rows only?)",
                        file=data)
    if items:
        item_columns(ds, items, data)
        if scales and sum(scales) != len(items):
            raise click.BadParameter(f"--scales add up to {sum(scales)}, but {len(items)} items were given",
                                     param_hint="--scales")
        x = ds.data[list(items)].apply(pd.to_numeric, errors="coerce").to_numpy(float)
        f = indices_frame(x, x, [list(range(len(items)))], list(scales) if scales else None, ds.data.index,
                          min_factors=2)
    else:
        if ds.codebook is None:
            raise click.UsageError("give --items (and --scales), or a codebook")
        f = screen_indices(ds)
    flags = index_flags(f)
    rows = []
    for i, r in f.iterrows():
        rec: dict[str, Any] = {"row": int(ds.data.index.get_loc(i))}
        for k in ("longstring", "irv", "mahalanobis", "even_odd", "person_total"):
            v = r[k]
            rec[k] = None if pd.isna(v) else (int(v) if k == "longstring" else float(v))
        if "perspective" in f:
            rec["perspective"] = r["perspective"]
        rec["flags"] = [k for k, v in flags.loc[i].items() if v]
        rows.append(rec)
    if fmt == "json":
        echo_json(rows)
    else:
        print_table(["row", "longstring", "irv", "mahalanobis", "even_odd", "person_total", "flags"],
               [[r["row"], r["longstring"], fmt_value(r["irv"]), fmt_value(r["mahalanobis"]), fmt_value(r["even_odd"]),
                 fmt_value(r["person_total"]), ",".join(r["flags"])] for r in rows], title=f"{len(rows)} respondents")


@main.command("score")
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--codebook", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Codebook of the export (reverse keys, missing codes, which items measure which construct).")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Scores file: .csv or .parquet.")
@click.option("--constructs", cls=ListOption, help="Construct ids: --constructs C1 C2 (default: every construct of "
              "the codebook, and composites of its sub-activities).")
@click.option("--min-answered", type=click.FloatRange(0, 1, min_open=True), default=0.5, show_default=True,
              help="Share of a scale's items a respondent must answer for a score.")
@click.option("--format", "fmt", type=FORMAT, default="table", show_default=True)
@registry_option
@click.pass_context
def score_cmd(ctx: click.Context, data: Path, codebook: Path, out_file: Path, constructs: tuple[str, ...],
              min_answered: float, fmt: str, registry_dir: Path | None) -> None:
    """Construct scores, one row per respondent version (response_id, perspective, organisation / relationship
    ids, one column per construct): the mean of the answered items (reverse-keyed items reversed) when at least
    --min-answered of them are answered, else missing; composites the unit-weighted mean of their sub-activity
    scores."""
    from .clean.scoring import construct_scores
    from .errors import DataError

    from .csvsafe import write_csv
    from .outpaths import check_outputs, data_inputs

    if out_file.suffix.lower() not in (".csv", ".parquet"):
        raise click.BadParameter("the scores file must end in .csv or .parquet", param_hint="--out")
    check_outputs([*data_inputs(data), codebook], files=[("--out", out_file)])
    res = construct_scores(read_data(data, codebook), list(constructs) or None, registry=load_registry_for(ctx, registry_dir),
                           min_answered=min_answered)
    try:
        write_csv(res.scores, out_file) if out_file.suffix.lower() == ".csv" else \
            res.scores.to_parquet(out_file, index=False)
    except OSError as exc:
        raise DataError(f"cannot write the scores: {exc.strerror or exc}", file=out_file) from None
    summary = {"data": str(data), "out": str(out_file), **res.to_dict()}
    if fmt == "json":
        echo_json(summary)
        return
    click.echo(res.summary())
    click.echo(f"wrote {out_file}: {len(res.scores)} rows x {res.scores.shape[1]} columns", err=True)
