"""vccscale CLI: Scale commands: reliability, item-analysis, efa.

Thin layer over the library; the commands are registered on :func:`vccscale.cli.main`."""
from __future__ import annotations

from pathlib import Path

import click

from .cli import main
from .cli_support import (
    ListOption,
    echo_json,
    n_out,
    reverse_key_warnings,
    scale_frame,
    scale_options,
)


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
