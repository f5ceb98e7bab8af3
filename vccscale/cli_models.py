"""vccscale CLI: Model commands: mediate, rsa, multilevel, apim, dyadic-invariance, interaction, ordinal, nca.

Thin layer over the library; the commands are registered on :func:`vccscale.cli.main`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .cli import main
from .cli_support import (
    ListOption,
    analysis_frame,
    echo_json,
    load_registry_for,
    model_variables,
    read_data,
    records,
    variables_options,
)
from .jsonsafe import jsonable


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
                                  load_registry_for(ctx, None) if codebook is not None else None)
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
                                  load_registry_for(ctx, None) if codebook is not None else None, pooled=pair_by is None)
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
        click.echo(res.summary() if hasattr(res, "summary") else json.dumps(jsonable(out), indent=1))


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
        frame = analysis_frame(data, codebook, long=True)
        if scored or covariates:
            extra, _ = model_variables(data, codebook, [*scored, *covariates, dyad_id], None, load_registry_for(ctx, None),
                                       pooled=False)
            frame = frame.merge(extra[["response_id", "perspective",
                                       *[c for c in extra.columns if c in (*scored, *covariates)]]],
                                on=["response_id", "perspective"], how="left")
    else:
        frame, _ = model_variables(data, codebook, [*names, dyad_id], None, load_registry_for(ctx, None), pooled=False)
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
           "model": res.model, "effects": records(res.effects),
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


@main.command("dyadic-invariance")
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--items", cls=ListOption, required=True, help="The construct's items, asked of both sides "
              "(columns, or item ids with --codebook): --items I1 I2 I3.")
@click.option("--dyad-id", "--dyad", "dyad_id", default="relationship_id", show_default=True,
              help="Column identifying the dyad.")
@click.option("--side-column", "--role", "side_column", default="perspective", show_default=True,
              help="Column saying which side (role) a row holds.")
@click.option("--sides", cls=ListOption, help="The two sides, reference side first (default: provider customer).")
@click.option("--duplicates", type=click.Choice(["average", "first"]), default="average", show_default=True,
              help="Several respondents on one side of a dyad: their mean, or the first row.")
@click.option("--estimator", type=click.Choice(["ML", "MLR"]), default="ML", show_default=True)
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05, show_default=True)
@click.option("--codebook", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Codebook of the export: item ids name their rescored items (versions stacked).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def dyadic_invariance_cmd(data: Path, items: tuple[str, ...], dyad_id: str, side_column: str,
                          sides: tuple[str, ...], duplicates: str, estimator: str, alpha: float,
                          codebook: Path | None, fmt: str) -> None:
    """Provider-customer measurement equivalence within dyads (Kenny, Kashy & Cook 2006): the dyadic CFA (one
    factor per side, same-item residuals correlated) at configural, metric, scalar and strict levels, each compared
    with the previous (lavTestLRT; Satorra-Bentler 2001 for MLR), and the latent mean difference when scalar
    equivalence is not rejected."""
    from .models.dyadic import DEFAULT_SIDES, dyadic_invariance, pair_dyads

    sides_t = tuple(sides) if sides else DEFAULT_SIDES
    if len(sides_t) != 2:
        raise click.UsageError(f"--sides takes exactly two sides, got {len(sides_t)}: {' '.join(sides_t)}")
    frame = analysis_frame(data, codebook, long=True) if codebook is not None else read_data(data, None).data
    for c in (*items, dyad_id, side_column):
        if c not in frame.columns:
            from .errors import DataError

            raise DataError(f"column {c!r} is not in the data" + ("" if codebook else " (item ids need --codebook)"),
                            file=data, column=c)
    paired = pair_dyads(frame, dyad_id, side_column=side_column, sides=sides_t, columns=list(items),
                        duplicates=duplicates)
    for msg in paired.report.messages:
        click.echo(f"note: {msg}", err=True)
    res = dyadic_invariance(paired, list(items), sides=sides_t, estimator=estimator, alpha=alpha)
    for lv, fit in res.fits.items():
        for w in fit.warnings:
            click.echo(f"warning: {lv}: {w}", err=True)
    if fmt == "json":
        echo_json({**res.to_dict(), "n_dyads": res.n, "dyad_id": dyad_id})
    else:
        click.echo(res.summary())


# ---------------------------------------------------------------------------------------------- issue 17 commands
@main.command("interaction")
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--x", "x", cls=ListOption, required=True, help="Items of the predictor X (columns), or one construct "
              "id with --codebook: --x I1 I2 I3.")
@click.option("--z", "z", cls=ListOption, required=True, help="Items (or the construct id) of the moderator Z.")
@click.option("--y", "y", cls=ListOption, required=True, help="Items (or the construct id) of the outcome Y.")
@click.option("--method", type=click.Choice(["dmc"]), default="dmc", show_default=True,
              help="dmc: double-mean-centred product indicators (Lin et al. 2010), matched pairs in the order given "
                   "(all products when one side has a single item).")
@click.option("--estimator", type=click.Choice(["ML", "MLR"]), default="ML", show_default=True)
@click.option("--missing", type=click.Choice(["listwise", "fiml"]), default="listwise", show_default=True)
@variables_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def interaction_cmd(ctx: click.Context, data: Path, x: tuple[str, ...], z: tuple[str, ...], y: tuple[str, ...],
                    method: str, estimator: str, missing: str, codebook: Path | None, perspective: str | None,
                    fmt: str) -> None:
    """Latent interaction X x Z -> Y from items: paths x, z, xz (est, se, p), simple slopes of X at the latent
    moderator's -1 SD, mean and +1 SD (as semTools::indProd + lavaan + probe2WayMC)."""
    from .models.moderation import latent_interaction

    frame, items = _latent_blocks(ctx, data, codebook, perspective, {"--x": x, "--z": z, "--y": y})
    res = latent_interaction(frame, items["--x"], items["--z"], items["--y"], method=method, estimator=estimator,
                             missing=missing)
    for w in res.fit.warnings:
        click.echo(f"warning: {w}", err=True)
    out = {**res.to_dict(), "items": {k.lstrip("-"): v for k, v in items.items()}}
    if fmt == "json":
        echo_json(out)
    else:
        click.echo(res.summary())


