"""``render_report``: one self-contained HTML page from a run's output folder.

The page shows, in the order a methods section needs them: the stages of the run (each ok, skipped with its reason,
or failed with its cause), the sample, the items, the exploratory and confirmatory factor analyses (which models
were fitted and why), reliability and convergent validity, descriptives and latent correlations with the AVE on the
diagonal, discriminant validity (Fornell-Larcker, HTMT), common-method checks, measurement invariance, the
hypothesis decisions with their reasons in words, the structural models' fit and R², the nested comparisons behind
mediation decisions, the tested parameters (bootstrap CIs of indirect effects where requested), the path diagram,
response surfaces, nesting and power, and the run manifest. Construct names are readable (from the registry).

The page has inline CSS, figures embedded as ``data:`` URIs, no script and no external link; the same folder gives
the same bytes. Every table is also written as ``tables/<name>.tex`` (booktabs) and ``tables/<name>.html`` (Word).
"""
from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import pandas as pd

from ..pipeline import STAGES  # the one stage list
from . import build as B
from .results import RunResults
from .tables import FormattedTable, fmt_int, markup_html, table_html, to_latex, to_word_html


CSS = """
:root { --ink:#1a1a1a; --muted:#5a5a5a; --rule:#1a1a1a; --accent:#1f3b63; --bg:#ffffff; --soft:#f5f6f8; }
* { box-sizing: border-box; }
html { background: #eceef1; }
body { margin: 0; color: var(--ink); font: 16px/1.5 "Times New Roman", Times, "Liberation Serif", Georgia, serif; }
main { max-width: 1060px; margin: 24px auto; background: var(--bg); padding: 44px 56px 32px;
       box-shadow: 0 1px 4px rgba(0,0,0,.12); }
header.title-block { text-align: center; border-bottom: 1px solid #ccc; padding-bottom: 18px; margin-bottom: 8px; }
header.title-block h1 { font-size: 1.75em; margin: 0 0 6px; font-weight: bold; line-height: 1.25; }
header.title-block .subtitle { color: var(--muted); font-size: 1.02em; margin: 0; }
header.title-block .description { max-width: 52em; margin: 10px auto 0; font-size: .95em; text-align: left; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; width: max-content;
          margin: 14px auto 0; font-size: .92em; text-align: left; }
dl.meta dt { color: var(--muted); } dl.meta dd { margin: 0; }
nav.toc { font: 13px/1.7 "Helvetica Neue", Arial, sans-serif; margin: 14px 0 6px; text-align: center; }
nav.toc a { color: var(--accent); text-decoration: none; margin: 0 7px; white-space: nowrap; }
h2 { font-size: 1.3em; margin: 36px 0 8px; padding-bottom: 3px; border-bottom: 2px solid var(--accent);
     color: var(--accent); }
h2 .secnum { color: var(--muted); font-weight: normal; margin-right: .4em; }
h3 { font-size: 1.05em; margin: 22px 0 4px; }
p.lead { margin: 6px 0 10px; }
.apa-table { margin: 16px 0 22px; overflow-x: auto; max-width: 100%; }
.table-number { font-weight: bold; margin: 0; }
.table-title { font-style: italic; margin: 0 0 6px; }
.apa-table table { border-collapse: collapse; border-top: 2px solid var(--rule); border-bottom: 2px solid var(--rule);
                   font-size: 13.5px; line-height: 1.3; }
.apa-table th { font-weight: normal; text-align: left; border-bottom: 1px solid var(--rule); padding: 4px 7px;
                vertical-align: bottom; }
.apa-table td { padding: 2px 7px; vertical-align: top; }
.apa-table .num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.apa-table td.wrap { min-width: 7em; max-width: 22em; }
#table-hypotheses table, #table-stages table { width: 100%; }
#table-hypotheses td.wrap { max-width: 26em; }
.apa-table tbody tr:nth-child(even) { background: #fafafa; }
.apa-table tr.exploratory td { background: #f6f3ff; }
.apa-table tr.flag td { background: #fff4e5; }
.apa-table tr.status-failed td { background: #fdecea; } .apa-table tr.status-skipped td { color: #6b5a00; }
.table-note { font-size: 13px; margin: 6px 0 0; color: #333; max-width: 62em; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font: bold 11.5px/1.5 Arial, sans-serif;
         color: #fff; white-space: nowrap; }
.badge-supported { background: #1b7a3a; } .badge-partial { background: #b07800; }
.badge-not-supported { background: #b42318; } .badge-other { background: #6b7280; }
.tag { display: inline-block; padding: 0 6px; border: 1px solid #6d4fc2; color: #6d4fc2; border-radius: 8px;
       font: 10.5px/1.5 Arial, sans-serif; vertical-align: 1px; }
figure { margin: 18px 0 22px; }
figure .figure-number { font-weight: bold; margin: 0; }
figure .figure-title { font-style: italic; margin: 0 0 8px; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; border: 1px solid #e3e3e3; }
figure figcaption.figure-note { font-size: 13px; margin-top: 6px; color: #333; }
.figure-row { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.consort { display: flex; flex-direction: column; align-items: flex-start; margin: 12px 0 8px 10%;
           font: 13px/1.35 "Helvetica Neue", Arial, sans-serif; }
.consort .step { display: grid; grid-template-columns: 230px 36px auto; align-items: center; }
.consort .box { border: 1.5px solid #333; background: #fff; padding: 6px 12px; text-align: center; width: 230px; }
.consort .box.main { background: var(--soft); }
.consort .box.final { border-width: 2px; border-color: var(--accent); background: #eef3fb; font-weight: bold; }
.consort .vline { width: 230px; display: flex; justify-content: center; }
.consort .vline span { display: block; width: 2px; height: 18px; background: #333; }
.consort .hline { height: 2px; background: #333; }
.consort .box.excl { text-align: left; width: auto; min-width: 210px; background: #fff7f5; border-color: #b4553a; }
.stage-notes { font-size: 13px; color: #444; background: var(--soft); border-left: 3px solid #c9ced6;
               padding: 6px 12px; margin: 10px 0; }
.stage-notes ul { margin: 2px 0; padding-left: 18px; }
details { margin: 8px 0 14px; } details > summary { cursor: pointer; color: var(--accent); font-size: 14px; }
ol.reasons { font-size: 13.5px; padding-left: 22px; } ol.reasons li { margin-bottom: 5px; }
footer { margin-top: 40px; border-top: 2px solid var(--accent); padding-top: 10px; font-size: 13px; color: #333; }
footer h2 { border: 0; margin-top: 8px; font-size: 1.1em; }
footer table { border-collapse: collapse; font-size: 12.5px; margin: 6px 0 12px; }
footer th { text-align: left; font-weight: normal; color: var(--muted); padding: 2px 14px 2px 0; vertical-align: top; }
footer td { padding: 2px 14px 2px 0; vertical-align: top; word-break: break-all; }
.muted { color: var(--muted); }
@media print { html { background: #fff; } main { box-shadow: none; margin: 0; padding: 0; max-width: none; }
  h2 { break-after: avoid; } figure { break-inside: avoid; } .apa-table { overflow: visible; }
  .apa-table table { font-size: 10.5px; } details { display: block; } }
"""


