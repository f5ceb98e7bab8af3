"""vccscale CLI: Simulation commands: simulate, power.

Thin layer over the library; the commands are registered on :func:`vccscale.cli.main`."""
from __future__ import annotations

from pathlib import Path

import click

from .cli import main
from .cli_support import (
    FORMAT,
    ListOption,
    echo_json,
    fmt_value,
    load_registry_for,
    model_text,
    print_table,
    registry_option,
)


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
              help="--study: organisation share of every latent variable's variance (ICC(1))  [default: 0.2]; "
              "--model with --cluster-size: the between-cluster share of every latent variable's variance")
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
@click.option("--cluster-size", cls=ListOption, type=click.IntRange(min=1), default=None,
              help="With --model: nested data, --n clusters of this many respondents (one value) or of sizes drawn "
              "between two values (--cluster-size 5 15); the model has level: 1 / level: 2 blocks, or give --icc "
              "(vccscale.simulate.nested).")
@click.option("--format", "fmt", type=FORMAT, default="table", show_default=True)
@registry_option
@click.pass_context
def simulate_cmd(ctx: click.Context, model: Path | None, study_file: Path | None, n: int, seed: int, out_file: Path,
                 codebook: Path | None, points: int | None, mcar: float | None, mar: float | None,
                 mar_on: str | None, standardized: bool, straightliners: float, random_responders: float,
                 effect: float | None, loading: float | None, icc: float | None, dyad_r: float | None,
                 congruence: float | None, org_size: tuple[int, ...] | None, speeders: float | None,
                 missing: float | None, previews: int | None, duplicates: int | None, partials: float | None,
                 truth: Path | None, population_out: Path | None, cluster_size: tuple[int, ...] | None, fmt: str,
                 registry_dir: Path | None) -> None:
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
                      "--standardized": standardized or None, "--cluster-size": cluster_size or None}
        bad = [k for k, v in model_only.items() if v is not None]
        if bad:
            raise click.UsageError(f"{', '.join(bad)} {'goes' if len(bad) == 1 else 'go'} only with --model (with --study "
                                   "use --missing)")
        _simulate_study_cmd(ctx, study_file, n, seed, out_file, codebook, straightliners, random_responders,
                            study_only, fmt, registry_dir)
        return
    if model is None:
        raise click.UsageError("Missing option '--model' (or '--study')")
    if cluster_size:
        _simulate_nested_cmd(model, n, seed, out_file, tuple(cluster_size), icc,
                             {"--codebook": codebook, "--points": points, "--mcar": mcar, "--mar": mar,
                              "--standardized": standardized or None, "--straightliners": straightliners or None,
                              "--random-responders": random_responders or None,
                              **{k: v for k, v in study_only.items() if k != "--icc"}})
        return
    bad = [k for k, v in study_only.items() if v is not None]
    if bad:
        raise click.UsageError(f"{', '.join(bad)} {'goes' if len(bad) == 1 else 'go'} only with --study")
    from .instrument import Codebook, fake_export
    from .simulate import simulate_data

    text = model_text(model)
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


def _simulate_nested_cmd(model: Path, n: int, seed: int, out_file: Path, cluster_size: tuple[int, ...],
                         icc: float | None, other: dict) -> None:
    bad = [k for k, v in other.items() if v is not None]
    if bad:
        raise click.UsageError(f"{', '.join(bad)} do not go with --cluster-size")
    if len(cluster_size) > 2:
        raise click.UsageError("--cluster-size takes one size or two (min max)")
    from .csvsafe import write_csv
    from .simulate.nested import simulate_nested

    size = cluster_size[0] if len(cluster_size) == 1 else (min(cluster_size), max(cluster_size))
    if n < 2:
        raise click.UsageError("with --cluster-size, --n is the number of clusters: at least 2")
    df = simulate_nested(model_text(model), n, size, seed=seed, icc=icc)
    write_csv(df, out_file)
    click.echo(f"wrote {out_file}: {len(df)} rows in {n} clusters (column 'cluster') x {df.shape[1] - 1} variables "
               f"(seed {seed})", err=True)


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
    sim = simulate_study(study_file, n, seed, out_file, registry=load_registry_for(ctx, registry_dir), codebook=codebook,
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
    print_table(["hypothesis", "type", "parameter", "value", "planted", "note"],
           [[r.hypothesis, r.type, r.parameter, fmt_value(r.value), "yes" if r.planted else "no", r.note]
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
@click.option("--cluster-size", cls=ListOption, type=click.IntRange(min=1), default=None,
              help="Nested design: every --n is a number of clusters of this many respondents (or of sizes drawn "
              "between two values); the model has level: 1 / level: 2 blocks (two-level analysis) or give --icc "
              "(cluster-robust analysis).")
@click.option("--icc", type=click.FloatRange(0, 0.95), default=None,
              help="With --cluster-size and a single-level model: between-cluster share of every latent variable's "
              "variance.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def power_cmd(model: Path, n: tuple[int, ...], reps: int, target: tuple[str, ...], seed: int, alpha: float,
              estimator: str, backend: str, scheduler: str | None, n_jobs: int, plot_file: Path | None,
              cluster_size: tuple[int, ...] | None, icc: float | None, fmt: str) -> None:
    """Monte Carlo power: per sample size, the share of replicates with a significant estimate, convergence,
    bias and 95% CI coverage, and the smallest n reaching 80% power."""
    from .outpaths import check_outputs
    from .simulate import power, power_curve_plot

    check_outputs([model], files=[("--plot", plot_file)])
    size = None
    if cluster_size:
        if len(cluster_size) > 2:
            raise click.UsageError("--cluster-size takes one size or two (min max)")
        size = cluster_size[0] if len(cluster_size) == 1 else (min(cluster_size), max(cluster_size))
    elif icc is not None:
        raise click.UsageError("--icc needs --cluster-size")
    res = power(model_text(model), targets=list(target), n=list(n), reps=reps, seed=seed, alpha=alpha,
                estimator=estimator, backend=backend, scheduler=scheduler, n_jobs=n_jobs,
                progress=True, cluster_size=size, icc=icc)  # the progress bar goes to stderr
    if plot_file is not None:
        power_curve_plot(res, plot_file)
    if fmt == "json":
        echo_json(res.to_dict())
    else:
        click.echo(res.summary())
