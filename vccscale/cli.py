"""Command-line interface: a thin layer over the library.

Conventions (DEVELOPERS.md): ``--format json`` prints JSON only on stdout (NaN as null, snake_case keys);
progress and warnings go to stderr; exit 0 = ok, 1 = data/model/registry error, 2 = usage error.
Heavy modules are imported inside commands so that ``vccscale --help`` starts fast.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

# One BLAS thread per vccscale process unless the user sets it: the matrices are small (a model's moments, at most a
# few hundred variables), where OpenBLAS's thread start-up costs more than it saves (0.3-0.5 CPU-s per command
# measured on 2 cores, benchmarks/cli_startup_benchmark.py); parallel work (bootstrap, power, pairwise models) runs
# in processes (joblib). Effective only when numpy is not imported yet, i.e. for the command-line process.
if "numpy" not in sys.modules:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")

import click

from . import __version__
from ._args import is_plain
from .cli_support import (
    FORMAT,
    ListOption,
    analysis_frame,
    echo_json,
    load_registry_for,
    model_text,
    print_table,
    records,
    registry_option,
)
from .errors import VccscaleError


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


def _htmt_blocks(blocks: dict[str, list[str]]) -> tuple[dict[str, list[str]] | None, str | None]:
    """The factors HTMT is defined for: :func:`vccscale.validate.htmt_blocks` (kept here for callers)."""
    from .validate.quality import htmt_blocks

    return htmt_blocks(blocks)


def _fit_json(fit: Any, data: Any, ave_variances: str = "implied") -> dict[str, Any]:
    """The machine-readable result of a CFA/SEM fit (keys of the issue's contract; lavaan's measure names with
    dots written as underscores). Reliability, HTMT and Fornell-Larcker: :func:`vccscale.validate.measurement_quality`
    (``reliability_convention`` names the variances CR and AVE use); for data read by :mod:`vccscale.io.plain`
    the same numbers without pandas (:func:`_plain_quality`)."""
    import numpy as np

    recs = fit.parameter_records()
    cols = (["lhs", "op", "rhs", "group"] + (["level"] if recs and "level" in recs[0] else [])
            + ["label", "est", "se", "z", "pvalue", "std_lv", "std_all"])
    out: dict[str, Any] = {
        "n": int(np.sum(fit.nobs)), "estimator": fit.estimator,
        "fit": {k.replace(".", "_"): v for k, v in fit.fit.items()},
        "estimates": [{k: (None if (isinstance(v, float) and not np.isfinite(v)) else v)
                       for k, v in ((c, r[c]) for c in cols)} for r in recs],
    }
    if getattr(fit, "nclusters", 0):  # two-level model (level: blocks)
        out.update({"cluster": fit.cluster, "nclusters": int(fit.nclusters), "levels": 2})
    r2 = fit.r2_records()
    if r2:
        out["r2"] = r2
    single = fit.ngroups == 1 if fit.tables_deferred else len(fit.sample_cov) == 1
    if getattr(fit, "ordered", ()):
        from .sem.wlsmv import ordinal_reliability

        out["parameterization"] = fit.parameterization
        out["reliability"] = records(ordinal_reliability(fit))
        out["reliability_convention"] = ("ordered indicators: ordinal alpha (polychoric correlations), omega of the "
                                         "latent responses and Green & Yang's (2009) categorical omega, as "
                                         "semTools::compRelSEM; HTMT and Fornell-Larcker are not computed")
    elif single and any(r["op"] == "=~" for r in recs):
        if is_plain(data):  # read without pandas (vccscale.io.plain)
            out.update(_plain_quality(fit, data, recs, ave_variances))
        else:
            from .validate.quality import measurement_quality

            q = measurement_quality(fit, data, variances=ave_variances)
            if len(q.factors):
                out.update(q.to_dict())
    if getattr(fit, "cluster", None) is not None:  # cluster-robust (lavaan cluster =)
        out.update(cluster=fit.cluster, n_clusters=int(np.sum(fit.n_clusters)),
                   n_clusters_by_group=[int(c) for c in fit.n_clusters], se=fit.se, test=list(fit.test))
    if fit.warnings:
        out["warnings"] = list(fit.warnings)
    return out


def _plain_quality(fit: Any, data: Any, recs: list[dict], variances: str) -> dict[str, Any]:
    """:func:`vccscale.validate.measurement_quality`'s JSON for complete numeric data read by
    :mod:`vccscale.io.plain` (one group), computed the same way without pandas; NotPlain where that function
    would warn (a negative loading on an item set's first principal component) or HTMT is not defined, so that
    the caller reads the data with pandas and says so as that function does."""
    import numpy as np

    from .errors import DataError
    from .io.plain import NotPlain
    from .validate._cor import alpha_complete, htmt_matrix, item_cor, missing_rule
    from .validate.quality import group_rows, quality_dict, quality_numbers

    def alpha_of(items: list[str]) -> float:
        x = data.matrix(items)
        if not (x.std(axis=0) > 0).all():
            raise NotPlain("an item without variance")
        alpha, smallest = alpha_complete(x)
        if not smallest > 1e-6:  # cronbach_alpha's reverse-key warning (or too close to call)
            raise NotPlain("a reverse-keyed item")
        return alpha

    def htmt_of(blocks: dict[str, list[str]]) -> tuple[np.ndarray, str]:
        items = [c for its in blocks.values() for c in its]
        arr = data.matrix(items)
        arr = arr[~np.isnan(arr).all(axis=1)]
        idx = [np.array([items.index(c) for c in its]) for its in blocks.values()]
        try:
            r, _ = item_cor(arr, items, missing_rule("fiml" if fit.missing == "fiml" else "listwise"))
        except DataError as exc:
            raise NotPlain(exc.message) from None
        return htmt_matrix(r, idx, "htmt2", True), "htmt2"

    names, sigma = fit.moments("implied" if variances == "implied" else "sample")
    q = quality_numbers(group_rows(recs, 1), names, sigma, set(data.columns), alpha_of, htmt_of)
    return quality_dict(q, variances) if q["factors"] else {}


def _plain_fit(kind: str, data: Path, model: Path, estimator: str, std_lv: bool, missing: str,
               ave_variances: str, fmt: str = "json") -> tuple[Any, dict[str, Any] | None] | None:
    """``vccscale cfa``/``sem`` without pandas, for a plain numeric CSV file
    (:func:`vccscale.io.plain.read_plain`) whose model columns are complete: (fit, JSON or None for the text
    format, which is ``fit.summary()``), or None whenever the file, the fit or its measurement quality is anything
    but plain (then the command reads the file with read_export and reports as it always does: the same output
    and warnings). Errors of the fit are raised (unless Python warnings came before them: the pandas path then
    shows both)."""
    import warnings

    from .io.plain import NotPlain, read_plain
    from .sem.syntax import is_twolevel

    try:
        text = model_text(model)
    except VccscaleError:  # the pandas path reports it (after the data's own errors, as always)
        return None
    cols = None if is_twolevel(text) else read_plain(data)  # (two-level models: the pandas path)
    if cols is None:
        return None
    from .sem.api import fit_cfa, fit_sem

    # a model or data error of the fit is raised as it is: the pandas path's data are the same numbers, so it
    # would raise the same error (after fitting again, which can take seconds for a model that does not converge)
    error = None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                fit = (fit_cfa if kind == "cfa" else fit_sem)(cols, text, estimator=estimator, std_lv=std_lv,
                                                              missing=missing)
            except VccscaleError as exc:
                error = exc
            else:
                if fit.n_dropped:
                    return None
                out = _fit_json(fit, cols, ave_variances) if fmt == "json" else None
    except NotPlain:
        return None
    except Exception:  # noqa: BLE001 - anything unforeseen: the pandas path answers (or raises) as it always did
        return None
    if caught:
        return None
    if error is not None:
        raise error
    return fit, out


def _fit_command(kind: str, data: Path, model: Path, estimator: str, std_lv: bool, group: str | None,
                 fmt: str, codebook: Path | None = None, long: bool = False, missing: str = "listwise",
                 group_equal: tuple[str, ...] = (), group_partial: tuple[str, ...] = (), modindices: bool = False,
                 mi_minimum: float = 0.0, score_tests: bool = False, ave_variances: str = "implied",
                 engine: str = "vccscale", cluster: str | None = None, ordered: tuple[str, ...] = (),
                 parameterization: str = "delta") -> None:
    from .sem import fit_cfa, fit_sem

    if (group_equal or group_partial) and group is None:
        raise click.UsageError("--group-equal and --group-partial need --group")
    if (codebook is None and not long and group is None and cluster is None and not ordered
            and engine == "vccscale" and not (modindices or score_tests) and estimator in ("ML", "MLR")
            and missing in ("listwise", "fiml") and parameterization == "delta"):
        plain = _plain_fit(kind, data, model, estimator, std_lv, missing, ave_variances, fmt)
        if plain is not None:  # a plain numeric CSV file: read and reported without pandas
            for w in plain[0].warnings:
                click.echo(f"warning: {w}", err=True)
            if fmt == "json":
                echo_json(plain[1])
            else:
                click.echo(plain[0].summary())
            return
    frame = analysis_frame(data, codebook, long)
    fn = fit_cfa if kind == "cfa" else fit_sem
    ordered_arg = (True if list(ordered) == ["all"] else list(ordered)) if ordered else None
    if estimator in ("WLSMV", "ULSMV") and ordered_arg is None:
        raise click.UsageError(f"--estimator {estimator} is for ordered indicators: add --ordered ITEM... (or "
                               "--ordered all)")
    if parameterization != "delta" and ordered_arg is None:
        raise click.UsageError("--parameterization is for ordered indicators: add --ordered ITEM... (or --ordered "
                               "all)")
    try:
        fit = fn(frame, model_text(model), estimator=estimator, std_lv=std_lv, group=group, missing=missing,
                 group_equal=tuple(group_equal), group_partial=tuple(group_partial), engine=engine,
                 cluster=cluster, ordered=ordered_arg, parameterization=parameterization)
    except ImportError as exc:  # --engine semopy without the optional extra
        raise click.ClickException(str(exc)) from None
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
            out["modindices"] = records(mi)
        if sc is not None:
            out["score_tests"] = {"univariate": records(sc), "total": sc.attrs["total"]}
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
    f = click.option("--cluster", default=None, help="Cluster id column (lavaan cluster =): for a single-level "
                     "model cluster-robust standard errors and the Yuan-Bentler scaled test (ML or MLR); for a "
                     "model with 'level: 1' / 'level: 2' blocks the two-level ML model.")(f)
    f = click.option("--missing", type=click.Choice(["listwise", "fiml", "pairwise"]), default="listwise",
                     show_default=True, help="Missing values: drop incomplete rows (lavaan's default), full-"
                     "information ML (lavaan missing = 'ml'), or for --ordered indicators pairwise polychorics "
                     "(lavaan missing = 'pairwise').")(f)
    f = click.option("--std-lv", is_flag=True, help="Identify by fixing latent variances to 1 (lavaan std.lv) "
                     "instead of the first loading (marker, lavaan's default).")(f)
    f = click.option("--engine", type=click.Choice(["vccscale", "semopy"]), default="vccscale", show_default=True,
                     help="Estimation engine: vccscale's own (lavaan's numbers), or the optional semopy 2.3.11 "
                     "(pip install 'vccscale[semopy]'; single-group ML, no mean structure; its solution is refined to "
                     "lavaan's optimum; fit measures semopy lacks or puts on another scale are null, with a "
                     "warning).")(f)
    f = click.option("--ordered", cls=ListOption, help="Ordered (ordinal) indicators, as lavaan's ordered =: "
                     "--ordered A1 A2 ... or --ordered all; fitted by WLSMV (or --estimator ULSMV) on polychoric "
                     "correlations.")(f)
    f = click.option("--parameterization", type=click.Choice(["delta", "theta"]), default="delta",
                     show_default=True, help="For --ordered indicators, as lavaan's parameterization =: delta "
                     "(unit-variance latent responses) or theta (their residual variances fixed at 1).")(f)
    f = click.option("--estimator", type=click.Choice(["ML", "MLR", "WLSMV", "ULSMV"]), default="ML",
                     show_default=True, help="ML, MLR (Huber-White SEs, Yuan-Bentler scaled test), or for --ordered "
                     "indicators WLSMV / ULSMV (robust SEs, scaled-shifted test) as lavaan.")(f)
    f = click.option("--model", type=click.Path(dir_okay=False, path_type=Path), required=True,
                     help="lavaan model syntax file.")(f)
    return click.argument("data", type=click.Path(dir_okay=False, path_type=Path))(f)


@main.command("cfa")
@_fit_options
def cfa_cmd(data: Path, model: Path, estimator: str, std_lv: bool, group: str | None, missing: str,
            codebook: Path | None, long: bool, fmt: str, group_equal: tuple[str, ...], group_partial: tuple[str, ...],
            modindices: bool, mi_minimum: float, score_tests: bool, ave_variances: str, engine: str,
            cluster: str | None, ordered: tuple[str, ...], parameterization: str) -> None:
    """Confirmatory factor analysis with lavaan's defaults and fit measures (chisq, cfi, tli, rmsea + CI, srmr,
    aic, bic, ...), estimates with std.all, reliability (alpha, CR/omega, AVE; model-implied variances unless
    --ave-variances observed), HTMT and Fornell-Larcker (vccscale.validate.measurement_quality)."""
    _fit_command("cfa", data, model, estimator, std_lv, group, fmt, codebook, long, missing, group_equal,
                 group_partial, modindices, mi_minimum, score_tests, ave_variances, engine, cluster, ordered,
                 parameterization)


@main.command("sem")
@_fit_options
def sem_cmd(data: Path, model: Path, estimator: str, std_lv: bool, group: str | None, missing: str,
            codebook: Path | None, long: bool, fmt: str, group_equal: tuple[str, ...], group_partial: tuple[str, ...],
            modindices: bool, mi_minimum: float, score_tests: bool, ave_variances: str, engine: str,
            cluster: str | None, ordered: tuple[str, ...], parameterization: str) -> None:
    """Structural equation model from lavaan syntax (=~, ~, ~~, :=), same output as cfa plus R²."""
    _fit_command("sem", data, model, estimator, std_lv, group, fmt, codebook, long, missing, group_equal,
                 group_partial, modindices, mi_minimum, score_tests, ave_variances, engine, cluster, ordered,
                 parameterization)


@main.command("validity")
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="lavaan syntax: its =~ lines define the factors and their items.")
@click.option("--marker", cls=ListOption, help="Marker-variable items for the CFA marker comparison "
              "(default: a common latent factor without markers).")
@click.option("--bootstrap", type=click.IntRange(min=0), default=0, show_default=True,
              help="Bootstrap draws for percentile CIs of HTMT (0 = none).")
@click.option("--missing", type=click.Choice(["listwise", "fiml"]), default="listwise", show_default=True,
              help="Correlations behind HTMT: complete rows (semTools' default) or the saturated model's ML "
                   "correlations on every answered item (semTools' missing = \"ml\").")
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True)
@click.option("--codebook", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--long", is_flag=True, help="Stack respondent versions by item id (items rescored first).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def validity_cmd(data: Path, model: Path, marker: tuple[str, ...], bootstrap: int, missing: str, seed: int,
                 codebook: Path | None, long: bool, fmt: str) -> None:
    """Discriminant validity and common-method checks: HTMT (semTools htmt2, optional bootstrap CI),
    cross-loadings, Harman's single factor, common-latent-factor / marker comparison."""
    from .errors import ModelError
    from .validate import common_latent_factor, cross_loadings, harman_single_factor, htmt
    from .validate.validity import factor_blocks

    frame = analysis_frame(data, codebook, long)
    blocks = factor_blocks(model_text(model), frame)
    if len(blocks) < 2:
        raise ModelError("validity needs at least two factors whose items are data columns", file=model)
    h = htmt(frame, blocks, missing=missing, n_boot=bootstrap, seed=seed)
    items = [i for b in blocks.values() for i in b]
    harman = harman_single_factor(frame, items)
    clf = common_latent_factor(frame, blocks, marker=list(marker) or None)
    out = {"htmt": h.pairs(), "htmt_variant": h.variant, "htmt_missing": h.missing, "htmt_n": h.n_obs,
           "bootstrap": bootstrap, "seed": seed,
           "cross_loadings": cross_loadings(frame, blocks).to_dict(orient="index"),
           "harman": harman.to_dict(), "common_latent_factor": clf.to_dict(orient="records"),
           "method_variance": clf.attrs.get("method_variance")}
    if bootstrap:
        out["htmt_ci"] = h.ci_pairs()
    if fmt == "json":
        echo_json(out)
        return
    click.echo(f"HTMT ({h.variant}, missing data: {h.missing}, n = {h.n_obs}):\n" + h.matrix.round(3).to_string())
    click.echo(f"\nHarman's single factor: {harman.share:.1%} of the variance"
               + (" (above 50%: common-method variance likely)" if harman.flagged else ""))
    click.echo("\nCommon latent factor comparison:\n" + clf.round(3).to_string(index=False))


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
@click.option("--cluster", default=None, help="Cluster id column (lavaan cluster =, clusters within groups): "
              "cluster-robust fits and difference tests (needs --estimator MLR).")