# ---------------------------------------------------------------------------------------------------- inputs
def _names(registry: Any) -> Any:
    def name(cid: str) -> str:
        if registry is not None:
            c = registry.constructs.get(cid)
            if c is not None:
                return c.name
        return cid
    return name


# ---------------------------------------------------------------------------------------------------- pieces
class _Page:
    def __init__(self, run: RunResults) -> None:
        self.run = run
        self.n_table = 0
        self.n_figure = 0
        self.tables: list[tuple[FormattedTable, int]] = []

    def t(self, tab: FormattedTable, badges: bool = False) -> str:
        self.n_table += 1
        self.tables.append((tab, self.n_table))
        return table_html(tab, self.n_table, inline_styles=False, badges=badges)

    def fig(self, name: str, title: str, note: str = "") -> str:
        p = self.run.figure(name)
        if p is None:
            return ""
        self.n_figure += 1
        mime = "image/png" if p.suffix == ".png" else "image/svg+xml"
        uri = f"data:{mime};base64," + base64.b64encode(p.read_bytes()).decode("ascii")
        return (f'<figure id="figure-{html.escape(name)}"><p class="figure-number">Figure {self.n_figure}</p>'
                f'<p class="figure-title">{html.escape(title)}</p>'
                f'<img alt="{html.escape(f"Figure {self.n_figure}. {title}")}" src="{uri}">'
                + (f'<figcaption class="figure-note"><i>Note.</i> {markup_html(note)}</figcaption>' if note else "")
                + "</figure>")