def _latent_blocks(ctx: click.Context, data: Path, codebook: Path | None, perspective: str | None,
                   given: dict[str, tuple[str, ...]]) -> tuple[Any, dict[str, list[str]]]:
    """The frame (stacked by item id and rescored with --codebook) and each option's item columns: a single
    construct id with --codebook stands for its reflective items in the data."""
    from .models.library import construct_items

    frame = analysis_frame(data, codebook, long=codebook is not None)
    if perspective is not None:
        if "perspective" not in frame.columns:
            raise click.UsageError("--perspective needs the stacked data (--codebook)")
        frame = frame[frame["perspective"] == perspective]
        if frame.empty:
            raise click.BadParameter(f"no rows of the version {perspective!r}", param_hint="--perspective")
    reg = load_registry_for(ctx, None) if codebook is not None else None
    out = {}
    for opt, names in given.items():
        if reg is not None and len(names) == 1 and names[0] in reg.constructs and names[0] not in frame.columns:
            its = construct_items(reg, names[0], set(frame.columns))
            if not its:
                raise click.BadParameter(f"construct {names[0]} has no reflective items in the data", param_hint=opt)
            click.echo(f"note: {opt} {names[0]} = its {len(its)} items ({', '.join(its)})", err=True)
            out[opt] = its
        else:
            out[opt] = list(names)
    return frame, out


@main.command("ordinal")
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--y", "y", required=True, help="Ordered outcome (a column with ordered numeric codes, e.g. a stage).")
@click.option("--x", "x", cls=ListOption, required=True, help="Predictors: columns, or construct ids with --codebook "
              "(their scale scores): --x A B.")
@click.option("--link", type=click.Choice(["logit", "probit"]), default="logit", show_default=True)
@variables_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def ordinal_cmd(ctx: click.Context, data: Path, y: str, x: tuple[str, ...], link: str, codebook: Path | None,
                perspective: str | None, fmt: str) -> None:
    """Proportional-odds (logit) or cumulative probit regression of an ordered outcome, as MASS::polr
    (coefficients, thresholds named "1|2", ..., log-likelihood, AIC), with Brant's test of proportional odds
    (logit)."""
    from .models.ordinal import brant_test, ordinal_regression

    frame, info = model_variables(data, codebook, [y, *x], perspective,
                                  load_registry_for(ctx, None) if codebook is not None else None)
    res = ordinal_regression(frame, y, list(x), link=link)
    out = {**res.to_dict(), "variables": info}
    if link == "logit":
        b = brant_test(frame, y, list(x))
        out["brant"] = records(b.tests)
    if fmt == "json":
        echo_json(out)
        return
    lines = [f"Ordinal regression ({link}) of {y} on {', '.join(x)}: n = {res.n}"
             + (f" ({res.n_dropped} dropped)" if res.n_dropped else "") + f", loglik {res.loglik:.4f}, "
             f"AIC {res.aic:.4f}", res.coefficients.to_string(index=False), "", res.thresholds.to_string(index=False)]
    if "brant" in out:
        lines += ["", "Brant test of proportional odds", b.tests.to_string(index=False)]
    click.echo("\n".join(lines))


@main.command("nca")
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--x", "x", required=True, help="Condition: a column, or a construct id with --codebook.")
@click.option("--y", "y", required=True, help="Outcome (as --x).")
@click.option("--ceiling", cls=ListOption, help="Ceiling technique(s): --ceiling ce_fdh cr_fdh (default both).")
@click.option("--permutations", "n_perm", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Permutations of the approximate permutation test (0 = no p-value).")
@click.option("--seed", type=click.IntRange(min=0), required=True, help="Permutation seed (recorded in the output).")
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the scatter plot with the ceiling line(s) to this file (png or svg).")
@variables_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def nca_cmd(ctx: click.Context, data: Path, x: str, y: str, ceiling: tuple[str, ...], n_perm: int, seed: int,
            plot_file: Path | None, codebook: Path | None, perspective: str | None, fmt: str) -> None:
    """Necessary condition analysis (Dul 2016): CE-FDH and CR-FDH ceilings, effect size d, ceiling accuracy, scope,
    bottleneck table and the approximate permutation test's p-value."""
    from .models.nca import CEILINGS, nca, nca_plot

    frame, info = model_variables(data, codebook, [x, y], perspective,
                                  load_registry_for(ctx, None) if codebook is not None else None)
    ceil = tuple(ceiling) or CEILINGS
    bad = [c for c in ceil if c not in CEILINGS]
    if bad:
        raise click.BadParameter(f"unknown ceiling technique(s) {', '.join(bad)} (use ce_fdh, cr_fdh)",
                                 param_hint="--ceiling")
    res = nca(frame, x, y, ceil, n_perm=n_perm, seed=seed)
    out = {**res.to_dict(), "variables": info}
    if plot_file is not None:
        from .outpaths import check_outputs, data_inputs

        check_outputs([*data_inputs(data), codebook], files=[("--plot", plot_file)])
        out["plots"] = [str(p) for p in nca_plot(res, plot_file)]
    if fmt == "json":
        echo_json(out)
    else:
        click.echo(res.summary())
