"""vccscale CLI: Registry and instrument commands: constructs, hypotheses (list, show, plan, test), items, instrument.

Thin layer over the library; the commands are registered on :func:`vccscale.cli.main`."""
from __future__ import annotations

import json
from pathlib import Path

import click

from .cli import main
from .cli_support import (
    FORMAT,
    analysis_frame,
    echo_json,
    fmt_value,
    load_registry_for,
    print_table,
    registry_option,
)


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
    reg = load_registry_for(ctx, registry_dir)
    rows = [reg.construct_record(c) for c in reg.constructs_in(family)]
    if fmt == "json":
        echo_json(rows)
        return
    print_table(["id", "name", "family", "role", "level", "measurement", "items", "seeds"],
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
    reg = load_registry_for(ctx, registry_dir)
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
    reg = load_registry_for(ctx, registry_dir)
    rows = [reg.hypothesis_record(h) for h in reg.hypotheses_in(family)]
    if fmt == "json":
        echo_json(rows)
        return
    print_table(["id", "fam", "statement", "test", "basis", "seeds"],
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
    reg = load_registry_for(ctx, registry_dir)
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


@hypotheses.command("plan")
@click.option("--family", type=click.Choice(["A", "B", "C", "D", "X"], case_sensitive=False), default=None,
              help="Only this family (X = cross-family).")
@click.option("--scope", type=click.Choice(["hypothesis", "family"]), default="hypothesis", show_default=True,
              help="Models as `hypotheses test` fits them (models.scope): one per hypothesis, or one per family "
                   "(feedback loops between hypotheses are flagged).")
@click.option("--format", "fmt", type=FORMAT, default="table", show_default=True)
@registry_option
@click.pass_context
def hypotheses_plan(ctx: click.Context, family: str | None, scope: str, fmt: str, registry_dir: Path | None) -> None:
    """For each hypothesis: the methods its relations get, status full / partial / not_tested with the reason,
    and the flags self_loop and cycle (with the fix). Planned for data with every item, id and grouping column;
    `hypotheses test` says what a given data set cannot carry."""
    from .models.library import plan_records

    reg = load_registry_for(ctx, registry_dir)
    rows = plan_records(reg, reg.hypotheses_in(family), scope=scope)
    if fmt == "json":
        echo_json(rows)
        return
    counts = {k: sum(r["status"] == k for r in rows) for k in ("full", "partial", "not_tested")}
    print_table(["id", "status", "methods", "flags", "reason"],
                [[r["id"], r["status"], ", ".join(dict.fromkeys(c["kind"] for c in r["components"])) or "-",
                  ", ".join(k for k in ("self_loop", "cycle") if r[k]) or "-",
                  (r["reason"] or "")[:160] + ("..." if r["reason"] and len(r["reason"]) > 160 else "")]
                 for r in rows],
                title=f"{len(rows)} hypotheses: {counts['full']} full, {counts['partial']} partial, "
                      f"{counts['not_tested']} not tested")


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

    reg = load_registry_for(ctx, registry_dir)
    study = load_study(study_file)
    cb = codebook or (study.resolve(study.data.codebook) if study.data and study.data.codebook else None)
    frame = analysis_frame(data, cb, long=cb is not None)
    results = test_hypotheses(study, frame, reg)
    recs = [r.to_dict() for r in results]
    if fmt == "json":
        echo_json(recs)
        return
    print_table(["id", "decision", "test", "p", "p adj", "reason"],
           [[r["id"], r["decision"] + (" (exploratory)" if r.get("exploratory") else ""), r["test"],
             fmt_value(r.get("pvalue")), fmt_value(r.get("pvalue_adjusted")), r.get("reason") or ""] for r in recs],
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
    reg = load_registry_for(ctx, registry_dir)
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
    print_table(["id", "facet", "R", "scale", "wording"],
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

    reg = load_registry_for(ctx, registry_dir)
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
                                                          "measurement.lavaan", "summary.json"])])
    reg = load_registry_for(ctx, registry_dir)
    study = load_study(study_file)
    inst = build_instrument(reg, study)
    paths = write_instrument(inst, out_dir, reg)
    cb = codebook_from_instrument(inst, reg)
    summary = {"study": study.study.id, "survey_name": inst.name, "versions": list(inst.versions),
               "n_blocks": len(inst.blocks), "n_questions": len(inst.questions), "n_columns": len(cb),
               "n_item_columns": len(cb.items()), "n_attention_checks": len(cb.filter(role="attention_check")),
               "files": {k: str(v) for k, v in paths.items()}, "notes": list(inst.notes),
               "warnings": list(inst.warnings), "estimated_minutes": {}}
    per_version = json.loads(paths["summary"].read_text("utf-8"))["versions"]
    for v in [*inst.versions, *sorted(per_version)]:  # questionnaire order
        if v in per_version:
            summary["estimated_minutes"].setdefault(v, per_version[v]["estimated_minutes"])
    for note in inst.notes:
        click.echo(f"note: {note}", err=True)
    for warning in inst.warnings:
        click.echo(f"warning: {warning}", err=True)
    if fmt == "json":
        echo_json(summary)
        return
    click.echo(f"built {summary['survey_name']!r}: {summary['n_blocks']} blocks, {summary['n_questions']} questions, "
               f"{summary['n_columns']} export columns ({summary['n_item_columns']} item columns, "
               f"{summary['n_attention_checks']} attention checks)")
    click.echo("  estimated minutes: " + ", ".join(f"{v} {m:g}" for v, m in summary["estimated_minutes"].items()))
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
    reg = load_registry_for(ctx, registry_dir)
    cb = read_qsf(qsf_file, registry=reg)
    if out_file is not None:
        if out_file.suffix.lower() == ".json":
            cb.write_json(out_file)
        else:
            cb.write_csv(out_file)
    if fmt == "json":
        echo_json({"source": str(qsf_file), "n_columns": len(cb), "codebook": cb.to_records()})
    elif out_file is None:
        print_table(["variable", "import_id", "role", "item_id", "perspective", "type", "scale"],
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