def _p(text: str) -> str:
    return f'<p class="lead">{markup_html(text)}</p>'


def _notes(run: RunResults, stages: list[str], skip_first: bool = False) -> str:
    items = []
    for s in stages:
        info = run.stages.get(s)
        if not info:
            continue
        st = str(info.get("status", ""))
        notes = list(info.get("notes") or [])
        if st != "ok":
            items.append(f"Stage <i>{html.escape(s)}</i> {html.escape(st)}: " + html.escape(notes[0] if notes else ""))
            notes = notes[1:]
        elif skip_first:
            notes = notes[1:]
        items += [html.escape(str(n), quote=False) for n in notes]
    if not items:
        return ""
    return '<div class="stage-notes"><ul>' + "".join(f"<li>{i}</li>" for i in items) + "</ul></div>"


def _details(summary: str, body: str) -> str:
    return f"<details><summary>{html.escape(summary)}</summary>{body}</details>" if body else ""


def _consort_flow(df: pd.DataFrame) -> str:
    if not {"rule", "excluded", "remaining"} <= set(df.columns) or df.empty:
        return ""
    rows = list(df.itertuples(index=False))
    first = rows[0]
    received = int(first.remaining) + (int(first.excluded) if not pd.isna(first.excluded) else 0)
    out = ['<div class="consort" role="img" aria-label="Sample flow diagram">',
           f'<div class="step"><div class="box main">Responses received<br><i>n</i> = {fmt_int(received)}</div></div>']
    steps = rows[1:] if str(first.rule).strip().lower() in ("received", "import", "") or len(rows) == 1 else rows
    for r in steps:
        excl = 0 if pd.isna(r.excluded) else int(r.excluded)
        if not excl:
            continue
        rule = html.escape(str(r.rule).replace("_", " "))
        out.append('<div class="vline"><span></span></div>')
        out.append(f'<div class="step"><div class="box">After {rule}<br><i>n</i> = {fmt_int(r.remaining)}</div>'
                   f'<div class="hline"></div><div class="box excl">Excluded: {rule} (<i>n</i> = {fmt_int(excl)})'
                   "</div></div>")
    out.append('<div class="vline"><span></span></div>')
    out.append(f'<div class="step"><div class="box final">Analysed<br><i>n</i> = {fmt_int(rows[-1].remaining)}'
               "</div></div></div>")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------------- sections
def _sec_sample(pg: _Page, name) -> str:
    r = pg.run
    parts = []
    c = r.table("consort")
    if c is not None and len(c):
        parts += [_consort_flow(c), pg.t(B.consort_table(c))]
    s = r.table("sample")
    if s is not None and len(s):
        parts.append(pg.t(B.sample_table(s)))
    if not parts:
        return ""
    return "".join(parts) + _notes(r, ["import", "clean"])


def _sec_items(pg: _Page, name) -> str:
    d = pg.run.table("item_analysis")
    if d is None or not len(d):
        return _notes(pg.run, ["items"])
    low = d[d["r_drop"] < 0.30]
    lead = _p(f"{d['item'].nunique()} items of {d['construct'].nunique()} constructs, by questionnaire version. "
              + (f"{low['item'].nunique()} item(s) have a corrected item–total correlation below .30 in at least one "
                 "version: " + ", ".join(sorted(low['item'].unique())[:15]) + "." if len(low) else
                 "Every corrected item–total correlation is .30 or higher."))
    tab = pg.t(B.item_table(d, name))
    return lead + (_details(f"Item statistics ({len(d)} rows)", tab) if len(d) > 40 else tab) + _notes(pg.run, ["items"])


