"""The stages of ``vccscale run``: each calls the library, writes its tables and results, and returns
``(summary, outputs, notes)``; a stage with nothing to do raises :class:`Skip` with the reason."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import DataError, VccscaleError
from ..jsonsafe import jsonable
from . import STAGES
from .context import Skip, StageContext

# ---------------------------------------------------------------------------------------------------- import


def stage_import(ctx: StageContext):
    from ..instrument.codebook import Codebook
    from ..io.stream import import_export

    d = ctx.study.data
    salt = os.environ.get(d.salt_env) if d.salt_env else None
    cb = Codebook.read(ctx.study.resolve(d.codebook)) if d.codebook else None
    (ctx.out / "data").mkdir(parents=True, exist_ok=True)
    # read_export + write, streamed for a large export (the same file either way)
    meta = import_export(ctx.study.resolve(d.export), ctx.out / "data" / "imported.parquet", cb,
                         identifiers=d.identifiers, salt=salt, na=d.na, redact_emails=d.redact_emails)
    _normalise_meta(ctx.out / "data" / "imported.parquet.meta.json", ctx)
    summary = {"rows": meta["n_rows"], "columns": meta["n_columns"], "format": meta["source"]["format"],
               "dropped_identifiers": sorted(meta["dropped_identifiers"]),
               "missing_from_export": len(meta["missing_from_export"]),
               "not_in_codebook": len(meta["not_in_codebook"])}
    return summary, ["data/imported.parquet", "data/imported.parquet.meta.json"], list(meta["log"])


def _normalise_meta(path: Path, ctx: StageContext) -> None:
    """Paths in a data sidecar relative to the study folder, so that the file does not depend on OUT."""
    base = ctx.study.path.resolve().parent if ctx.study.path else Path.cwd()
    meta = json.loads(path.read_text(encoding="utf-8"))

    def rel(v: Any) -> Any:
        if isinstance(v, str) and os.path.isabs(v):
            try:
                return os.path.relpath(v, base).replace(os.sep, "/")
            except ValueError:
                return v
        return v

    if isinstance(meta.get("source"), dict) and "path" in meta["source"]:
        meta["source"]["path"] = rel(meta["source"]["path"])
    if meta.get("codebook"):  # the pipeline attaches the study's codebook when it reads the data back
        meta["codebook_file"] = rel(meta["codebook"])
        meta["codebook"] = None
    path.write_text(json.dumps(meta, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------------- clean
def stage_clean(ctx: StageContext):
    from ..clean import clean
    from ..clean.describe import describe_sample

    res = clean(ctx.imported(), ctx.section("cleaning"))
    res.data.write(ctx.out / "data" / "clean.parquet")
    _normalise_meta(ctx.out / "data" / "clean.parquet.meta.json", ctx)
    ctx.forget("clean")
    outs = ["data/clean.parquet", "data/clean.parquet.meta.json",
            ctx.csv("consort", res.consort[["step", "rule", "excluded", "remaining"]]),
            ctx.csv("audit_log", res.audit)]
    sample = describe_sample(ctx.cleaned())
    outs.append(ctx.csv("sample", sample.to_frame()))
    outs.append(ctx.json("sample", sample.to_dict()))
    s = res.summary()
    summary = {"n_received": s["n_received"], "n_analysed": s["n_analysed"],
               "excluded_by_rule": s["excluded_by_rule"], **sample.headline()}
    return summary, outs, list(res.notes)


# ---------------------------------------------------------------------------------------------------- items
def _by_perspective(lf):
    for persp in sorted(lf["perspective"].astype(str).unique()):
        yield persp, lf[lf["perspective"].astype(str) == persp]


def _answered(df, items):
    return df[df[list(items)].notna().any(axis=1)]


def _scale_bounds(ctx: StageContext, items: list[str]) -> tuple[float | None, float | None]:
    cb = ctx.cleaned().codebook
    lo = [r.scale_min for r in cb.rows if r.item_id in items and r.scale_min is not None]
    hi = [r.scale_max for r in cb.rows if r.item_id in items and r.scale_max is not None]
    return (min(lo) if lo else None, max(hi) if hi else None)


def stage_items(ctx: StageContext):
    import pandas as pd

    from ..validate import item_analysis

    sec = ctx.section("items")
    if not sec.enabled:
        raise Skip("switched off in the study file (items.enabled: false)")
    rows, notes = [], []
    for c, items in ctx.blocks().items():
        lo, hi = _scale_bounds(ctx, items)
        for persp, sub in _by_perspective(ctx.long()):
            sub = _answered(sub, items)
            have = [i for i in items if sub[i].notna().any()]
            if len(have) < 2 or len(sub) < 3:
                continue
            try:
                ia = item_analysis(sub, have, scale_min=lo, scale_max=hi)
            except VccscaleError as exc:
                notes.append(f"{c} ({persp}): {exc.message}")
                continue
            t = ia.items
            for item in have:
                r = t.loc[item]
                rows.append({"construct": c, "perspective": persp, "item": item, "n": int(r["n"]),
                             **{k: float(r[k]) for k in ("mean", "sd", "skew", "kurtosis", "floor_pct",
                                                         "ceiling_pct", "r_drop", "alpha_if_deleted")}})
    cols = ["construct", "perspective", "item", "n", "mean", "sd", "skew", "kurtosis", "floor_pct", "ceiling_pct",
            "r_drop", "alpha_if_deleted"]
    df = pd.DataFrame(rows, columns=cols).sort_values(["construct", "perspective", "item"], kind="mergesort")
    low = df[df["r_drop"] < sec.r_drop_min]
    if len(low):
        notes.append(f"{len(low)} item(s) with a corrected item-total correlation below {sec.r_drop_min:.2f}: "
                     + ", ".join(sorted(set(low["item"]))[:12]) + ("..." if low["item"].nunique() > 12 else ""))
    return ({"items": int(df["item"].nunique()), "constructs": len(ctx.blocks()), "r_drop_below": len(low)},
            [ctx.csv("item_analysis", df)], notes)


# ---------------------------------------------------------------------------------------------------- efa
def stage_efa(ctx: StageContext):
    from ..report.figures import scree_grid
    from ..validate.efa import efa_by_groups

    v = ctx.section("efa")
    if not v.enabled:
        raise Skip("switched off in the study file (efa.enabled: false)")
    half, _ = ctx.split()
    res = efa_by_groups(half, ctx.blocks(), ctx.groups(), scope=v.scope, min_ratio=v.min_cases_per_item,
                        n_factors=v.factors, method=v.method, rotation=None if v.rotation == "none" else v.rotation,
                        n_iter=v.parallel_iterations, seed=ctx.seed)
    tab = res.to_frame()
    outs = [ctx.csv("efa_groups", tab), ctx.csv("efa_loadings", res.loadings_frame()), ctx.json("efa", res.to_dict())]
    ran = [g for g in res.groups if g.result is not None]
    if ran:
        outs += ctx.figure(scree_grid([(g.name, g.parallel.scree, g.n) for g in ran]), "efa_scree")
    notes = [res.reason] + [f"{g.name}: {n}" for g in res.groups for n in g.notes]
    off = tab[(tab["status"] == "ok") & (tab["as_expected"] < 1)]
    summary = {"scope": res.scope, "efas": len(tab), "not_run": int((tab["status"] != "ok").sum()),
               "n": int(half["response_id"].nunique()), "half": bool(v.half), "seed": ctx.seed,
               "method": v.method, "rotation": v.rotation,
               "items_as_expected": float((tab["as_expected"] * tab["items"]).sum() / max(tab["items"].sum(), 1)),
               "groups_with_misplaced_items": list(off["group"])}
    return summary, outs, notes


# ---------------------------------------------------------------------------------------------------- cfa
def stage_cfa(ctx: StageContext):
    import pandas as pd

    from ..validate.measurement import fit_measurement

    v = ctx.section("cfa")
    if not v.enabled:
        raise Skip("switched off in the study file (cfa.enabled: false); reliability (CR, AVE) and validity "
                   "(Fornell-Larcker) need it")
    _, half = ctx.split()
    est = ctx.estimator(ctx.section("validation").estimator, ordinal_ok=True)
    res = fit_measurement(half, ctx.blocks(), estimator=est, missing=ctx.missing(), scope=v.scope,
                          min_ratio=v.min_cases_per_parameter, groups=ctx.groups(),
                          progress=ctx.progress("measurement models"), n_jobs=-1,
                          cluster=None if est == "WLSMV" else ctx.cluster())
    e = res.estimates
    load = e[e["op"] == "=~"][["model", "lhs", "rhs", "est", "se", "pvalue", "std_all"]].rename(
        columns={"lhs": "construct", "rhs": "item"}) if len(e) else pd.DataFrame()
    outs = [ctx.json("measurement", res.to_dict()), ctx.csv("cfa_fit", res.fit_table()),
            ctx.csv("cfa_constructs", res.constructs), ctx.csv("cfa_loadings", load),
            ctx.csv("latent_correlations", res.correlations)]
    st = res.constructs["status"].value_counts().to_dict()
    notes = [f"scope: {res.scope}: {res.reason}",
             "nesting: " + ("not applied to the WLSMV measurement models" if est == "WLSMV" else ctx.nesting_note())]
    if est == "WLSMV":
        notes.append("estimator WLSMV (validation.estimator): items as ordered indicators, polychoric correlations "
                     "with pairwise missing answers, robust SEs and the scaled-shifted test (lavaan parity); the "
                     "measurement and invariance models are not cluster-adjusted (cluster-robust WLSMV is not "
                     "built); reliability adds ordinal alpha and Green & Yang's categorical omega; the hypothesis "
                     "models use ML/MLR")
    for m in res.models:
        if m.status != "ok":
            notes.append(f"{m.name}: {m.status}: " + "; ".join(m.problems))
    bad_pairs = res.correlations[res.correlations["status"] != "ok"]
    if len(bad_pairs):
        notes.append(f"{len(bad_pairs)} latent correlation(s) from improper or failed models (flagged in the table)")
    ft = res.fit_table()
    summary = {"scope": res.scope, "models": len(res.models), "estimator": est, "missing": res.missing,
               "cluster": None if est == "WLSMV" else ctx.cluster_source(),
               "n": int(half["response_id"].nunique()), "sample": "CFA half" if ctx.section("efa").half else "all",
               "constructs_ok": int(st.get("ok", 0)), "constructs_improper": int(st.get("improper", 0)),
               "constructs_failed": int(st.get("failed", 0)),
               "cfi_min": float(ft["cfi"].min()) if "cfi" in ft and ft["cfi"].notna().any() else None,
               "rmsea_max": float(ft["rmsea"].max()) if "rmsea" in ft and ft["rmsea"].notna().any() else None}
    if st.get("failed") and not st.get("ok") and not st.get("improper"):
        raise DataError("no measurement model could be fitted: " + "; ".join(
            f"{m.name}: {m.problems[0]}" for m in res.models if m.problems)[:600]
            + ". Fix: check the items' answers (constant or missing), or lower cfa.min_cases_per_parameter")
    return summary, outs, notes


# ---------------------------------------------------------------------------------------------------- reliability
def stage_reliability(ctx: StageContext):
    import warnings

    import pandas as pd

    from ..clean.scoring import block_score
    from ..validate import cronbach_alpha, omega

    sec = ctx.section("reliability")
    if not sec.enabled:
        raise Skip("switched off in the study file (reliability.enabled: false)")
    meas = ctx.measurement()
    lf = ctx.long()
    persps = sorted(lf["perspective"].astype(str).unique())
    rows, notes = [], []
    cons = meas.constructs.set_index("construct") if meas is not None else None
    ordinal = meas is not None and meas.estimator == "WLSMV"
    if ordinal:
        notes.append("WLSMV measurement models: CR and AVE on the latent-response (polychoric) scale; ordinal alpha "
                     "(alpha of the polychoric correlations, Zumbo, Gadermann & Zeisser 2007) and Green & Yang's "
                     "(2009) categorical omega of the sum score (semTools compRelSEM) beside alpha and omega of the "
                     "raw answers")
    for c, items in ctx.blocks().items():
        sub = _answered(lf, items)
        row: dict[str, Any] = {"construct": c, "name": ctx.name(c), "n": len(sub), "n_items": len(items)}
        score = block_score(sub[items], ctx.min_answered()).dropna()
        row.update(mean=float(score.mean()) if len(score) else None,
                   sd=float(score.std(ddof=1)) if len(score) > 1 else None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                a = cronbach_alpha(sub, items)
                row.update(alpha=a.alpha, alpha_ci_lower=a.ci_lower, alpha_ci_upper=a.ci_upper)
            except VccscaleError as exc:
                notes.append(f"{c} alpha: {exc.message}")
            try:
                row["omega"] = omega(sub, items).omega_total
            except (VccscaleError, ValueError, ArithmeticError) as exc:
                notes.append(f"{c} omega: {exc}")
            for p in persps:
                sp = _answered(sub[sub["perspective"].astype(str) == p], items)
                if len(sp) >= 3:
                    try:
                        row[f"alpha_{p}"] = cronbach_alpha(sp, items).alpha
                    except VccscaleError:
                        pass
        if cons is not None and c in cons.index:
            r = cons.loc[c]
            row.update(cr=r["cr"], ave=r["ave"], measurement_model=r["model"], status=r["status"],
                       problems=r["problems"])
            if ordinal:
                row.update(ordinal_alpha=r.get("ordinal_alpha"), ordinal_omega=r.get("ordinal_omega"))
        else:
            row.update(status="not_validated", problems="no CFA estimates (cfa stage off or failed)")
        rows.append(row)
    cols = (["construct", "name", "n", "n_items", "mean", "sd", "alpha", "alpha_ci_lower", "alpha_ci_upper", "omega",
             "cr", "ave"] + (["ordinal_alpha", "ordinal_omega"] if ordinal else [])
            + [f"alpha_{p}" for p in persps] + ["measurement_model", "status", "problems"])
    df = pd.DataFrame(rows).reindex(columns=cols).sort_values("construct", kind="mergesort")
    proper = df[df["status"] == "ok"]
    flags = {"alpha_below": int((df["alpha"] < sec.alpha_min).sum()), "cr_below": int((proper["cr"] < sec.cr_min).sum()),
             "ave_below": int((proper["ave"] < sec.ave_min).sum()),
             "improper": int((df["status"] == "improper").sum()), "not_estimated": int(df["status"].isin(
                 ("failed", "not_validated")).sum())}
    if flags["improper"]:
        notes.append("CR and AVE of constructs with an improper measurement model are not proper results: "
                     + ", ".join(df.loc[df["status"] == "improper", "construct"]))
    if meas is None:
        notes.append("CR and AVE need the cfa stage's measurement model (data/measurement.json): run it first")
    return {"constructs": len(df), **flags}, [ctx.csv("reliability", df)], notes


# ---------------------------------------------------------------------------------------------------- validity
def stage_validity(ctx: StageContext):
    import pandas as pd

    from ..validate.validity import common_method, htmt_pairs

    sec = ctx.section("validity")
    if not sec.enabled:
        raise Skip("switched off in the study file (validity.enabled: false)")
    blocks = ctx.blocks()
    if len(blocks) < 2:
        raise Skip(f"discriminant validity needs at least two constructs; the study validates {len(blocks)}")
    meas = ctx.measurement()
    notes: list[str] = []
    outs: list[str] = []
    summary: dict[str, Any] = {"constructs": len(blocks)}
    if meas is not None:
        fl = meas.fornell_larcker()
        outs.append(ctx.csv("fornell_larcker", fl))
        failed = list(fl.loc[fl["passed"] == False, "construct"])  # noqa: E712 - None = undecidable
        unsure = list(fl.loc[~fl["proper"].astype(bool), "construct"])
        summary.update(fornell_larcker_failed=failed, fornell_larcker_not_proper=unsure)
        if failed:
            notes.append("Fornell-Larcker criterion not met (sqrt(AVE) not above every latent correlation) for "
                         + ", ".join(failed))
        if unsure:
            notes.append("Fornell-Larcker rests on an improper or failed model for " + ", ".join(unsure))
    else:
        notes.append("Fornell-Larcker needs the cfa stage's latent correlations and AVE: run the cfa stage")
    h = htmt_pairs(ctx.long(), blocks, missing=ctx.missing(), n_boot=sec.htmt_bootstrap, seed=ctx.seed,
                   n_jobs=-1)
    outs.append(ctx.csv("htmt", h))
    high = h[h["htmt"] > sec.htmt_cutoff]
    summary.update(htmt_max=float(h["htmt"].max()) if h["htmt"].notna().any() else None,
                   htmt_above_cutoff=[f"{a} ~~ {b}" for a, b in zip(high["a"], high["b"])], htmt_cutoff=sec.htmt_cutoff,
                   htmt_missing=ctx.missing())
    if len(high):
        notes.append(f"HTMT above {sec.htmt_cutoff} for " + ", ".join(summary["htmt_above_cutoff"]))
    nodata = h[h["htmt"].isna()]
    for why, rows in nodata.groupby("note", sort=False):
        pairs = [f"{a} ~~ {b}" for a, b in zip(rows["a"], rows["b"])]
        notes.append(f"HTMT not computable for {len(pairs)} pair(s) ({', '.join(pairs[:6])}"
                     + (f" and {len(pairs) - 6} more" if len(pairs) > 6 else "") + f"): {why}")
    if sec.common_method:
        cm = common_method(ctx.long(), blocks, "perspective", marker=_marker_items(ctx),
                           min_answered=ctx.min_answered())
        outs += [ctx.csv("common_method", cm.to_frame()), ctx.json("common_method", cm.to_dict())]
        summary.update(cm.headline())
        notes += cm.notes
    return summary, outs, notes


def _marker_items(ctx: StageContext) -> list[str]:
    cb = ctx.cleaned().codebook
    cols = set(ctx.long().columns)
    ids = []
    for r in cb.rows:
        if r.role == "marker":
            for name in (r.item_id, r.variable):
                if name and name in cols and name not in ids:
                    ids.append(name)
                    break
    return ids


# ---------------------------------------------------------------------------------------------------- invariance
def stage_invariance(ctx: StageContext):
    from ..validate.invariance import invariance_by_construct

    sec = ctx.section("invariance")
    if not sec.enabled:
        raise Skip("switched off in the study file (invariance.enabled: false)")
    lf = ctx.long()
    g = sec.group
    if g not in lf.columns:
        raise Skip(f"the data have no {g!r} column to compare groups by (invariance.group)")
    groups = sorted(lf[g].dropna().astype(str).unique())
    if len(groups) < 2:
        raise Skip(f"the data hold one {g} only ({', '.join(groups) or 'none'})")
    res = invariance_by_construct(lf, ctx.blocks(), g, estimator=ctx.estimator(ctx.section("validation").estimator,
                                                                                 ordinal_ok=True),
                                  missing=ctx.missing(), levels=list(sec.levels), scope=sec.scope,
                                  min_ratio=ctx.section("cfa").min_cases_per_parameter, delta_cfi=sec.delta_cfi,
                                  progress=ctx.progress("invariance"), cluster=ctx.cluster())
    if not len(res.table):
        raise Skip(f"no construct is measured in every {g} ({', '.join(groups)})")
    outs = [ctx.csv("invariance", res.table), ctx.json("invariance", res.to_dict())]
    ordinal = res.estimator == "WLSMV"
    return ({**res.headline(), "cluster": None if ordinal else ctx.cluster_source()}, outs,
            list(res.notes) + ["nesting: " + ("not applied to the WLSMV invariance models" if ordinal
                                              else ctx.nesting_note())])


# ---------------------------------------------------------------------------------------------------- hypotheses
def stage_hypotheses(ctx: StageContext):
    from ..models.hypotheses import hypothesis_tables, test_hypotheses

    m = ctx.study.models
    if m is None:
        raise Skip("the study file has no models: section (which hypotheses to test)")
    if not m.enabled:
        raise Skip("switched off in the study file (models.enabled: false)")
    study = ctx.study
    if m.bootstrap_seed is None and study.seed is not None:
        study = study.model_copy(update={"models": m.model_copy(update={"bootstrap_seed": study.seed})})
    results = test_hypotheses(study, ctx.long(), ctx.registry, missing=ctx.missing(), min_answered=ctx.min_answered(),
                              measurement=ctx.measurement(), progress=ctx.progress("hypotheses"), n_jobs=-1,
                              cluster=ctx.cluster(), cluster_name=ctx.cluster_source())
    tables = hypothesis_tables(results, ctx.registry)
    outs = [ctx.json("hypotheses", [r.to_dict() for r in results])]
    for name, df in tables.items():
        outs.append(ctx.csv(name, df))
    from ..report.figures import structural_diagram

    dec = tables["hypotheses"]
    paths = tables.get("structural_paths")
    if paths is not None and len(paths):
        outs += ctx.figure(structural_diagram(paths, names=ctx.name), "structural_model")
    counts = dec["decision"].value_counts().to_dict()
    tested = int((dec["decision"] != "not_tested").sum())
    summary = {"hypotheses": len(dec), "tested": tested, "decisions": dict(sorted(counts.items())),
               "supported_share_of_tested": (counts.get("supported", 0) / tested) if tested else None,
               "adjust": m.adjust, "alpha": m.alpha, "missing": ctx.missing(), "estimator": ctx.estimator(m.estimator),
               "bootstrap": m.bootstrap, "cluster": ctx.cluster_source()}
    return summary, outs, ["nesting: " + ctx.nesting_note()]


# ---------------------------------------------------------------------------------------------------- rsa
def stage_rsa(ctx: StageContext):
    import pandas as pd

    from ..models.hypotheses import congruence_relations
    from ..models.rsa import contour_plot, rsa, surface_plot

    sec = ctx.section("rsa")
    if not sec.enabled:
        raise Skip("switched off in the study file (rsa.enabled: false)")
    m = ctx.study.models
    if m is None:
        raise Skip("the study file has no models: section (the response surfaces follow its congruence hypotheses)")
    rels = congruence_relations(ctx.registry, m, ctx.long(), hypotheses=sec.hypotheses,
                                min_answered=ctx.min_answered())
    if not rels:
        raise Skip("no congruence hypothesis among the chosen ones (models.hypotheses)")
    rows, outs, notes, done = [], [], [], []
    figdir = ctx.out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    for k, rel in enumerate(rels, 1):
        if rel.frame is None:
            notes.append(f"{rel.hypothesis} {rel.label}: not fitted: {rel.reason}")
            continue
        try:
            res = rsa(rel.frame, "X", "Y", "Z", center="midpoint", scale_min=rel.scale[0], scale_max=rel.scale[1],
                      family=rel.family)
        except (VccscaleError, ValueError, ArithmeticError) as exc:
            notes.append(f"{rel.hypothesis} {rel.label}: the response surface could not be fitted: {exc}")
            continue
        done.append(rel)
        for t in (res.coefficients, res.surface, res.stationary):
            for name, r in t.iterrows():
                if name == "b0":
                    continue
                rows.append({"hypothesis": rel.hypothesis, "relation": rel.label, "x": rel.x, "y": rel.y, "z": rel.z,
                             "n": int(res.n), "parameter": str(name), "est": r["est"], "se": r["se"],
                             "pvalue": r["pvalue"]})
        base = f"rsa_{k}"
        labels = {"x": rel.x_label, "y": rel.y_label, "z": rel.z_label}
        files = surface_plot(res, figdir / f"{base}_surface", labels=labels) + contour_plot(
            res, figdir / f"{base}_contour", labels=labels)
        outs += sorted(f"figures/{Path(f).name}" for f in files)
        notes.append(f"{rel.hypothesis} {rel.label}: {rel.how}, n = {res.n}")
    if not done:
        raise Skip("no response surface could be fitted: " + "; ".join(notes)[:500])
    outs.insert(0, ctx.csv("rsa", pd.DataFrame(rows)))
    outs.append(ctx.json("rsa", [{"figure": f"rsa_{k}", "hypothesis": r.hypothesis, "relation": r.label,
                                  "x": r.x, "y": r.y, "z": r.z, "how": r.how} for k, r in enumerate(rels, 1)
                                 if r in done]))
    return {"surfaces": len(done), "relations": len(rels)}, outs, notes


# ---------------------------------------------------------------------------------------------------- multilevel
def stage_multilevel(ctx: StageContext):
    from ..models.multilevel import aggregation_table

    sec = ctx.section("multilevel")
    if not sec.enabled:
        raise Skip("switched off in the study file (multilevel.enabled: false)")
    g = sec.group_column
    lf = ctx.long()
    if g not in lf.columns or lf[g].nunique() < 2:
        raise Skip(f"the data have no {g!r} column with at least two groups (multilevel.group_column)")
    lo, hi = _scale_bounds(ctx, [i for b in ctx.blocks().values() for i in b])
    points = int(hi - lo + 1) if lo is not None and hi is not None else 7
    notes = []
    usable = {}
    for c, items in ctx.blocks().items():
        sub = lf[lf[items].notna().all(axis=1)]
        sizes = sub.groupby(g).size()
        if (sizes >= 2).sum() < 2:
            notes.append(f"{c}: fewer than two {g} groups with two or more complete respondents")
            continue
        usable[c] = items
    if not usable:
        raise Skip(f"no construct has two or more {g} groups with two or more respondents")
    tab = aggregation_table(lf, g, usable, points).reset_index()
    tab = tab.rename(columns={"share_rwg_j_ge_cut": "share_rwg_70"})
    df = tab[["construct", "n", "n_groups", "icc1", "icc2", "F", "p", "rwg_j_mean", "rwg_j_median", "share_rwg_70",
              "ad_mean", "verdict"]].sort_values("construct", kind="mergesort")
    df.insert(1, "name", [ctx.name(c) for c in df["construct"]])
    mean_k = df["n"] / df["n_groups"]
    df.insert(df.columns.get_loc("icc2") + 1, "design_effect", 1 + (mean_k - 1) * df["icc1"].clip(lower=0))
    return ({"group": g, "n_groups": int(lf[g].nunique()), "constructs": len(df),
             "justified": int((df["verdict"] == "justified").sum()),
             "icc1_max": float(df["icc1"].max()) if len(df) else None}, [ctx.csv("multilevel", df)], notes)


# ---------------------------------------------------------------------------------------------------- power
def stage_power(ctx: StageContext):
    from ..simulate import power, power_curve_plot

    p = ctx.study.power
    if p is None or not p.enabled:
        raise Skip("not requested (power.enabled: false): a priori power needs a population model (power.model)")
    model = ctx.study.resolve(p.model).read_text(encoding="utf-8")
    seed = p.seed if p.seed is not None else ctx.seed
    res = power(model, targets=list(p.targets), n=list(p.n), reps=p.reps, seed=seed, alpha=p.alpha,
                estimator=p.estimator, n_jobs=-1 if p.reps * len(p.n) >= 200 else 1, progress=False)
    df = res.table[["n", "target", "power", "converged", "bias", "coverage"]].sort_values(
        ["target", "n"], kind="mergesort")
    outs = [ctx.csv("power", df)]
    figdir = ctx.out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    for fmt in sorted(ctx.formats):
        f = figdir / f"power_curve.{fmt}"
        power_curve_plot(res, f)  # deterministic bytes: vccscale.report.figures.save_figure
        outs.append(f"figures/{f.name}")
    n80 = jsonable(res.n_for_80)
    return {"seed": seed, "reps": p.reps, "n": list(p.n), "n_for_80": n80}, outs, []


#: stage name -> its function ``stage_<name>``, in the order of the one stage list :data:`vccscale.pipeline.STAGES`
RUNNERS = {name: globals()[f"stage_{name}"] for name in STAGES}
