"""Command-line interface: a thin layer over the library.

Conventions (DEVELOPERS.md): ``--format json`` prints JSON only on stdout (NaN as null, snake_case keys);
progress and warnings go to stderr; exit 0 = ok, 1 = data/model/registry error, 2 = usage error.
Heavy modules are imported inside commands so that ``vccscale --help`` starts fast.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from . import __version__
from .cli_support import (
    FORMAT,
    ListOption,
    item_columns,
    model_variables,
    n_out,
    read_data,
    reverse_key_warnings,
    scale_frame,
    scale_options,
    variables_options,
)
from .errors import VccscaleError
from .jsonsafe import jsonable as _jsonable

def echo_json(obj: Any) -> None:
    click.echo(json.dumps(_jsonable(obj), indent=2, ensure_ascii=False, allow_nan=False))


def _table(columns: list[str], rows: list[list[Any]], title: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False, header_style="bold")
    for k, col in enumerate(columns):
        table.add_column(col, overflow="fold", no_wrap=k == 0)  # ids are never broken
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    # piped output (files, grep) gets a wide table instead of rich's default 80 columns
    Console(soft_wrap=False, width=None if sys.stdout.isatty() else 160).print(table)


class VccscaleCommand(click.Command):
    """A command whose errors name its input files: a VccscaleError (not a usage error) of a command with DATA
    and/or --model gets "(data: <file>, model: <file>)" added to its message."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except VccscaleError as exc:
            where = ", ".join(f"{k}: {ctx.params[k]}" for k in ("data", "model") if ctx.params.get(k) is not None)
            if where and f"({where})" not in exc.message and getattr(exc, "exit_code", 1) == 1:
                exc.message = f"{exc.message} ({where})"
                exc.args = (str(exc),)
            raise


class VccscaleGroup(click.Group):
    """Turns VccscaleError into a one-line message on stderr and exit code 1 (an OutputError: 2), never a
    traceback."""

    command_class = VccscaleCommand
    group_class = type  # subgroups (constructs, instrument, ...) are VccscaleGroups too

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except VccscaleError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(getattr(exc, "exit_code", 1))


def registry_option(f: Any) -> Any:
    return click.option("--registry", "registry_dir", type=click.Path(file_okay=False, path_type=Path),
                        default=None, help="Registry directory (constructs/, items/, hypotheses.yaml, seeds.yaml) "
                        "to use instead of the shipped one; also $VCCSCALE_REGISTRY.")(f)


def _load(ctx: click.Context, registry_dir: Path | None):
    from .registry import load_registry

    root = ctx.find_root()
    chosen = registry_dir or (root.obj or {}).get("registry_dir")
    if chosen is not None and not Path(chosen).is_dir():
        raise click.BadParameter(f"{chosen} is not a directory", param_hint="--registry")
    return load_registry(chosen)