def _sec_efa(pg: _Page, name) -> str:
    r = pg.run
    g = r.table("efa_groups")
    if g is None or not len(g):
        return _notes(r, ["efa"])
    res = r.datum("efa") or {}
    parts = [_p(f"Why this design: {res.get('reason', '')}."), pg.t(B.efa_table(g))]
    parts.append(pg.fig("efa_scree", "Scree Plots with Parallel Analysis",
                        "Observed eigenvalues of the reduced correlation matrix and the mean eigenvalues of random "
                        "data of the same size; factors are retained while the observed value is higher."))
    lo = r.table("efa_loadings")
    if lo is not None and len(lo):
        body = "".join(pg.t(t) for t in B.loadings_tables(lo, name))
        parts.append(_details("Pattern loadings of every EFA", body))
    return "".join(parts) + _notes(r, ["efa"], skip_first=True)


def _sec_cfa(pg: _Page, name) -> str:
    r = pg.run
    meas = r.datum("measurement")
    fit = r.table("cfa_fit")
    if not meas or fit is None:
        return _notes(r, ["cfa"])
    scope = {"full": "one model of all constructs", "groups": "one model per construct group",
             "construct": "one model per construct"}.get(meas.get("scope"), meas.get("scope"))
    cl = (r.stages.get("cfa", {}).get("summary") or {}).get("cluster")
    parts = [_p(f"Measurement model: {scope}. Why: {meas.get('reason', '')}. Estimator {meas.get('estimator')}"
                + (f", standard errors and tests cluster-robust by {cl} (respondents nested in {cl})" if cl else "")
                + "; "
                f"missing answers: {'full-information maximum likelihood (FIML)' if meas.get('missing') == 'fiml' else 'listwise deletion'}.")]
    parts.append(pg.t(B.cfa_fit_table(fit, "Improper solutions (Heywood cases, non-positive-definite latent "
                                           "covariances) are flagged and their estimates are not used as results.")))
    load = r.table("cfa_loadings")
    cons = pd.DataFrame(meas.get("constructs") or [])
    if load is not None and len(load) and len(cons):
        parts.append(_details("Standardized loadings", pg.t(B.cfa_loadings_table(load, cons, name))))
    return "".join(parts) + _notes(r, ["cfa"], skip_first=True)


def _sec_reliability(pg: _Page, name) -> str:
    r = pg.run
    d = r.table("reliability")
    if d is None or not len(d):
        return _notes(r, ["reliability"])
    persps = [c[6:] for c in d.columns if c.startswith("alpha_") and c not in ("alpha_ci_lower", "alpha_ci_upper")]
    return pg.t(B.reliability_table(d, name, persps)) + _notes(r, ["reliability"])


def _sec_correlations(pg: _Page, name) -> str:
    r = pg.run
    meas = r.datum("measurement")
    rel = r.table("reliability")
    if not meas:
        return ""
    cons = pd.DataFrame(meas.get("constructs") or [])
    cors = pd.DataFrame(meas.get("correlations") or [])
    if not len(cons):
        return ""
    ids = list(cons["construct"])
    mat = pd.DataFrame(float("nan"), index=ids, columns=ids)
    for row in cors.itertuples():
        mat.loc[row.a, row.b] = mat.loc[row.b, row.a] = row.r
    ave = dict(zip(cons["construct"], cons["ave"]))
    fail = set()
    for row in cors.itertuples():
        a, b = ave.get(row.a), ave.get(row.b)
        if B.finite(row.r) and B.finite(a) and B.finite(b) and row.r ** 2 >= min(a, b):
            fail.add((row.a, row.b))
    lead = None
    if rel is not None and len(rel) and {"mean", "sd"} <= set(rel.columns):
        lead = rel[["construct", "mean", "sd"]]
    note = ("Latent correlations from the CFA stage (within a model, or from two-construct models across models; "
            "— = not estimable, e.g. no respondent answered both). Diagonal (bold): AVE. † = AVE of one of the two "
            "constructs is not above the squared correlation (the Fornell–Larcker criterion is not met). *M* and *SD* "
            "of the scale scores.")
    tabs = B.matrix_tables("latent_correlations", "Descriptives and Latent Correlations", ids, name, mat, ave, "b2",
                           note, lead=lead, mark=fail)
    return "".join(pg.t(t) for t in tabs)


