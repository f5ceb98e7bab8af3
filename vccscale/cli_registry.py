"""vccscale CLI: Registry and instrument commands: constructs, hypotheses (list, show, plan, test), items, instrument.

Thin layer over the library; the commands are registered on :func:`vccscale.cli.main`."""
from __future__ import annotations

import json
from pathlib import Path

import click

from .cli import main
from .cli_support import (
    FORMAT,
    ListOption,
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
    """List the item bank, lint it and check its content validity (sort tasks, judges' scores, overlap)."""


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


@items.command("sort-task")
@click.option("--family", type=click.Choice(["A", "B", "C", "D", "X"], case_sensitive=False), default=None,
              help="Constructs of this family (with the shared constructs it uses; X = shared). Default: all.")
@click.option("--constructs", "construct_ids", cls=ListOption,
              help="Only these constructs (ids or patterns, space-separated): --constructs a_drv_* x_trust")
@click.option("--per-construct", type=click.IntRange(min=1), default=None,
              help="At most K items per construct, drawn at random (default: all).")
@click.option("--seed", type=int, default=1, show_default=True,
              help="Seed of the draw, the item order and the construct codes.")
@click.option("--wording", type=click.Choice(["P", "C"], case_sensitive=False), default=None,
              help="Provider or customer wording (items without it use their first wording). Default: each item's "
                   "first wording (P, C, J, stakeholder roles).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder: judge_form.html, judge_survey.qsf and key.json.")
@click.option("--format", "fmt", type=FORMAT, default="table", show_default=True)
@registry_option
@click.pass_context
def items_sort_task(ctx: click.Context, family: str | None, construct_ids: tuple[str, ...], per_construct: int | None,
                    seed: int, wording: str | None, out_dir: Path, fmt: str, registry_dir: Path | None) -> None:
    """Write an item-sort task for content-validity judges: a printable form (judge_form.html), a Qualtrics
    survey (judge_survey.qsf) and the key (key.json). Judges see construct names and definitions under neutral
    codes and the items under neutral numbers; the key maps them back (vccscale items sort-score)."""
    from .content import sort_task, write_sort_task
    from .outpaths import check_outputs

    check_outputs([], dirs=[("--out", out_dir, ["judge_form.html", "judge_survey.qsf", "key.json"])])
    reg = load_registry_for(ctx, registry_dir)
    task = sort_task(reg, family=family, per_construct=per_construct, seed=seed,
                     wording=wording.upper() if wording else None, constructs=construct_ids or None)
    paths = write_sort_task(task, out_dir)
    summary = {"n_items": len(task.items), "n_constructs": len(task.constructs), "codes": task.codes,
               "seed": task.seed, "family": task.family, "per_construct": task.per_construct,
               "wording": task.wording, "files": {k: str(v) for k, v in paths.items()}}
    if fmt == "json":
        echo_json(summary)
        return
    click.echo(f"sort task: {len(task.items)} items of {len(task.constructs)} constructs (seed {seed})")
    for k, v in paths.items():
        click.echo(f"  {k:14s} {v}")
    click.echo("keep key.json from the judges; score their answers with: vccscale items sort-score "
               f"{paths['key']} ANSWERS...", err=True)


@items.command("sort-score")
@click.argument("key", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("answers", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--ratings", is_flag=True, help="ANSWERS are definition ratings (Hinkin & Tracey 1999): JSON "
              "{judge: {item: {code: rating}}} or CSV judge,item,code,rating.")
@click.option("--psa-min", type=click.FloatRange(0, 1), default=0.75, show_default=True,
              help="An item meets the criteria with psa >= this ...")
@click.option("--csv-min", type=click.FloatRange(-1, 1), default=0.0, show_default=True,
              help="... and csv > this (Anderson & Gerbing 1991).")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05,
              show_default=True, help="--ratings: level of the paired t-test of the intended definition.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the per-item table as CSV.")
@click.option("--format", "fmt", type=FORMAT, default="table", show_default=True)
def items_sort_score(key: Path, answers: tuple[Path, ...], ratings: bool, psa_min: float, csv_min: float,
                     alpha: float, out_file: Path | None, fmt: str) -> None:
    """Score judges' answers to a sort task against KEY (key.json): per item psa and csv (Anderson & Gerbing
    1991), per construct and family the share of items meeting the criteria, agreement between judges (Fleiss'
    kappa) and every missing answer. ANSWERS: JSON files {judge: {item: code}} and/or Qualtrics exports of
    judge_survey.qsf (one row per judge). With --ratings: Hinkin & Tracey (1999) definition ratings."""
    from .content import score_ratings, score_sort
    from .outpaths import check_outputs

    check_outputs([key, *answers], files=[("--out", out_file)])
    if ratings:
        res = score_ratings(key, list(answers), alpha=alpha)
    else:
        res = score_sort(key, list(answers), psa_min=psa_min, csv_min=csv_min)
    for note in res.notes:
        click.echo(f"note: {note}", err=True)
    if out_file is not None:
        res.write_csv(out_file)
        click.echo(f"wrote {out_file}", err=True)
    if fmt == "json":
        echo_json(res.to_dict())
        return
    if ratings:
        print_table(["item", "item_id", "code", "n", "intended", "best other", "diff", "F", "p", "t", "p (t)",
                     "supported"],
                    [[r["item"], r["item_id"], r["code"], r["n_judges"], fmt_value(r["mean_intended"]),
                      f"{r['best_other_code'] or ''} {fmt_value(r['mean_best_other'])}", fmt_value(r["difference"]),
                      fmt_value(r["f"]), fmt_value(r["p_anova"]), fmt_value(r["t"]), fmt_value(r["p_t"]),
                      "yes" if r["supported"] else "no"] for r in res.to_dict()["items"]],
                    title=f"{len(res.items)} items rated by {len(res.judges)} judges (Hinkin & Tracey)")
        print_table(["construct", "items", "supported", "share", "mean diff"],
                    [[c["construct"], c["n_items"], c["n_supported"], fmt_value(c["share_supported"]),
                      fmt_value(c["mean_difference"])] for c in res.constructs], title="Constructs")
        return
    d = res.to_dict()
    print_table(["item", "item_id", "code", "N", "miss", "n_c", "NA", "most common other", "n_o", "psa", "csv",
                 "meets"],
                [[r["item"], r["item_id"], r["code"], r["n_judges"], r["n_missing"], r["n_correct"], r["n_na"],
                  r["other_construct"] or "", r["n_other"], fmt_value(r["psa"]), fmt_value(r["csv"]),
                  "yes" if r["meets"] else "no"] for r in d["items"]],
                title=f"{d['n_items']} items, {d['n_judges']} judges (psa >= {psa_min:g}, csv > {csv_min:g})")
    print_table(["construct", "items", "mean psa", "mean csv", "meeting", "share"],
                [[c["construct"], c["n_items"], fmt_value(c["mean_psa"]), fmt_value(c["mean_csv"]), c["n_meeting"],
                  fmt_value(c["share_meeting"])] for c in d["constructs"]], title="Constructs")
    print_table(["family", "items", "meeting", "share", "mean psa", "mean csv"],
                [[f["family"], f["n_items"], f["n_meeting"], fmt_value(f["share_meeting"]), fmt_value(f["mean_psa"]),
                  fmt_value(f["mean_csv"])] for f in d["families"]], title="Families")
    a = d["agreement"]
    kappa = a["fleiss_kappa"]
    click.echo(f"agreement: {a['n_unanimous']} of {a['n_items_rated']} items unanimous"
               f" ({fmt_value(a['share_unanimous'])}); Fleiss' kappa {fmt_value(kappa)}")


@items.command("overlap")
@click.option("--family", type=click.Choice(["A", "B", "C", "D", "X"], case_sensitive=False), default=None,
              help="Only pairs with a construct of this family (shared constructs it uses included).")
@click.option("--threshold", type=click.FloatRange(0, 1), default=None,
              help="Report item pairs with a combined similarity at or above this (default: "
                   "vccscale.content.OVERLAP_THRESHOLD).")
@click.option("--facet-threshold", type=click.FloatRange(0, 1), default=None,
              help="Report facet texts of linked constructs at or above this (default: "
                   "vccscale.content.FACET_THRESHOLD).")
@click.option("--all-pairs", is_flag=True, help="Compare every pair of items in different constructs, not only "
              "constructs a hypothesis links.")
@click.option("--include-waived", is_flag=True, help="Also list pairs an item (or, for facet pairs, a construct) "
              "waives, with the reason.")
@click.option("--format", "fmt", type=FORMAT, default="table", show_default=True)
@registry_option
@click.pass_context
def items_overlap(ctx: click.Context, family: str | None, threshold: float | None, facet_threshold: float | None,
                  all_pairs: bool, include_waived: bool, fmt: str, registry_dir: Path | None) -> None:
    """Items of different constructs that a hypothesis links whose wordings are near (TF-IDF cosine of words and
    character n-grams), and facet texts repeated across linked constructs. Findings are information: the exit
    code is 0 whenever the check runs."""
    from .content import FACET_THRESHOLD, OVERLAP_THRESHOLD, overlap

    reg = load_registry_for(ctx, registry_dir)
    res = overlap(reg, OVERLAP_THRESHOLD if threshold is None else threshold, family=family,
                  hypotheses=not all_pairs, include_waived=include_waived,
                  facet_threshold=FACET_THRESHOLD if facet_threshold is None else facet_threshold)
    d = res.to_dict()
    click.echo(f"{d['n_pairs']} item pair(s) at or above {res.threshold:g} of {res.n_compared} compared"
               + (f" ({res.n_waived} waived{' and listed' if include_waived else ''})" if res.n_waived else "")
               + f"; {d['n_facet_pairs']} facet pair(s) at or above {res.facet_threshold:g}"
               + (f" ({res.n_facets_waived} waived{' and listed' if include_waived else ''})"
                  if res.n_facets_waived else ""), err=True)
    if fmt == "json":
        echo_json(d)
        return
    print_table(["score", "word", "char", "item a", "item b", "hypotheses", "wordings"],
                [[fmt_value(p.score), fmt_value(p.word_sim), fmt_value(p.char_sim), p.item_a, p.item_b,
                  ", ".join(dict.fromkeys(h.split(":")[0] for h in p.hypotheses))[:60] or "-",
                  f"{p.wording_a}: {p.text_a}\n{p.wording_b}: {p.text_b}"
                  + (f"\n(waived: {p.waiver_reason})" if p.waived else "")] for p in res.pairs],
                title=f"Near wordings in linked constructs (score >= {res.threshold:g})")
    if res.facets:
        print_table(["score", "facet a", "facet b", "items a", "items b"],
                    [[fmt_value(f.score), f"{f.construct_a} ({f.facet_a}) {f.facet_text_a}",
                      f"{f.construct_b} ({f.facet_b}) {f.facet_text_b}"
                      + (f"\n(waived: {f.waiver_reason})" if f.waived else ""), " ".join(f.items_a),
                      " ".join(f.items_b)] for f in res.facets],
                    title=f"Repeated facet texts (score >= {res.facet_threshold:g})")


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