@click.group(cls=VccscaleGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vccscale")
@registry_option
@click.pass_context
def main(ctx: click.Context, registry_dir: Path | None) -> None:
    """vccscale: measure and test value co-creation (VCC) with survey data.

    Construct registry and item bank traceable to the seed studies, instrument generation, Qualtrics import,
    audited cleaning, psychometric validation and hypothesis tests. Run `vccscale COMMAND --help` for details.
    """
    ctx.ensure_object(dict)
    ctx.obj["registry_dir"] = registry_dir
    import warnings

    def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        click.echo(f"warning: {message}", err=True)  # one line on stderr, never source code

    warnings.showwarning = show


# ---------------------------------------------------------------------------------------------------- constructs
@main.group()
def constructs() -> None:
    """List and show the constructs of the registry."""


@constructs.command("list")
@click.option("--family", type=click.Choice(["A", "B", "C", "D", "X"], case_sensitive=False), default=None,
              help="Only this family (A-D; X = shared). Shared constructs used by a family are included.")
@click.option("--format", "fmt", type=FORMAT, default="table", show_default=True, help="Output format.")
@registry_option
@click.pass_context
def constructs_list(ctx: click.Context, family: str | None, fmt: str, registry_dir: Path | None) -> None:
    """List constructs with family, role, level, measurement, provenance and item counts."""
    reg = _load(ctx, registry_dir)
    rows = [reg.construct_record(c) for c in reg.constructs_in(family)]
    if fmt == "json":
        echo_json(rows)
        return
    _table(["id", "name", "family", "role", "level", "measurement", "items", "seeds"],
           [[r["id"], r["name"], r["family"] if r["family"] != "X" else "X(" + ",".join(r["families"]) + ")",
             r["role"], "/".join(r["level"]), r["measurement"] + (" 2nd" if r["order"] == "second" else ""),
             r["n_items"], ",".join(sorted({p["seed"] for p in r["provenance"]}))] for r in rows],
           title=f"{len(rows)} constructs" + (f" (family {family.upper()})" if family else ""))


@constructs.command("show")
@click.argument("construct_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@registry_option
@click.pass_context
def constructs_show(ctx: click.Context, construct_id: str, fmt: str, registry_dir: Path | None) -> None:
    """Show one construct: definition, provenance, facets and items."""
    reg = _load(ctx, registry_dir)
    c = reg.construct(construct_id)
    rec = reg.construct_record(c, full=True)
    if fmt == "json":
        echo_json(rec)
        return
    out = [f"{c.id}  {c.name}",
           f"  family {c.family}{' (' + ', '.join(c.families_using) + ')' if c.family == 'X' else ''}; "
           f"role {c.role_text}; level {c.level_text}; wording {c.wording_text}; measurement {c.measurement}"
           + (f" ({c.identification})" if c.identification else ""),
           "", "Definition", f"  {c.definition}"]
    if c.parent:
        out += [f"  first-order facet of {c.parent}"]
    if c.lower_order:
        out += ["", "Lower-order constructs", *[f"  - {x}" for x in c.lower_order]]
    if c.facets:
        out += ["", "Facets", *[f"  ({k}) {f}" for k, f in enumerate(c.facets, 1)]]
    if c.global_facets:
        out += ["", "Global items", *[f"  ({k}) {f}" for k, f in enumerate(c.global_facets, 1)]]
    out += ["", "Provenance"]
    for p in rec["provenance"]:
        extra = "".join(f"; {k} {p[k]}" for k in ("cell",) if k in p)
        loc = f'; loc "{" / ".join(p["loc"])}"' if "loc" in p else ""
        note = f" ({p['note']})" if "note" in p else ""
        out.append(f"  {p['seed']} {p['file']}: {p['where']}{note}{extra}{loc}")
    items = reg.items_of(c.id)
    out += ["", f"Items ({len(items)})"]
    for i in items:
        flags = "".join([" R" if i.reverse else "", f" [{i.kind}]" if i.kind != "reflective" else ""])
        out.append(f"  {i.id} (facet {i.facet}{flags}, {reg.item_scale(i).id}{', stem ' + i.stem if i.stem else ''})")
        for key, text in i.texts().items():
            out.append(f"      {key}: {text}")
    click.echo("\n".join(out))


# ---------------------------------------------------------------------------------------------------- hypotheses
@main.group()
def hypotheses() -> None:
    """List and show the hypotheses (H1-H71) with the tests they imply."""


@hypotheses.command("list")
@click.option("--family", type=click.Choice(["A", "B", "C", "D", "X"], case_sensitive=False), default=None,
              help="Only this family (X = cross-family).")
@click.option("--format", "fmt", type=FORMAT, default="table", show_default=True)
@registry_option
@click.pass_context
def hypotheses_list(ctx: click.Context, family: str | None, fmt: str, registry_dir: Path | None) -> None:
    """List hypotheses: statement, constructs, test, basis and whether exploratory."""
    reg = _load(ctx, registry_dir)
    rows = [reg.hypothesis_record(h) for h in reg.hypotheses_in(family)]
    if fmt == "json":
        echo_json(rows)
        return
    _table(["id", "fam", "statement", "test", "basis", "seeds"],
           [[r["id"], r["family"], r["statement"], ", ".join(r["test"]["methods"]),
             "/".join(r["basis"]) + (" (exploratory)" if r["exploratory"] else ""),
             ",".join(sorted({p["seed"] for p in r["provenance"]}))] for r in rows],
           title=f"{len(rows)} hypotheses")


@hypotheses.command("show")
@click.argument("hypothesis_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@registry_option
@click.pass_context
def hypotheses_show(ctx: click.Context, hypothesis_id: str, fmt: str, registry_dir: Path | None) -> None:
    """Show one hypothesis with its relations, test and provenance."""
    reg = _load(ctx, registry_dir)
    h = reg.hypotheses.get(hypothesis_id.upper())
    if h is None:
        raise click.BadParameter(f"no hypothesis {hypothesis_id!r} (known: H1-H{len(reg.hypotheses)})",
                                 param_hint="HYPOTHESIS_ID")
    rec = reg.hypothesis_record(h)
    if fmt == "json":
        echo_json(rec)
        return
    out = [f"{h.id} (family {h.family}; basis {'/'.join(h.basis)}{'; exploratory' if h.exploratory else ''})",
           f"  {h.statement}", "", "Relations"]
    for r in rec["relations"]:
        out.append("  " + ", ".join(f"{k}={v}" for k, v in r.items()))
    out += ["", f"Test: {', '.join(h.test.methods)}", f"  {h.test.description}", "", "Provenance"]
    out += [f"  {p['seed']} {p['file']}: {p['where']}" + (f' (loc "{" / ".join(p["loc"])}")' if "loc" in p else "")
            for p in rec["provenance"]]
    if h.basis_note:
        out += ["", f"Basis: {h.basis_note}"]
    click.echo("\n".join(out))


@hypotheses.command("test")
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--study", "study_file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Study file: its models: section chooses the hypotheses, controls, estimator, alpha, adjustment.")
@click.option("--codebook", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Codebook (default: the study's data.codebook). Without one, DATA must already be stacked by "
                   "item id (one row per respondent version, a 'perspective' column).")
@click.option("--format", "fmt", type=FORMAT, default="table", show_default=True)
@registry_option
@click.pass_context
def hypotheses_test(ctx: click.Context, data: Path, study_file: Path, codebook: Path | None, fmt: str,
                    registry_dir: Path | None) -> None:
    """Test the study's hypotheses: supported / not supported / partial / not tested, with the test, estimates,
    CIs, p-values and Holm or Benjamini-Hochberg adjusted p-values."""
    from .models.hypotheses import test_hypotheses
    from .study import load_study

    reg = _load(ctx, registry_dir)
    study = load_study(study_file)
    cb = codebook or (study.resolve(study.data.codebook) if study.data and study.data.codebook else None)
    frame = _analysis_frame(data, cb, long=cb is not None)
    results = test_hypotheses(study, frame, reg)
    recs = [r.to_dict() for r in results]
    if fmt == "json":
        echo_json(recs)
        return
    _table(["id", "decision", "test", "p", "p adj", "reason"],
           [[r["id"], r["decision"] + (" (exploratory)" if r.get("exploratory") else ""), r["test"],
             _fmt(r.get("pvalue")), _fmt(r.get("pvalue_adjusted")), r.get("reason") or ""] for r in recs],
           title=f"{len(recs)} hypotheses")


# ---------------------------------------------------------------------------------------------------- items
@main.group()
def items() -> None:
    """List the item bank and lint it."""


@items.command("list")
@click.option("--construct", "construct_id", default=None, help="Only items of this construct.")
@click.option("--family", type=click.Choice(["A", "B", "C", "D", "X"], case_sensitive=False), default=None)
@click.option("--format", "fmt", type=FORMAT, default="table", show_default=True)
@registry_option
@click.pass_context
def items_list(ctx: click.Context, construct_id: str | None, family: str | None, fmt: str,
               registry_dir: Path | None) -> None:
    """List items with their wordings."""
    reg = _load(ctx, registry_dir)
    if construct_id:
        reg.construct(construct_id)
        chosen = reg.items_of(construct_id)
    else:
        ids = {c.id for c in reg.constructs_in(family)} if family else None
        chosen = [i for i in reg.items.values() if ids is None or i.construct in ids]
    rows = [reg.item_record(i) for i in chosen]
    if fmt == "json":
        echo_json(rows)
        return
    _table(["id", "facet", "R", "scale", "wording"],
           [[r["id"], r["facet"], "R" if r["reverse"] else "", r["scale"],
             "\n".join(f"{k}: {v}" for k, v in r["wording"].items())] for r in rows], title=f"{len(rows)} items")


@items.command("lint")
@click.option("--format", "fmt", type=FORMAT, default="table", show_default=True)
@click.option("--include-waived", is_flag=True, help="Also list findings that items waive (with a reason).")
@registry_option
@click.pass_context
def items_lint(ctx: click.Context, fmt: str, include_waived: bool, registry_dir: Path | None) -> None:
    """Check the item bank against the writing rules; exit 1 when anything unwaived is found."""
    from .lint import lint_registry

    reg = _load(ctx, registry_dir)
    findings = lint_registry(reg, include_waived=include_waived)
    if fmt == "json":
        echo_json({"n_findings": sum(not f.waived for f in findings), "findings": [f.to_dict() for f in findings]})
    elif findings:
        for f in findings:
            click.echo(str(f) + (" (waived)" if f.waived else ""))
        click.echo(f"{sum(not f.waived for f in findings)} finding(s)", err=True)
    else:
        click.echo(f"no findings in {len(reg.items)} items of {len(reg.constructs)} constructs", err=True)
    if any(not f.waived for f in findings):
        ctx.exit(1)


# ---------------------------------------------------------------------------------------------------- instrument
@main.group()
def instrument() -> None:
    """Build instruments (QSF, codebook, questionnaire, lavaan), read QSFs, make synthetic exports."""


@instrument.command("build")
@click.argument("study_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output directory (created if missing).")
@click.option("--format", "fmt", type=FORMAT, default="table", show_default=True)
@registry_option
@click.pass_context
def instrument_build(ctx: click.Context, study_file: Path, out_dir: Path, fmt: str,
                     registry_dir: Path | None) -> None:
    """Build the instrument of STUDY_FILE: survey.qsf, codebook.csv/.json, questionnaire.html/.md and
    measurement.lavaan in --out."""
    from .instrument import build_instrument, codebook_from_instrument, write_instrument
    from .outpaths import check_outputs
    from .study import load_study

    check_outputs([study_file], dirs=[("--out", out_dir, ["survey.qsf", "codebook.csv", "codebook.json",
                                                          "questionnaire.html", "questionnaire.md",
                                                          "measurement.lavaan"])])
    reg = _load(ctx, registry_dir)
    study = load_study(study_file)
    inst = build_instrument(reg, study)
    paths = write_instrument(inst, out_dir, reg)
    cb = codebook_from_instrument(inst, reg)
    summary = {"study": study.study.id, "survey_name": inst.name, "versions": list(inst.versions),
               "n_blocks": len(inst.blocks), "n_questions": len(inst.questions), "n_columns": len(cb),
               "n_item_columns": len(cb.items()), "n_attention_checks": len(cb.filter(role="attention_check")),
               "files": {k: str(v) for k, v in paths.items()}, "notes": list(inst.notes)}
    for note in inst.notes:
        click.echo(f"note: {note}", err=True)
    if fmt == "json":
        echo_json(summary)
        return
    click.echo(f"built {summary['survey_name']!r}: {summary['n_blocks']} blocks, {summary['n_questions']} questions, "
               f"{summary['n_columns']} export columns ({summary['n_item_columns']} item columns, "
               f"{summary['n_attention_checks']} attention checks)")
    for k, v in paths.items():
        click.echo(f"  {k:20s} {v}")


@instrument.command("read")
@click.argument("qsf_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the codebook here (.csv or .json); without it the codebook is printed.")
@click.option("--format", "fmt", type=FORMAT, default="table", show_default=True)
@registry_option
@click.pass_context
def instrument_read(ctx: click.Context, qsf_file: Path, out_file: Path | None, fmt: str,
                    registry_dir: Path | None) -> None:
    """Read any Qualtrics survey file (QSF) into a codebook of the columns its export will have.

    Columns that follow vccscale's naming are matched to the registry's items (construct, perspective,
    reverse-keying); attention checks are recognised by their quoted instructed answer."""
    from .instrument import read_qsf
    from .outpaths import check_outputs

    check_outputs([qsf_file], files=[("--out", out_file)])
    reg = _load(ctx, registry_dir)
    cb = read_qsf(qsf_file, registry=reg)
    if out_file is not None:
        if out_file.suffix.lower() == ".json":
            cb.write_json(out_file)
        else:
            cb.write_csv(out_file)
    if fmt == "json":
        echo_json({"source": str(qsf_file), "n_columns": len(cb), "codebook": cb.to_records()})
    elif out_file is None:
        _table(["variable", "import_id", "role", "item_id", "perspective", "type", "scale"],
               [[r.variable, r.import_id, r.role, r.item_id, r.perspective, r.type,
                 f"{r.scale_min}-{r.scale_max}" if r.scale_min is not None else ""] for r in cb.rows],
               title=f"{len(cb)} export columns of {qsf_file.name}")
    else:
        click.echo(f"wrote {len(cb)} codebook rows to {out_file}", err=True)


@instrument.command("fake-export")
@click.argument("build_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--n", "n", type=click.IntRange(min=1), required=True, help="Number of synthetic responses.")
@click.option("--seed", type=click.IntRange(min=0), required=True, help="Random seed (recorded in the summary).")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Export file to write (Qualtrics 3-header-row CSV).")
@click.option("--straightliners", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of respondents who give the same answer to every item.")
@click.option("--random-responders", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share answering uniformly at random.")
@click.option("--speeders", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share with implausibly short durations (and random answers).")
@click.option("--missing", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Probability that an attentive respondent leaves an item empty (MCAR).")
@click.option("--previews", type=click.IntRange(min=0), default=0, show_default=True,
              help="Extra survey-preview rows (Status 1).")
@click.option("--duplicates", type=click.IntRange(min=0), default=0, show_default=True,
              help="Extra rows copying a respondent under a new ResponseId.")
@click.option("--truth", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write which rows were injected (CSV), for testing the cleaning rules.")
@click.option("--format", "fmt", type=FORMAT, default="table", show_default=True)
def instrument_fake_export(build_dir: Path, n: int, seed: int, out_file: Path, straightliners: float,
                           random_responders: float, speeders: float, missing: float, previews: int,
                           duplicates: int, truth: Path | None, fmt: str) -> None:
    """Write a synthetic Qualtrics export of N responses to the instrument built in BUILD_DIR."""
    from .errors import DataError
    from .instrument import Codebook, fake_export

    from .outpaths import check_outputs

    cb_path = build_dir / "codebook.json"
    if not cb_path.exists():
        raise DataError("no codebook.json: build the instrument first (vccscale instrument build)", file=build_dir)
    check_outputs([cb_path], files=[("--out", out_file), ("--truth", truth)])
    summary = fake_export(Codebook.read(cb_path), n=n, seed=seed, out=out_file, straightliners=straightliners,
                          random_responders=random_responders, speeders=speeders, missing=missing,
                          previews=previews, duplicates=duplicates, truth=truth)
    if fmt == "json":
        echo_json(summary)
    else:
        click.echo(f"wrote {out_file} (seed {seed}): " + ", ".join(f"{k}={v}" for k, v in summary.items()
                                                                  if k not in ("path",)), err=True)


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

    Direct identifiers are dropped by default and the log says which columns were dropped."""
    import os

    from .io import describe as describe_ds
    from .outpaths import check_outputs, data_inputs

    check_outputs([*data_inputs(export), codebook], files=[
        ("--out", out_file), ("--out", out_file and out_file.with_name(out_file.name + ".meta.json"))])
    ds = read_data(export, codebook, identifiers, salt or os.environ.get("VCCSCALE_SALT"), encoding,
                   na=list(na) if na else None, redact_emails=redact_emails)
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
            _table(["name", "label", "import_id", "dtype"],
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
    _table(["step", "rule", "excluded", "remaining"],
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
        _table(["row", "longstring", "irv", "mahalanobis", "even_odd", "person_total", "flags"],
               [[r["row"], r["longstring"], _fmt(r["irv"]), _fmt(r["mahalanobis"]), _fmt(r["even_odd"]),
                 _fmt(r["person_total"]), ",".join(r["flags"])] for r in rows], title=f"{len(rows)} respondents")


def _fmt(v: Any) -> str:
    return "" if v is None else f"{v:.3f}"


# ---------------------------------------------------------------------------------------------------- validate
@main.command("reliability")
@scale_options
@click.option("--reverse", cls=ListOption, help="Reverse these items (min + max - x, min and max observed over the "
              "items) before alpha and omega: --reverse I2 I5 (psych::alpha keys =).")
@click.option("--check-keys", is_flag=True, help="Reverse items that load negatively on the first component "
              "(psych::alpha check.keys); without it they are only reported as a warning.")
def reliability_cmd(data: Path, items: tuple[str, ...], codebook: Path | None, perspective: str | None, fmt: str,
                    reverse: tuple[str, ...], check_keys: bool) -> None:
    """Cronbach's alpha (raw, standardised, Feldt CI), McDonald's omega total, item statistics.

    As psych::alpha and psych::omega(nfactors = 1) on pairwise-complete correlations; n counts the rows that
    answered at least one item (psych: every row)."""
    import warnings

    from .validate import cronbach_alpha, omega, reverse_items

    if reverse and check_keys:
        raise click.UsageError("give --reverse ITEM... or --check-keys, not both")
    frame, cols, info = scale_frame(data, items, codebook, perspective)
    bad = [r for r in reverse if r not in cols]
    if bad:
        raise click.BadParameter(f"{', '.join(bad)} not among --items", param_hint="--reverse")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = cronbach_alpha(frame, cols, check_keys=check_keys, reverse=list(reverse) or None)
        o = omega(reverse_items(frame[cols], a.reversed_items), cols, n_factors=1)
    reverse_key_warnings(caught)
    out = {"alpha": a.alpha, "alpha_std": a.std_alpha, "alpha_ci": [a.ci_lower, a.ci_upper],
           "omega_total": o.omega_total, **n_out(a.n_obs, a.n_rows_without_answers, len(cols), info),
           "reversed_items": list(a.reversed_items), "negative_items": list(a.negative_items),
           "items": [{"item": i, "r_drop": float(r["r_drop"]), "alpha_if_deleted": float(r["alpha_if_deleted"])}
                     for i, r in a.items.iterrows()]}
    if fmt == "json":
        echo_json(out)
        return
    click.echo(a.summary())
    click.echo(o.summary())


@main.command("item-analysis")
@scale_options
@click.option("--scale-min", type=float, default=None, help="Lowest scale point (floor %); default: observed.")
@click.option("--scale-max", type=float, default=None, help="Highest scale point (ceiling %); default: observed.")
def item_analysis_cmd(data: Path, items: tuple[str, ...], codebook: Path | None, perspective: str | None, fmt: str,
                      scale_min: float | None, scale_max: float | None) -> None:
    """Item statistics: mean, SD, skew, kurtosis (psych::describe type 3), floor/ceiling %, corrected item-total
    correlation, alpha if item deleted, inter-item correlation summary."""
    from .validate import item_analysis

    frame, cols, info = scale_frame(data, items, codebook, perspective)
    res = item_analysis(frame, cols, scale_min=scale_min, scale_max=scale_max)
    n = n_out(res.n_obs, res.n_rows_without_answers, len(cols), info)
    if fmt == "json":
        out = res.to_dict()
        out["items"] = [{"item": k, **v} for k, v in out["items"].items()]
        echo_json({**out, **n})
    else:
        click.echo(res.summary())


@main.command("efa")
@scale_options
@click.option("--factors", "n_factors", type=click.IntRange(min=1), required=True, help="Number of factors.")
@click.option("--method", type=click.Choice(["minres", "ml", "principal"]), default="minres", show_default=True)
@click.option("--rotation", type=click.Choice(["oblimin", "varimax", "promax", "geomin", "none"]),
              default="oblimin", show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True,
              help="Seed of the parallel analysis (recorded in the output).")
def efa_cmd(data: Path, items: tuple[str, ...], codebook: Path | None, perspective: str | None, fmt: str,
            n_factors: int, method: str, rotation: str, seed: int) -> None:
    """Exploratory factor analysis: KMO, Bartlett, parallel analysis, loadings (as psych::fa; n counts the rows
    that answered at least one item, psych every row)."""
    from .validate import bartlett, efa, kmo, parallel_analysis

    frame, cols, info = scale_frame(data, items, codebook, perspective)
    k = kmo(frame, cols)
    b = bartlett(frame, cols)
    pa = parallel_analysis(frame, cols, seed=seed, method="minres" if method == "principal" else method)
    res = efa(frame, cols, n_factors, method=method, rotation=None if rotation == "none" else rotation)
    out = {"kmo": {"overall": k.msa, "items": {i: float(v) for i, v in k.msa_items.items()}},
           "bartlett": {"chisq": b.chisq, "df": b.df, "pvalue": b.pvalue, "n": b.n},
           "parallel_n_factors": pa.n_factors, "parallel_seed": seed,
           "loadings": {i: [float(v) for v in row] for i, row in res.loadings.iterrows()},
           "factors": list(res.loadings.columns),
           "communalities": {i: float(v) for i, v in res.communalities.items()},
           "factor_correlations": res.phi.to_numpy().tolist(), "method": method, "rotation": rotation,
           "fit": dict(res.fit), **n_out(res.n_obs, res.n_rows_without_answers, len(cols), info)}
    if fmt == "json":
        echo_json(out)
        return
    click.echo(f"KMO = {k.msa:.3f}; Bartlett chi2({b.df}) = {b.chisq:.2f}, p = {b.pvalue:.3g} (n = {b.n}); parallel "
               f"analysis suggests {pa.n_factors} factor(s) (seed {seed})")
    click.echo(res.summary())


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
    res = construct_scores(read_data(data, codebook), list(constructs) or None, registry=_load(ctx, registry_dir),
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


def _model_text(model: Path) -> str:
    from .errors import ModelError

    try:
        return model.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError("model file not found", file=model) from None


def _htmt_blocks(blocks: dict[str, list[str]]) -> tuple[dict[str, list[str]] | None, str | None]:
    """The factors HTMT is defined for: :func:`vccscale.validate.htmt_blocks` (kept here for callers)."""
    from .validate.quality import htmt_blocks

    return htmt_blocks(blocks)


def _fit_json(fit: Any, data: Any, ave_variances: str = "implied") -> dict[str, Any]:
    """The machine-readable result of a CFA/SEM fit (keys of the issue's contract; lavaan's measure names with
    dots written as underscores). Reliability, HTMT and Fornell-Larcker: :func:`vccscale.validate.measurement_quality`
    (``reliability_convention`` names the variances CR and AVE use)."""
    import numpy as np

    from .validate.quality import measurement_quality

    est = fit.estimates
    out: dict[str, Any] = {
        "n": int(np.sum(fit.nobs)), "estimator": fit.estimator,
        "fit": {k.replace(".", "_"): v for k, v in fit.fit.items()},
        "estimates": [{k: (None if (isinstance(v, float) and not np.isfinite(v)) else v)
                       for k, v in r.items()}
                      for r in est[["lhs", "op", "rhs", "group", "label", "est", "se", "z", "pvalue", "std_lv",
                                    "std_all"]].to_dict(orient="records")],
    }
    if getattr(fit, "r2", None) is not None and len(fit.r2):
        r2 = fit.r2
        out["r2"] = ({str(k): float(v) for k, v in r2.items()} if r2.ndim == 1 else   # one group
                     {str(g): {str(k): float(v) for k, v in r2[g].items()} for g in r2.columns})  # group -> {var: r2}
    if len(fit.sample_cov) == 1 and (est["op"] == "=~").any():
        q = measurement_quality(fit, data, variances=ave_variances)
        if len(q.factors):
            out.update(q.to_dict())
    if fit.warnings:
        out["warnings"] = list(fit.warnings)
    return out


def _analysis_frame(data: Path, codebook: Path | None, long: bool) -> Any:
    """The frame a model is fitted to: the data as read, or stacked by item id (one row per respondent version,
    a `perspective` column) with --long, which is what an instrument's measurement.lavaan refers to."""
    ds = read_data(data, codebook)
    if not long:
        return ds.data
    from .clean.scoring import rescored_long

    return rescored_long(ds)


def _fit_command(kind: str, data: Path, model: Path, estimator: str, std_lv: bool, group: str | None,
                 fmt: str, codebook: Path | None = None, long: bool = False, missing: str = "listwise",
                 group_equal: tuple[str, ...] = (), group_partial: tuple[str, ...] = (), modindices: bool = False,
                 mi_minimum: float = 0.0, score_tests: bool = False, ave_variances: str = "implied") -> None:
    from .sem import fit_cfa, fit_sem

    if (group_equal or group_partial) and group is None:
        raise click.UsageError("--group-equal and --group-partial need --group")
    frame = _analysis_frame(data, codebook, long)
    fn = fit_cfa if kind == "cfa" else fit_sem
    fit = fn(frame, _model_text(model), estimator=estimator, std_lv=std_lv, group=group, missing=missing,
             group_equal=tuple(group_equal), group_partial=tuple(group_partial))
    for w in fit.warnings:
        click.echo(f"warning: {w}", err=True)
    if fit.n_dropped:
        click.echo(f"note: {fit.n_dropped} row(s) with missing values were left out (listwise)", err=True)
        if long and fit.sample_cov:
            from .clean.scoring import incomplete_rows

            why = incomplete_rows(frame, next(iter(fit.sample_cov.values())).columns)
            for g, cols in why["never_answered"].items():
                click.echo(f"note: no {g} row answers {', '.join(cols[:3])}{', ...' if len(cols) > 3 else ''} (not "
                           f"asked of that version), so all {why['by'].get(g, 0)} {g} rows with missing values were "
                           "left out: fit the versions separately, or use --missing fiml", err=True)
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = _fit_json(fit, frame, ave_variances) if fmt == "json" else None
    for w in caught:
        click.echo(f"warning: {w.message}", err=True)
    mi = sc = None
    if modindices:
        mi = fit.modindices(sort=True, minimum_value=mi_minimum)
    if score_tests:
        from .sem.score import score_tests as _score_tests

        from .errors import ModelError

        try:
            sc = _score_tests(fit)
        except ModelError:
            sc = None
        if sc is None or not len(sc):
            raise click.UsageError("--score-tests tests equality constraints, and the model has none: add "
                                   "--group-equal (with --group) or equal labels")
    if out is not None:
        if mi is not None:
            out["modindices"] = _records(mi)
        if sc is not None:
            out["score_tests"] = {"univariate": _records(sc), "total": sc.attrs["total"]}
        echo_json(out)
    else:
        click.echo(fit.summary())
        if mi is not None:
            click.echo(f"\nModification indices (lavaan modindices, sorted; minimum {mi_minimum:g}):")
            click.echo(mi.round(3).to_string(index=False) if len(mi) else "  none")
        if sc is not None:
            t = sc.attrs["total"]
            click.echo("\nScore tests of the equality constraints (lavaan lavTestScore): total X2 = "
                       f"{t['X2']:.3f}, df = {t['df']}, p = {t['pvalue']:.4f}")
            click.echo(sc.round(4).to_string(index=False))


def _records(frame: Any) -> list[dict[str, Any]]:
    """Rows of a frame as JSON records (NaN -> None, numpy scalars -> Python)."""
    return [{str(k): _jsonable(v) for k, v in r.items()} for r in frame.to_dict(orient="records")]


def _fit_options(f: Any) -> Any:
    f = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)(f)
    f = click.option("--ave-variances", type=click.Choice(["implied", "observed"]), default="implied",
                     show_default=True, help="Variances CR (omega) and AVE divide by: model-implied (Fornell & "
                     "Larcker 1981; semTools obs.var = FALSE) or observed (semTools' default obs.var = TRUE).")(f)
    f = click.option("--long", is_flag=True, help="Stack respondent versions by item id (needs a codebook): the "
                     "layout an instrument's measurement.lavaan refers to; group by 'perspective'. Items are "
                     "rescored first: missing codes -> missing, reverse-keyed items reversed.")(f)
    f = click.option("--codebook", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Codebook of the instrument (for exports).")(f)
    f = click.option("--score-tests", is_flag=True, help="Univariate and total score tests of the equality "
                     "constraints (lavaan lavTestScore): which constraint of --group-equal to release.")(f)
    f = click.option("--mi-minimum", type=click.FloatRange(min=0), default=0.0, show_default=True,
                     help="With --modindices: only indices of at least this value (lavaan minimum.value).")(f)
    f = click.option("--modindices", is_flag=True, help="Modification indices with expected parameter changes "
                     "(lavaan modindices(), sorted; standardized EPCs).")(f)
    f = click.option("--group-partial", cls=ListOption, help="Parameters exempt from --group-equal (lavaan "
                     "group.partial): --group-partial 'f1=~x2' 'x3~1'.")(f)
    f = click.option("--group-equal", cls=ListOption, help="Equal across groups (lavaan group.equal): "
                     "--group-equal loadings intercepts (also residuals, lv.variances, lv.covariances, "
                     "regressions, means, residual.covariances).")(f)
    f = click.option("--group", default=None, help="Multi-group model across this column.")(f)
    f = click.option("--missing", type=click.Choice(["listwise", "fiml"]), default="listwise", show_default=True,
                     help="Missing values: drop incomplete rows (lavaan's default) or full-information ML "
                     "(lavaan missing = 'ml').")(f)
    f = click.option("--std-lv", is_flag=True, help="Identify by fixing latent variances to 1 (lavaan std.lv) "
                     "instead of the first loading (marker, lavaan's default).")(f)
    f = click.option("--estimator", type=click.Choice(["ML", "MLR"]), default="ML", show_default=True,
                     help="ML, or MLR (Huber-White SEs, Yuan-Bentler scaled test) as lavaan.")(f)
    f = click.option("--model", type=click.Path(dir_okay=False, path_type=Path), required=True,
                     help="lavaan model syntax file.")(f)
    return click.argument("data", type=click.Path(dir_okay=False, path_type=Path))(f)


@main.command("cfa")
@_fit_options
def cfa_cmd(data: Path, model: Path, estimator: str, std_lv: bool, group: str | None, missing: str,
            codebook: Path | None, long: bool, fmt: str, group_equal: tuple[str, ...], group_partial: tuple[str, ...],
            modindices: bool, mi_minimum: float, score_tests: bool, ave_variances: str) -> None:
    """Confirmatory factor analysis with lavaan's defaults and fit measures (chisq, cfi, tli, rmsea + CI, srmr,
    aic, bic, ...), estimates with std.all, reliability (alpha, CR/omega, AVE; model-implied variances unless
    --ave-variances observed), HTMT and Fornell-Larcker (vccscale.validate.measurement_quality)."""
    _fit_command("cfa", data, model, estimator, std_lv, group, fmt, codebook, long, missing, group_equal,
                 group_partial, modindices, mi_minimum, score_tests, ave_variances)


@main.command("sem")
@_fit_options
def sem_cmd(data: Path, model: Path, estimator: str, std_lv: bool, group: str | None, missing: str,
            codebook: Path | None, long: bool, fmt: str, group_equal: tuple[str, ...], group_partial: tuple[str, ...],
            modindices: bool, mi_minimum: float, score_tests: bool, ave_variances: str) -> None:
    """Structural equation model from lavaan syntax (=~, ~, ~~, :=), same output as cfa plus R²."""
    _fit_command("sem", data, model, estimator, std_lv, group, fmt, codebook, long, missing, group_equal,
                 group_partial, modindices, mi_minimum, score_tests, ave_variances)


@main.command("validity")
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="lavaan syntax: its =~ lines define the factors and their items.")
@click.option("--marker", cls=ListOption, help="Marker-variable items for the CFA marker comparison "
              "(default: a common latent factor without markers).")
@click.option("--bootstrap", type=click.IntRange(min=0), default=0, show_default=True,
              help="Bootstrap draws for percentile CIs of HTMT (0 = none).")
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True)
@click.option("--codebook", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--long", is_flag=True, help="Stack respondent versions by item id (items rescored first).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def validity_cmd(data: Path, model: Path, marker: tuple[str, ...], bootstrap: int, seed: int,
                 codebook: Path | None, long: bool, fmt: str) -> None:
    """Discriminant validity and common-method checks: HTMT (semTools htmt2, optional bootstrap CI),
    cross-loadings, Harman's single factor, common-latent-factor / marker comparison."""
    from .errors import ModelError
    from .validate import common_latent_factor, cross_loadings, harman_single_factor, htmt
    from .validate.validity import factor_blocks

    frame = _analysis_frame(data, codebook, long)
    blocks = factor_blocks(_model_text(model), frame)
    if len(blocks) < 2:
        raise ModelError("validity needs at least two factors whose items are data columns", file=model)
    h = htmt(frame, blocks, n_boot=bootstrap, seed=seed)
    items = [i for b in blocks.values() for i in b]
    harman = harman_single_factor(frame, items)
    clf = common_latent_factor(frame, blocks, marker=list(marker) or None)
    out = {"htmt": h.pairs(), "htmt_variant": h.variant, "bootstrap": bootstrap, "seed": seed,
           "cross_loadings": cross_loadings(frame, blocks).to_dict(orient="index"),
           "harman": harman.to_dict(), "common_latent_factor": clf.to_dict(orient="records"),
           "method_variance": clf.attrs.get("method_variance")}
    if bootstrap:
        out["htmt_ci"] = h.ci_pairs()
    if fmt == "json":
        echo_json(out)
        return
    click.echo(f"HTMT ({h.variant}):\n" + h.matrix.round(3).to_string())
    click.echo(f"\nHarman's single factor: {harman.share:.1%} of the variance"
               + (" (above 50%: common-method variance likely)" if harman.flagged else ""))
    click.echo("\nCommon latent factor comparison:\n" + clf.round(3).to_string(index=False))


@main.command("mediate")
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--x", "x", required=True, help="Predictor: a column, or a construct id with --codebook.")
@click.option("--m", "m", cls=ListOption, required=True, help="Mediator(s): --m M1 M2.")
@click.option("--y", "y", required=True, help="Outcome.")
@click.option("--covariates", cls=ListOption, help="Covariates of every equation: --covariates C1 C2.")
@click.option("--serial", is_flag=True, help="Mediators in series (M1 -> M2 -> ...), else parallel.")
@click.option("--bootstrap", "n_boot", type=click.IntRange(min=0), default=5000, show_default=True)
@click.option("--ci", type=click.Choice(["percentile", "bc", "bca"]), default="percentile", show_default=True)
@click.option("--level", type=click.FloatRange(0.5, 0.999), default=0.95, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), required=True, help="Bootstrap seed (recorded in the output).")
@variables_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def mediate_cmd(ctx: click.Context, data: Path, x: str, m: tuple[str, ...], y: str, covariates: tuple[str, ...],
                serial: bool, n_boot: int, ci: str, level: float, seed: int, codebook: Path | None,
                perspective: str | None, fmt: str) -> None:
    """Mediation on observed (composite) scores: a, b, direct, indirect and total effects by OLS, bootstrap CIs
    (one set of resamples for every effect), delta-method SEs."""
    from .models.mediation import mediate

    frame, info = model_variables(data, codebook, [x, *m, y, *covariates], perspective,
                                  _load(ctx, None) if codebook is not None else None)
    res = mediate(frame, x=x, m=list(m), y=y, covariates=list(covariates), serial=serial, n_boot=n_boot, ci=ci,
                  level=level, seed=seed)
    eff = res.effects
    out = {"n": int(res.n), "n_dropped": int(res.n_dropped), "effects": [
        {k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
        for r in eff[["name", "est", "se", "ci_lower", "ci_upper", "pvalue"]].to_dict(orient="records")],
        # run time left out so that two runs with the same seed print identical JSON
        "bootstrap": {k: v for k, v in res.bootstrap.items() if k != "seconds"}, "ci": ci, "level": level,
        "variables": info, "warnings": list(res.warnings)}
    for w in res.warnings:
        click.echo(f"warning: {w}", err=True)
    if fmt == "json":
        echo_json(out)
    else:
        click.echo(res.summary() if hasattr(res, "summary") else eff.to_string(index=False))


@main.command("rsa")
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--x", "x", required=True, help="First predictor (e.g. value creation, or the provider's rating).")
@click.option("--y", "y", required=True, help="Second predictor (e.g. value capture, or the customer's rating).")
@click.option("--z", "z", required=True, help="Outcome.")
@click.option("--center", default=None, help="Centre X and Y at this value, or 'mean' (pooled grand mean); default: "
              "the scale midpoint from --scale-min/--scale-max (or, for construct ids, from the codebook), else no "
              "centring.")
@click.option("--scale-min", type=float, default=None)
@click.option("--scale-max", type=float, default=None)
@click.option("--covariates", cls=ListOption, help="Covariates: --covariates C1 C2.")
@click.option("--binary", is_flag=True, help="Logistic polynomial regression for a 0/1 outcome.")
@click.option("--pair-by", default=None, help="Dyad id column (relationship_id): X = the provider's score, Y = the "
              "customer's, Z and covariates from the customer's row (dyads paired as vccscale hypotheses test does).")
@variables_options
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write the 3-D surface and the contour plot (PNG and SVG) into this folder.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def rsa_cmd(ctx: click.Context, data: Path, x: str, y: str, z: str, center: str | None, scale_min: float | None,
            scale_max: float | None, covariates: tuple[str, ...], binary: bool, pair_by: str | None,
            codebook: Path | None, perspective: str | None, plot_dir: Path | None, fmt: str) -> None:
    """Polynomial regression with response surface analysis (Edwards & Parry 1993; Shanock et al. 2010):
    b1..b5, surface parameters a1..a5, stationary point and principal axes, congruence shares, constrained models."""
    from .models.dyadic import congruence_rsa, pair_dyads
    from .models.rsa import contour_plot, rsa, surface_plot

    if x == y and pair_by is None:
        raise click.UsageError(f"--x and --y are both {x}: a provider-vs-customer surface pairs the two versions' "
                               "scores by dyad; add --pair-by relationship_id (vccscale hypotheses test does this "
                               "for congruence hypotheses)")
    if pair_by and perspective:
        raise click.UsageError("--pair-by pairs the provider and customer rows; --perspective would keep one version")
    frame, info = model_variables(data, codebook, [x, y, z, *covariates], perspective,
                                  _load(ctx, None) if codebook is not None else None, pooled=pair_by is None)
    bounds = {c["id"]: (c["scale_min"], c["scale_max"]) for c in info.get("scores", {}).get("constructs", [])}
    if center is None and scale_min is None and scale_max is None and x in bounds and bounds[x] == bounds.get(y):
        scale_min, scale_max = bounds[x]  # the construct's scale, as the hypothesis tests centre it
    if center is None:
        c: Any = "midpoint" if scale_min is not None and scale_max is not None else None
    elif center == "mean":
        c = "mean"
    else:
        try:
            c = float(center)
        except ValueError:
            raise click.BadParameter("a number or 'mean'", param_hint="--center") from None
    kw = {"center": c, "scale_min": scale_min, "scale_max": scale_max, "family": "binomial" if binary else "gaussian"}
    if pair_by:
        paired = pair_dyads(frame, pair_by, columns=list(dict.fromkeys([x, y, z, *covariates])))
        for msg in paired.report.messages:
            click.echo(f"note: {msg}", err=True)
        info["pairing"] = {"by": pair_by, "n_dyads": paired.report.n_dyads, "n_paired": paired.report.n_paired,
                           "messages": list(paired.report.messages)}
        res = congruence_rsa(paired, x=x, y=y, z=z, z_side="customer",
                             covariates=[f"{v}_customer" for v in covariates], **kw)
    else:
        res = rsa(frame, x, y, z, covariates=list(covariates), **kw)
    out = {**res.to_dict(), "variables": info}
    if plot_dir is not None:
        from .outpaths import check_outputs, data_inputs

        check_outputs([*data_inputs(data), codebook], dirs=[("--plot", plot_dir, [
            f"rsa_{k}.{e}" for k in ("surface", "contour") for e in ("png", "svg")])])
        files = surface_plot(res, plot_dir / "rsa_surface") + contour_plot(res, plot_dir / "rsa_contour")
        out["plots"] = [str(f) for f in files]
    if fmt == "json":
        echo_json(out)
    else:
        click.echo(res.summary() if hasattr(res, "summary") else json.dumps(_jsonable(out), indent=1))


@main.command("multilevel")
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--group", required=True, help="Group column (organisation, network, relationship).")
@click.option("--items", cls=ListOption, required=True, help="Items of the scale: --items I1 I2 I3.")
@click.option("--scale-min", type=int, required=True)
@click.option("--scale-max", type=int, required=True)
@click.option("--null", "null", type=click.Choice(["uniform", "slight_skew", "moderate_skew", "heavy_skew"]),
              default="uniform", show_default=True, help="Null distribution of rwg (LeBreton & Senter 2008).")
@click.option("--random-slope", "random_slopes", cls=ListOption, help="Level-1 predictor column(s) with a random "
              "slope: --random-slope X [W]. Adds the REML model scale mean ~ X + (1 + X | group) (as lme4::lmer) and "
              "its likelihood-ratio test against the random-intercept model (ML refits, as lme4's anova).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def multilevel_cmd(data: Path, group: str, items: tuple[str, ...], scale_min: int, scale_max: int, null: str,
                   random_slopes: tuple[str, ...], fmt: str) -> None:
    """Justification for aggregation: ICC(1), ICC(2) (Bliese 2000), rwg(j) (James, Demaree & Wolf 1984; values
    above the null variance truncated to 0, as multilevel::rwg.j), AD indices, and the variance components of the
    REML random-intercept model of the scale mean (as lme4); with --random-slope, a random-slope model too."""
    import warnings

    from .models.multilevel import multilevel_summary, null_variance

    if scale_max <= scale_min:
        raise click.BadParameter(f"must exceed --scale-min ({scale_min})", param_hint="--scale-max")
    try:
        null_variance(scale_max - scale_min + 1, null)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--null") from None
    ds = read_data(data)
    with warnings.catch_warnings(record=True) as caught:  # a DataError names DATA (VccscaleCommand)
        warnings.simplefilter("always")
        out = multilevel_summary(ds.data, group, list(items), scale_min, scale_max, null=null,
                                 random_slopes=list(random_slopes) or None)
    for w in dict.fromkeys(str(w.message) for w in caught):
        click.echo(f"warning: {w}", err=True)
    if fmt == "json":
        echo_json(out)
        return
    r = out["rwg_j"]
    click.echo(f"ICC(1) = {out['icc1']:.3f}, ICC(2) = {out['icc2']:.3f}; rwg(j) mean {r['mean']:.3f}, median "
               f"{r['median']:.3f}; variance between {out['variance']['between']:.3f}, within "
               f"{out['variance']['within']:.3f}")
    rs = out.get("random_slope_model")
    if rs:
        click.echo(f"Random slopes ({', '.join(rs['random_slopes'])}), REML, n = {rs['n']}, groups = "
                   f"{rs['n_groups']}:")
        for t, f in rs["fixed"].items():
            click.echo(f"  {t}: {f['est']:.4f} (SE {f['se']:.4f}, z = {f['z']:.2f}, p = {f['p']:.3g})")
        click.echo("  variance: " + ", ".join(f"{k} {v:.4f}" for k, v in rs["variance"].items()))
        lrt = rs["lrt"]
        click.echo(f"  LRT vs random intercept (ML): chi2({lrt['df']}) = {lrt['chisq']:.3f}, p = {lrt['p']:.3g}")


@main.command("apim")
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--x", "x", required=True, help="Predictor: a column of the long data, or a construct id with "
              "--codebook (its scale score); with --x-items the name of the latent predictor.")
@click.option("--y", "y", required=True, help="Outcome (as --x).")
@click.option("--dyad-id", "--dyad", "dyad_id", default="relationship_id", show_default=True,
              help="Column identifying the dyad.")
@click.option("--side-column", "--role", "side_column", default="perspective", show_default=True,
              help="Column saying which side (role) a row holds (one row per respondent version).")
@click.option("--sides", cls=ListOption, help="The two sides, X side first: --sides provider customer "
              "(default).")
@click.option("--covariates", cls=ListOption, help="Covariates: a dyad-level column enters both outcome equations, "
              "a side-level one its own side's: --covariates C1 C2.")
@click.option("--x-items", cls=ListOption, help="Items of a latent predictor (columns, or item ids with "
              "--codebook): --x-items I1 I2 I3.")
@click.option("--y-items", cls=ListOption, help="Items of a latent outcome.")
@click.option("--equal-loadings", is_flag=True, help="Latent version: each item's loading equal across sides.")
@click.option("--equal-actor", is_flag=True, help="Constrain the two actor effects to be equal.")
@click.option("--equal-partner", is_flag=True, help="Constrain the two partner effects to be equal.")
@click.option("--duplicates", type=click.Choice(["average", "first"]), default="average", show_default=True,
              help="Several respondents on one side of a dyad: their mean, or the first row.")
@click.option("--estimator", type=click.Choice(["ML", "MLR"]), default="ML", show_default=True)
@click.option("--missing", type=click.Choice(["listwise", "fiml"]), default="listwise", show_default=True,
              help="fiml keeps dyads with one side missing (lavaan missing = 'ml').")
@click.option("--codebook", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Codebook of the export: construct ids name their scale scores, item ids their rescored items "
              "(versions stacked, one row per respondent version).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def apim_cmd(ctx: click.Context, data: Path, x: str, y: str, dyad_id: str, side_column: str, sides: tuple[str, ...],
             covariates: tuple[str, ...], x_items: tuple[str, ...], y_items: tuple[str, ...], equal_loadings: bool,
             equal_actor: bool, equal_partner: bool, duplicates: str, estimator: str, missing: str,
             codebook: Path | None, fmt: str) -> None:
    """Actor-partner interdependence model for distinguishable dyads (Kenny, Kashy & Cook 2006) as an SEM with
    lavaan's defaults: actor and partner effects of both sides, their differences and Kenny & Ledermann's k, on
    long data (one row per respondent version) paired by --dyad-id."""
    from .models.dyadic import DEFAULT_SIDES, apim, pair_dyads

    sides_t = tuple(sides) if sides else DEFAULT_SIDES
    if len(sides_t) != 2:
        raise click.UsageError(f"--sides takes exactly two sides, got {len(sides_t)}: {' '.join(sides_t)}")
    if (equal_loadings and not (x_items or y_items)):
        raise click.UsageError("--equal-loadings needs --x-items or --y-items (a latent predictor or outcome)")
    items = [*x_items, *y_items]
    scored = [v for v, it in ((x, x_items), (y, y_items)) if not it]
    names = [*scored, *items, *covariates]
    if codebook is None:
        frame = read_data(data, None).data
        for c in (*names, dyad_id, side_column):
            if c not in frame.columns:
                from .errors import DataError

                raise DataError(f"column {c!r} is not in the data (construct ids need --codebook)", file=data,
                                column=c)
    elif items:
        frame = _analysis_frame(data, codebook, long=True)
        if scored or covariates:
            extra, _ = model_variables(data, codebook, [*scored, *covariates, dyad_id], None, _load(ctx, None),
                                       pooled=False)
            frame = frame.merge(extra[["response_id", "perspective",
                                       *[c for c in extra.columns if c in (*scored, *covariates)]]],
                                on=["response_id", "perspective"], how="left")
    else:
        frame, _ = model_variables(data, codebook, [*names, dyad_id], None, _load(ctx, None), pooled=False)
    paired = pair_dyads(frame, dyad_id, side_column=side_column, sides=sides_t, columns=list(dict.fromkeys(names)),
                        duplicates=duplicates, keep_unmatched=missing == "fiml")
    for msg in paired.report.messages:
        click.echo(f"note: {msg}", err=True)
    res = apim(paired, x, y, sides=sides_t, covariates=list(covariates), x_items=list(x_items) or None,
               y_items=list(y_items) or None, equal_loadings=equal_loadings, equal_actor=equal_actor,
               equal_partner=equal_partner, estimator=estimator, missing=missing)
    for w in res.fit.warnings:
        click.echo(f"warning: {w}", err=True)
    rep = paired.report
    out = {"n_dyads": res.n, "sides": list(res.sides), "estimator": estimator, "missing": missing,
           "model": res.model, "effects": _records(res.effects),
           "fit": {k.replace(".", "_"): v for k, v in res.fit.fit.items()},
           "pairing": {"rule": rep.rule, "n_rows": rep.n_rows, "n_dyads": rep.n_dyads, "n_paired": rep.n_paired,
                       "n_unmatched_rows": len(rep.unmatched), "n_duplicated_sides": len(rep.duplicated),
                       "n_missing_dyad_id": len(rep.missing_dyad_id), "other_sides": rep.other_sides,
                       "messages": list(rep.messages)},
           "warnings": list(res.fit.warnings)}
    if fmt == "json":
        echo_json(out)
        return
    click.echo(f"APIM, {res.n} dyads ({sides_t[0]}, {sides_t[1]}), estimator {estimator}, missing {missing}")
    cols = ["effect", "label", "outcome_side", "est", "se", "z", "pvalue", "ci_lower", "ci_upper", "std_all"]
    click.echo(res.effects[[c for c in cols if c in res.effects.columns]].round(4).to_string(index=False))
    f = res.fit.fit
    if f.get("df", 0):
        click.echo(f"\nchisq = {f['chisq']:.3f}, df = {f['df']:g}, p = {f['pvalue']:.4f}, CFI = {f['cfi']:.3f}, "
                   f"RMSEA = {f['rmsea']:.3f}")
    else:
        click.echo("\nThe model is saturated (df = 0): no test of fit.")


@main.command("invariance")
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--group", required=True, help="Group column (groups in order of first appearance, as lavaan).")
@click.option("--estimator", type=click.Choice(["ML", "MLR"]), default="ML", show_default=True)
@click.option("--codebook", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--long", is_flag=True, help="Stack respondent versions by item id (group by 'perspective').")
@click.option("--partial-alpha", type=click.FloatRange(0, 1), default=0.05, show_default=True,
              help="Significance level of the scalar step and of the partial-invariance search.")
@click.option("--missing", type=click.Choice(["listwise", "fiml"]), default="listwise", show_default=True,
              help="Missing values: drop incomplete rows (lavaan's default) or full-information ML in every model "
              "(lavaan missing = 'ml').")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def invariance_cmd(data: Path, model: Path, group: str, estimator: str, codebook: Path | None, long: bool,
                   partial_alpha: float, missing: str, fmt: str) -> None:
    """Configural, metric, scalar and strict invariance with chi-square difference tests (Satorra-Bentler 2001
    scaled for MLR) and delta CFI/RMSEA; if scalar invariance is rejected, a partial-invariance search (score
    tests, Bonferroni); latent means compared in the (partially) scalar-invariant model."""
    from .validate.invariance import invariance_workflow

    frame = _analysis_frame(data, codebook, long)
    res = invariance_workflow(frame, _model_text(model), group, estimator=estimator, missing=missing,
                              partial_alpha=partial_alpha)
    if fmt == "json":
        echo_json(res.to_dict())
    else:
        click.echo(res.summary())


# ---------------------------------------------------------------------------------------------------- simulation
@main.command("simulate")
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Population model in lavaan syntax; fixed coefficients are the population values (lavaan "
                   "simulateData conventions: unspecified loadings 1, variances 1, regressions 0).")
@click.option("--study", "study_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Instead of --model: a pilot export of the study's instrument drawn from the population model "
                   "its chosen hypotheses (models.hypotheses) imply (docs/pilot-simulation.md).")
@click.option("--n", "n", type=click.IntRange(min=1), required=True)
@click.option("--seed", type=click.IntRange(min=0), required=True)
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--codebook", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write a Qualtrics-format export of this instrument (items named by item id in the model), "
                   "with 7-point answers drawn from the population model. With --study: the instrument to simulate "
                   "(default: the study's data.codebook, else the instrument built from the study).")
@click.option("--points", type=click.IntRange(min=2), default=None,
              help="Cut every variable into this many ordered categories (equal-probability thresholds).")
@click.option("--mcar", type=click.FloatRange(0, 1), default=None, help="Share of cells missing completely at "
              "random.")
@click.option("--mar", type=click.FloatRange(0, 1), default=None,
              help="Share of each variable's values missing at random, more often where --mar-on is high.")
@click.option("--mar-on", default=None, help="The (complete) variable MAR missingness depends on.")
@click.option("--standardized", is_flag=True, help="Population values are standardized (lavaan standardized = TRUE).")
@click.option("--straightliners", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option("--random-responders", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option("--effect", type=click.FloatRange(-0.95, 0.95), default=None,
              help="--study: standardised effect of every hypothesised path  [default: 0.3]")
@click.option("--loading", type=click.FloatRange(0.05, 0.99), default=None,
              help="--study: standardised item loading  [default: 0.7]")
@click.option("--icc", type=click.FloatRange(0, 0.6), default=None,
              help="--study: organisation share of every latent variable's variance (ICC(1))  [default: 0.2]")
@click.option("--dyad-r", type=click.FloatRange(0, 0.8), default=None,
              help="--study: correlation of the provider's and the customer's latent values in one relationship  "
                   "[default: 0.4]")
@click.option("--congruence", type=click.FloatRange(0, 0.95), default=None,
              help="--study: standardised weight of each quadratic congruence term  [default: 0.4]")
@click.option("--org-size", cls=ListOption, type=click.IntRange(min=1), default=None,
              help="--study: smallest and largest organisation (respondents of one side): --org-size 4 8")
@click.option("--speeders", type=click.FloatRange(0, 1), default=None,
              help="--study: share of speeders  [default: 0]")
@click.option("--missing", type=click.FloatRange(0, 1), default=None,
              help="--study: probability that an attentive respondent leaves an item empty (MCAR)  [default: 0]")
@click.option("--previews", type=click.IntRange(min=0), default=None,
              help="--study: extra survey-preview rows  [default: 0]")
@click.option("--duplicates", type=click.IntRange(min=0), default=None,
              help="--study: extra duplicated submissions  [default: 0]")
@click.option("--partials", type=click.FloatRange(0, 1), default=None,
              help="--study: share of closed partial responses  [default: 0]")
@click.option("--truth", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="--study: also write which rows are which kind of response (CSV).")
@click.option("--population-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="--study: also write the population model with the planted values (lavaan syntax).")
@click.option("--format", "fmt", type=FORMAT, default="table", show_default=True)
@registry_option
@click.pass_context
def simulate_cmd(ctx: click.Context, model: Path | None, study_file: Path | None, n: int, seed: int, out_file: Path,
                 codebook: Path | None, points: int | None, mcar: float | None, mar: float | None,
                 mar_on: str | None, standardized: bool, straightliners: float, random_responders: float,
                 effect: float | None, loading: float | None, icc: float | None, dyad_r: float | None,
                 congruence: float | None, org_size: tuple[int, ...] | None, speeders: float | None,
                 missing: float | None, previews: int | None, duplicates: int | None, partials: float | None,
                 truth: Path | None, population_out: Path | None, fmt: str, registry_dir: Path | None) -> None:
    """Simulate data from a population model (CSV), or a Qualtrics-format export of an instrument with --codebook;
    or, with --study, a pilot export of the study's instrument whose answers follow its hypotheses."""
    study_only = {"--effect": effect, "--loading": loading, "--icc": icc, "--dyad-r": dyad_r,
                  "--congruence": congruence, "--org-size": org_size or None, "--speeders": speeders,
                  "--missing": missing, "--previews": previews, "--duplicates": duplicates, "--partials": partials,
                  "--truth": truth, "--population-out": population_out}
    if model is not None and study_file is not None:
        raise click.UsageError("give --model or --study, not both")
    from .outpaths import check_outputs

    check_outputs([model, study_file, codebook], files=[("--out", out_file), ("--truth", truth),
                                                        ("--population-out", population_out)])
    if study_file is not None:
        model_only = {"--points": points, "--mcar": mcar, "--mar": mar, "--mar-on": mar_on,
                      "--standardized": standardized or None}
        bad = [k for k, v in model_only.items() if v is not None]
        if bad:
            raise click.UsageError(f"{', '.join(bad)} only go with --model (with --study use --missing)")
        _simulate_study_cmd(ctx, study_file, n, seed, out_file, codebook, straightliners, random_responders,
                            study_only, fmt, registry_dir)
        return
    if model is None:
        raise click.UsageError("Missing option '--model' (or '--study')")
    bad = [k for k, v in study_only.items() if v is not None]
    if bad:
        raise click.UsageError(f"{', '.join(bad)} only go with --study")
    from .instrument import Codebook, fake_export
    from .simulate import simulate_data

    text = _model_text(model)
    if codebook is not None:
        cb = Codebook.read(codebook)
        df = simulate_data(text, n, seed=seed, ordinal={"points": points or 7}, standardized=standardized)
        summary = fake_export(cb, n=n, seed=seed, out=out_file, answers=df, straightliners=straightliners,
                              random_responders=random_responders, missing=mcar or 0.0)
        click.echo(f"wrote {out_file}: {summary['rows']} rows (seed {seed})", err=True)
        return
    careless = ({"straightliners": straightliners, "random": random_responders}
                if straightliners or random_responders else None)
    if mcar and mar:
        raise click.UsageError("give --mcar or --mar, not both")
    if mar and not mar_on:
        raise click.UsageError("--mar needs --mar-on COLUMN")
    missing_spec = {"mcar": mcar} if mcar else ({"mar": mar, "on": mar_on} if mar else None)
    df = simulate_data(text, n, seed=seed, ordinal={"points": points} if points else None, missing=missing_spec,
                       careless=careless, standardized=standardized)
    from .csvsafe import write_csv

    write_csv(df, out_file)
    click.echo(f"wrote {out_file}: {len(df)} rows x {df.shape[1]} columns (seed {seed})", err=True)


def _simulate_study_cmd(ctx: click.Context, study_file: Path, n: int, seed: int, out_file: Path,
                        codebook: Path | None, straightliners: float, random_responders: float, opts: dict,
                        fmt: str, registry_dir: Path | None) -> None:
    """`simulate --study`: parse, call vccscale.simulate.simulate_study, print."""
    import time

    from .simulate import simulate_study

    org = opts["--org-size"]
    if org is not None and len(org) != 2:
        raise click.BadParameter("give two numbers: the smallest and the largest organisation", param_hint="--org-size")
    kw = {k: v for k, v in (("effect", opts["--effect"]), ("loading", opts["--loading"]), ("icc", opts["--icc"]),
                            ("dyad_r", opts["--dyad-r"]), ("congruence", opts["--congruence"]),
                            ("speeders", opts["--speeders"]), ("missing", opts["--missing"]),
                            ("previews", opts["--previews"]), ("duplicates", opts["--duplicates"]),
                            ("partials", opts["--partials"])) if v is not None}
    if org is not None:
        kw["org_size"] = (int(org[0]), int(org[1]))
    t0 = time.perf_counter()
    sim = simulate_study(study_file, n, seed, out_file, registry=_load(ctx, registry_dir), codebook=codebook,
                         straightliners=straightliners, random_responders=random_responders,
                         truth=opts["--truth"], population_out=opts["--population-out"], **kw)
    where = {"study": f"the study's data.codebook ({sim.codebook_path})",
             "argument": f"--codebook {sim.codebook_path}",
             "built": "the instrument built in memory from the study (no data.codebook file)"}[sim.codebook_source]
    click.echo(f"codebook: {where}", err=True)
    rows = sim.to_frame()
    n_pl, n_not = int(rows["planted"].sum()), int((~rows["planted"]).sum())
    click.echo(f"wrote {out_file}: {sim.export['rows']} rows, {sim.design['n_organisations']} organisations"
               + (f", {sim.design['n_relationships']} relationships" if sim.design["dyadic"] else "")
               + f"; {len(sim.hypotheses)} hypotheses: {n_pl} effects planted, {n_not} not planted, "
               f"{len(sim.conflicts)} conflict(s) resolved (seed {seed}, {time.perf_counter() - t0:.1f} s)", err=True)
    for c in sim.conflicts:
        click.echo(f"conflict ({c['rule']}): {c.get('path') or c.get('surface') or ''} -> {c['resolution']}",
                   err=True)
    if fmt == "json":
        echo_json(sim.to_dict())
        return
    _table(["hypothesis", "type", "parameter", "value", "planted", "note"],
           [[r.hypothesis, r.type, r.parameter, _fmt(r.value), "yes" if r.planted else "no", r.note]
            for r in sim.planted], title=f"planted effects ({sim.study}, n = {n})")


@main.command("power")
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Population model in lavaan syntax (the analysis model frees its fixed values).")
@click.option("--n", "n", cls=ListOption, type=click.IntRange(min=2), required=True, help="Sample sizes: --n 100 200")
@click.option("--reps", type=click.IntRange(min=1), default=500, show_default=True)
@click.option("--target", cls=ListOption, required=True,
              help="Parameters to test: 'y~x', 'f=~x2', a label, a := name, or 'joint(a, b)'.")
@click.option("--seed", type=click.IntRange(min=0), required=True)
@click.option("--alpha", type=click.FloatRange(0, 1), default=0.05, show_default=True)
@click.option("--estimator", type=click.Choice(["ML", "MLR"]), default="ML", show_default=True)
@click.option("--backend", type=click.Choice(["joblib", "dask"]), default="joblib", show_default=True)
@click.option("--scheduler", default=None, help="Dask scheduler address (default: a local cluster).")
@click.option("--n-jobs", type=int, default=-1, show_default=True)
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the power curve (.png or .svg).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def power_cmd(model: Path, n: tuple[int, ...], reps: int, target: tuple[str, ...], seed: int, alpha: float,
              estimator: str, backend: str, scheduler: str | None, n_jobs: int, plot_file: Path | None,
              fmt: str) -> None:
    """Monte Carlo power: per sample size, the share of replicates with a significant estimate, convergence,
    bias and 95% CI coverage, and the smallest n reaching 80% power."""
    from .outpaths import check_outputs
    from .simulate import power, power_curve_plot

    check_outputs([model], files=[("--plot", plot_file)])
    res = power(_model_text(model), targets=list(target), n=list(n), reps=reps, seed=seed, alpha=alpha,
                estimator=estimator, backend=backend, scheduler=scheduler, n_jobs=n_jobs,
                progress=True)  # the progress bar goes to stderr
    if plot_file is not None:
        power_curve_plot(res, plot_file)
    if fmt == "json":
        echo_json(res.to_dict())
    else:
        click.echo(res.summary())


# ---------------------------------------------------------------------------------------------------- pipeline
from .pipeline import STAGES as STAGE_NAMES  # noqa: E402 - the one stage list (vccscale.pipeline is light)


@main.command("run")
@click.argument("study_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--only", type=click.Choice(list(STAGE_NAMES)), default=None,
              help="Run only this stage (upstream results are read from the output folder).")
@click.option("--from", "from_stage", type=click.Choice(list(STAGE_NAMES)), default=None,
              help="Rerun this stage and every later one (earlier ones from the cache).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder (default: the study's output.dir, else output/<study id> beside the study file).")
@click.option("--format", "fmt", type=FORMAT, default="table", show_default=True)
@registry_option
@click.pass_context
def run_cmd(ctx: click.Context, study_file: Path, only: str | None, from_stage: str | None, out_dir: Path | None,
            fmt: str, registry_dir: Path | None) -> None:
    """Run the whole study: import -> clean -> items -> EFA -> CFA -> reliability -> validity -> invariance ->
    hypotheses -> RSA -> multilevel -> power, with caching of finished stages, then write report.html, the tables
    (CSV, LaTeX, Word-ready HTML), figures (PNG, SVG) and manifest.json. Every stage ends ok, skipped (with the
    reason) or failed (with the cause and what to change); each is configured in its study-file section."""
    from .pipeline import run_study

    if only and from_stage:
        raise click.UsageError("give --only or --from, not both")
    res = run_study(study_file, only=only, from_stage=from_stage, out=out_dir, registry=_load(ctx, registry_dir),
                    progress=True)
    rows = [[name, rec.status, "cache" if rec.cached else "run", (rec.notes[0] if rec.notes else "")[:80]]
            for name, rec in res.stages.items()]
    if fmt == "json":
        echo_json({"out": str(res.out), "report_written": res.report_written, "failed": list(res.failed),
                   "stages": {name: {"status": rec.status, "cached": rec.cached, "notes": list(rec.notes)}
                              for name, rec in res.stages.items()}})
    else:
        _table(["stage", "status", "", "note"], rows, title=f"output: {res.out}")
        if res.report_written:
            click.echo(f"report: {Path(res.out) / 'report.html'}")
    if res.failed:
        ctx.exit(1)


@main.command("init")
@click.argument("name")
def init_cmd(name: str) -> None:
    """Scaffold a new study folder NAME/ (study.yaml with comments, README.md with instructions, data/)."""
    from .pipeline import init_study

    path = init_study(name, Path.cwd())
    click.echo(f"created {path}: edit {Path(path) / 'study.yaml'}, put the Qualtrics export into "
               f"{Path(path) / 'data'}, then run: vccscale run {Path(path) / 'study.yaml'}")


# ---------------------------------------------------------------------------------------------------- registry
@main.command("registry")
@click.option("--format", "fmt", type=FORMAT, default="table", show_default=True)
@registry_option
@click.pass_context
def registry_cmd(ctx: click.Context, fmt: str, registry_dir: Path | None) -> None:
    """Validate the registry and print what it holds (exit 1 with every problem listed if invalid)."""
    reg = _load(ctx, registry_dir)
    fams: dict[str, dict[str, int]] = {}
    for c in reg.constructs.values():
        f = fams.setdefault(c.family, {"constructs": 0, "latent": 0, "second_order": 0, "items": 0})
        f["constructs"] += 1
        f["latent"] += c.latent
        f["second_order"] += c.order == "second"
        f["items"] += len(reg.items_of(c.id))
    summary = {"root": str(reg.root), "n_constructs": len(reg.constructs),
               "n_latent": sum(c.latent for c in reg.constructs.values()), "n_items": len(reg.items),
               "n_hypotheses": len(reg.hypotheses), "n_scales": len(reg.scales), "n_blocks": len(reg.blocks),
               "families": fams}
    if fmt == "json":
        echo_json(summary)
        return
    _table(["family", "constructs", "latent", "2nd-order", "items"],
           [[k, v["constructs"], v["latent"], v["second_order"], v["items"]] for k, v in sorted(fams.items())],
           title=f"registry {reg.root}: valid")
    click.echo(f"{summary['n_hypotheses']} hypotheses, {summary['n_scales']} response scales, "
               f"{summary['n_blocks']} standard blocks")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