def _sec_validity(pg: _Page, name) -> str:
    r = pg.run
    parts = []
    fl = r.table("fornell_larcker")
    if fl is not None and len(fl):
        failed = fl[fl["passed"].astype(str) == "False"]
        parts.append(_p("Fornell–Larcker: " + ("the square root of every construct's AVE exceeds its latent "
                                               "correlations." if not len(failed) else
                                               f"not met for {len(failed)} construct(s): "
                                               + ", ".join(name(c) for c in failed['construct']) + ".")))
    h = r.table("htmt")
    meas = r.datum("measurement")
    if h is not None and len(h):
        ids = list(pd.DataFrame(meas.get("constructs") or [])["construct"]) if meas else \
            list(dict.fromkeys(list(h["a"]) + list(h["b"])))
        mat = pd.DataFrame(float("nan"), index=ids, columns=ids)
        for row in h.itertuples():
            if row.a in mat.index and row.b in mat.index:
                mat.loc[row.a, row.b] = mat.loc[row.b, row.a] = row.htmt
        vsum = r.stages.get("validity", {}).get("summary") or {}
        cut = vsum.get("htmt_cutoff", 0.85)
        rows_used = ("by full-information ML (the saturated model's correlations, lavaan's missing = \"ml\") on the "
                     "respondents who answered an item of either construct" if vsum.get("htmt_missing") == "fiml" else
                     "on the respondents who answered every item of both constructs (listwise)")
        mark = {(a, b) for a, b, v in zip(h["a"], h["b"], h["htmt"]) if B.finite(v) and v > cut}
        parts += [pg.t(t) for t in B.matrix_tables(
            "htmt", "Discriminant Validity: Heterotrait–Monotrait Ratios (HTMT)", ids, name, mat, None, "b2",
            f"HTMT2 (geometric means, semTools' default), each pair {rows_used}; "
            f"† = above {cut:.2f}; — = not computable (the reason is in the notes); the diagonal is blank.",
            mark=mark)]
    cm = r.datum("common_method")
    if cm:
        parts += [pg.t(t) for t in B.common_method_tables(cm, name)]
    if not parts:
        return _notes(r, ["validity"])
    return "".join(parts) + _notes(r, ["validity"])


def _sec_invariance(pg: _Page, name) -> str:
    r = pg.run
    d = r.table("invariance")
    res = r.datum("invariance") or {}
    if d is None or not len(d):
        return _notes(r, ["invariance"])
    lead = _p(f"Groups: {', '.join(res.get('groups', []))} ({res.get('group')}). Design: {res.get('reason', '')}. "
              f"Estimator {res.get('estimator')}, missing answers: {res.get('missing')}.")
    return lead + pg.t(B.invariance_table(d, name, res.get("delta_cfi_rule", 0.01))) + _notes(r, ["invariance"])


def _sec_hypotheses(pg: _Page, name) -> str:
    r = pg.run
    d = r.table("hypotheses")
    if d is None or not len(d):
        return _notes(r, ["hypotheses"])
    summ = r.stages.get("hypotheses", {}).get("summary") or {}
    counts = summ.get("decisions") or {}
    lead = _p(f"{len(d)} hypotheses: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items())
              + f". Decisions at α = {summ.get('alpha', 0.05)} with {summ.get('adjust', 'holm')} adjustment across the "
              f"tested hypotheses; estimator {summ.get('estimator')}"
              + (f", standard errors and tests cluster-robust by {summ['cluster']}" if summ.get("cluster") else "")
              + f", missing answers: {summ.get('missing')}"
              + (f"; indirect effects with percentile bootstrap CIs ({summ.get('bootstrap')} draws)"
                 if summ.get("bootstrap") else "") + ".")
    parts = [lead, pg.t(B.decision_table(d, name), badges=True)]
    sp = r.table("structural_paths")
    hyp = ", ".join(dict.fromkeys(sp["hypothesis"])) if sp is not None and len(sp) else ""
    parts.append(pg.fig("structural_model", "Structural Model",
                        "Completely standardized estimates of the hypothesised directional paths (* *p* < .05), each "
                        f"from the model of the first hypothesis that tests it ({hyp}); measurement models, paths "
                        "hypothesised to be zero and covariances are omitted."))
    m = r.table("hypothesis_models")
    if m is not None and len(m):
        parts.append(pg.t(B.model_fit_table(m)))
        parts.append(_details("Explained variance by construct", pg.t(B.r2_table(m, name))))
    c = r.table("hypothesis_comparisons")
    if c is not None and len(c):
        parts.append(pg.t(B.comparison_table(c, name)))
    pr = r.table("hypothesis_parameters")
    if pr is not None and len(pr):
        parts.append(_details(f"Tested parameters ({len(pr)})", pg.t(B.parameter_table(pr, name))))
    items = "".join(f"<li><b>{html.escape(str(i))}</b> ({html.escape(str(dec).replace('_', ' '))}): "
                    f"{html.escape(B.readable(t, name))}. {html.escape(B.readable(why, name))}</li>"
                    for i, dec, t, why in zip(d["id"], d["decision"], d["test"], d["reason"]))
    parts.append(_details("How each hypothesis was tested, and the full reason of its decision",
                          f'<ol class="reasons">{items}</ol>'))
    return "".join(parts) + _notes(r, ["hypotheses"])