@click.option("--ordered", cls=ListOption, help="Ordered indicators (--ordered all or names): the ordinal "
              "sequence configural, thresholds, thresholds + loadings by WLSMV, with lavTestLRT's scaled-shifted "
              "difference tests; the held level by the change of the scaled CFI.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def invariance_cmd(data: Path, model: Path, group: str, estimator: str, codebook: Path | None, long: bool,
                   partial_alpha: float, missing: str, cluster: str | None, ordered: tuple[str, ...],
                   fmt: str) -> None:
    """Configural, metric, scalar and strict invariance with chi-square difference tests (Satorra-Bentler 2001
    scaled for MLR) and delta CFI/RMSEA; if scalar invariance is rejected, a partial-invariance search (score
    tests, Bonferroni); latent means compared in the (partially) scalar-invariant model."""
    from .validate.invariance import invariance_workflow, ordinal_invariance

    frame = analysis_frame(data, codebook, long)
    if ordered:
        if cluster is not None or missing != "listwise":
            raise click.UsageError("--ordered invariance is fitted with complete cases and without --cluster")
        ores = ordinal_invariance(frame, model_text(model), group,
                                  ordered=True if list(ordered) == ["all"] else list(ordered))
        ores.pop("fits")
        if fmt == "json":
            echo_json(ores)
        else:
            import pandas as pd

            click.echo(f"Ordinal invariance by {group} (WLSMV; {ores['rule']})")
            click.echo(pd.DataFrame(ores["levels"]).drop(columns=["improper"]).round(4).to_string(index=False))
            click.echo(f"highest level held: {ores['highest_level_held']}")
        return
    res = invariance_workflow(frame, model_text(model), group, estimator=estimator, missing=missing,
                              partial_alpha=partial_alpha, cluster=cluster)
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
    res = run_study(study_file, only=only, from_stage=from_stage, out=out_dir, registry=load_registry_for(ctx, registry_dir),
                    progress=True)
    rows = [[name, rec.status, "cache" if rec.cached else "run", (rec.notes[0] if rec.notes else "")[:80]]
            for name, rec in res.stages.items()]
    if fmt == "json":
        echo_json({"out": str(res.out), "report_written": res.report_written, "failed": list(res.failed),
                   "stages": {name: {"status": rec.status, "cached": rec.cached, "notes": list(rec.notes)}
                              for name, rec in res.stages.items()}})
    else:
        print_table(["stage", "status", "", "note"], rows, title=f"output: {res.out}")
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
    reg = load_registry_for(ctx, registry_dir)
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
    print_table(["family", "constructs", "latent", "2nd-order", "items"],
           [[k, v["constructs"], v["latent"], v["second_order"], v["items"]] for k, v in sorted(fams.items())],
           title=f"registry {reg.root}: valid")
    click.echo(f"{summary['n_hypotheses']} hypotheses, {summary['n_scales']} response scales, "
               f"{summary['n_blocks']} standard blocks")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


# the stage command modules register their commands on main
from . import cli_data, cli_models, cli_registry, cli_scales, cli_simulate  # noqa: E402,F401