def _sec_rsa(pg: _Page, name) -> str:
    r = pg.run
    d = r.table("rsa")
    meta = r.datum("rsa") or []
    if d is None or not len(d):
        return _notes(r, ["rsa"])
    parts = []
    for m in meta:
        f1 = pg.fig(f"{m['figure']}_surface", f"Response Surface: {m['hypothesis']}",
                    f"{m['relation']}; {m['how']}.")
        f2 = pg.fig(f"{m['figure']}_contour", f"Contours: {m['hypothesis']}",
                    "Lines of congruence (solid) and incongruence (dashed), first principal axis (dotted).")
        parts.append(f'<div class="figure-row">{f1}{f2}</div>')
    parts.append(_details("Surface parameters", pg.t(B.rsa_table(d))))
    return "".join(parts) + _notes(r, ["rsa"])


def _sec_multilevel(pg: _Page, name) -> str:
    d = pg.run.table("multilevel")
    if d is None or not len(d):
        return _notes(pg.run, ["multilevel"])
    if "name" not in d.columns:
        d["name"] = [name(c) for c in d["construct"]]
    return pg.t(B.multilevel_table(d)) + _notes(pg.run, ["multilevel"])


def _sec_power(pg: _Page, name) -> str:
    d = pg.run.table("power")
    if d is None or not len(d):
        return _notes(pg.run, ["power"])
    return (pg.fig("power_curve", "Power Curve", "Estimated power by sample size (Monte Carlo).")
            + pg.t(B.power_table(d)) + _notes(pg.run, ["power"]))


SECTIONS = [("sample", "Sample", _sec_sample, ["import", "clean"]), ("items", "Items", _sec_items, ["items"]),
            ("efa", "Exploratory Factor Analysis", _sec_efa, ["efa"]),
            ("cfa", "Measurement Model", _sec_cfa, ["cfa"]),
            ("reliability", "Reliability and Convergent Validity", _sec_reliability, ["reliability"]),
            ("correlations", "Descriptives and Latent Correlations", _sec_correlations, ["cfa"]),
            ("validity", "Discriminant Validity and Common-Method Variance", _sec_validity, ["validity"]),
            ("invariance", "Measurement Invariance", _sec_invariance, ["invariance"]),
            ("hypotheses", "Hypotheses", _sec_hypotheses, ["hypotheses"]),
            ("rsa", "Response Surface Analysis", _sec_rsa, ["rsa"]),
            ("multilevel", "Nesting", _sec_multilevel, ["multilevel"]),
            ("power", "Power", _sec_power, ["power"])]


def _footer(manifest: dict) -> str:
    if not manifest:
        return ""
    rows = [("vccscale", manifest.get("vccscale")), ("Python", manifest.get("python")),
            ("Platform", manifest.get("platform")), ("Study file", manifest.get("study_file")),
            ("Study file SHA-256", manifest.get("study_hash")), ("Registry SHA-256", manifest.get("registry_hash"))]
    parts = ['<footer id="manifest"><h2>Run Manifest</h2><table>'
             + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows
                       if v is not None) + "</table>"]
    for title, key in (("Seeds", "seeds"), ("Inputs (SHA-256)", "inputs"), ("Package versions", "packages")):
        d = manifest.get(key)
        if isinstance(d, dict) and d:
            parts.append(f"<p><b>{title}</b></p><table>" + "".join(
                f"<tr><th>{html.escape(str(k))}</th><td>{html.escape('—' if v is None else str(v))}</td></tr>"
                for k, v in sorted(d.items())) + "</table>")
    parts.append('<p class="muted">Generated by vccscale from the files of this output folder; manifest.json holds '
                 "the same information and the run's start and finish times (left out here so that the same inputs "
                 "give the same page).</p></footer>")
    return "\n".join(parts)


def render_report(out_dir: str | Path, study: Any = None, registry: Any = None,
                  results: RunResults | None = None) -> Path:
    """Write ``out_dir/report.html`` (and ``tables/<name>.tex`` / ``.html`` for every table shown); return its
    path. ``study``: a :class:`vccscale.study.Study`, a study-file path, or None (title from the manifest);
    ``registry``: for readable construct names (default: the shipped registry); ``results``: the
    :class:`~vccscale.report.results.RunResults` of the run (``vccscale run`` passes the objects its stages
    produced); without it they are loaded from ``out_dir``, as is whatever it lacks (stages not run this time)."""
    out = Path(out_dir)
    if not out.is_dir():
        raise FileNotFoundError(f"output folder not found: {out}")
    if registry is None:
        try:
            from ..registry import load_registry

            registry = load_registry()
        except Exception:  # noqa: BLE001 - names fall back to ids
            registry = None
    name = _names(registry)
    run = RunResults.from_folder(out, into=results)
    title = run.manifest.get("study_title") or "Value Co-Creation Study"
    description = run.manifest.get("study_description")
    sid = run.manifest.get("study_id") or out.name
    seed = (run.manifest.get("seeds") or {}).get("study")
    if study is not None:
        if isinstance(study, (str, Path)):
            from ..study import load_study

            study = load_study(study)
        title, sid, seed = study.study.title, study.study.id, study.study.seed
        description = study.study.description
    pg = _Page(run)
    body, toc = [], []
    order = list(STAGES) + sorted(s for s in run.stages if s not in STAGES)
    if run.stages:
        body.append('<section id="overview"><h2><span class="secnum">0.</span>Run Overview</h2>'
                    + pg.t(B.overview_table(run.stages, order)) + "</section>")
        toc.append('<a href="#overview">Overview</a>')
    k = 0
    for sid_, heading, fn, stages in SECTIONS:
        content = fn(pg, name)
        if not content and not any(s in run.stages for s in stages):
            continue
        if not content:
            content = _p("Not available in this run (see the run overview).")
        k += 1
        body.append(f'<section id="{sid_}"><h2><span class="secnum">{k}.</span>{html.escape(heading)}</h2>\n'
                    + content + "\n</section>")
        toc.append(f'<a href="#{sid_}">{html.escape(heading)}</a>')
    tdir = out / "tables"
    tdir.mkdir(parents=True, exist_ok=True)
    for tab, num in pg.tables:
        (tdir / f"{tab.name}.tex").write_text(to_latex(tab, num), encoding="utf-8", newline="\n")
        (tdir / f"{tab.name}.html").write_text(to_word_html(tab, num), encoding="utf-8", newline="\n")
    version = run.manifest.get("vccscale")
    if version is None:
        from .. import __version__ as version
    meta = [("Study ID", sid), ("Seed", seed if seed is not None else (run.manifest.get("seeds") or {}).get("study")),
            ("vccscale version", version)]
    meta_html = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape('—' if v is None else str(v))}</dd>"
                        for k, v in meta)
    footer = _footer(run.manifest)
    if footer:
        toc.append('<a href="#manifest">Manifest</a>')
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="vccscale {html.escape(str(version))}">
<title>{html.escape(str(title))} — vccscale report</title>
<style>{CSS}</style>
</head>
<body>
<main>
<header class="title-block" id="top">
<h1>{html.escape(str(title))}</h1>
<p class="subtitle">Measurement and hypothesis-testing report</p>
{f'<p class="description">{html.escape(str(description))}</p>' if description else ""}
<dl class="meta">{meta_html}</dl>
</header>
<nav class="toc">{' '.join(toc)}</nav>
{chr(10).join(body)}
{footer}
</main>
</body>
</html>
"""
    target = out / "report.html"
    target.write_text(page, encoding="utf-8", newline="\n")
    return target


__all__ = ["render_report"]
