"""The report's tables: APA :class:`FormattedTable` objects built from a run's results.

Every builder takes results objects (the data frames and dicts of :class:`~vccscale.report.results.RunResults`) and a
``name`` function (construct id -> readable name) and returns formatted tables whose cells are plain text and
whose labels and notes use the tiny mark-up of :mod:`vccscale.report.tables` (converted for HTML, LaTeX and
Word by its writers, never shown raw).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from .tables import DASH, FormattedTable, as_bool, fmt_ci, fmt_int, fmt_num, fmt_p, fmt_text, is_missing

Name = Callable[[str], str]

FMT: dict[str, Callable[[Any], str]] = {
    "text": fmt_text, "int": fmt_int, "p": fmt_p,
    "b2": lambda x: fmt_num(x, 2, True), "b3": lambda x: fmt_num(x, 3, True),
    "f1": lambda x: fmt_num(x, 1), "f2": lambda x: fmt_num(x, 2), "f3": lambda x: fmt_num(x, 3),
    "bool": lambda x: "yes" if as_bool(x) else "no",
    "pct": lambda x: DASH if is_missing(x) else f"{float(x):.0f}%",
    "num": fmt_text,  # a number already formatted as text (CI, chi-square with df): right-aligned, not wrapped
}
NUMERIC = {"int", "p", "b2", "b3", "f1", "f2", "f3", "pct", "num"}


def table(name: str, title: str, df: pd.DataFrame, cols: list[tuple[str, str, str]], note: str = "",
          flags: list[set[str]] | None = None, bold: set[tuple[int, int]] | None = None) -> FormattedTable:
    """A FormattedTable from ``df`` and ``cols`` = [(key, label, kind)]; a key absent from ``df`` is blank."""
    rows = []
    for rec in df.to_dict(orient="records"):
        rows.append([FMT[k](rec.get(key)) if key in rec else "" for key, _, k in cols])
    return FormattedTable(name, title, [c[0] for c in cols], [c[1] for c in cols], rows, note,
                          [k in NUMERIC for _, _, k in cols], bold or set(), flags or [set() for _ in rows], raw=df)


def _n(name: Name, cid: Any) -> str:
    return name(str(cid)) if not is_missing(cid) else ""


_ID = __import__("re").compile(r"\b[abcdx]_[a-z0-9_]+\b")


def readable(text: Any, name: Name) -> str:
    """``text`` with every construct id replaced by the construct's readable name (ids the registry does not know,
    such as item ids, stay)."""
    if is_missing(text):
        return ""
    return _ID.sub(lambda m: name(m.group(0)), str(text))


# ---------------------------------------------------------------------------------------------------- overview
def overview_table(stages: dict[str, dict], order: list[str]) -> FormattedTable:
    rows = []
    for s in order:
        info = stages.get(s)
        if info is None:
            rows.append({"stage": s, "status": "not run", "what": "not run in this output folder"})
            continue
        st = str(info.get("status", ""))
        notes = info.get("notes") or []
        what = stage_sentence(s, info.get("summary") or {}) if st == "ok" else (notes[0] if notes else "")
        rows.append({"stage": s, "status": st + (" (cached)" if info.get("cached") else ""), "what": what})
    df = pd.DataFrame(rows)
    flags = [{"status-" + str(r["status"]).split()[0].replace(" ", "-")} for r in rows]
    return table("stages", "Stages of the Run", df, [("stage", "Stage", "text"), ("status", "Status", "text"),
                                                      ("what", "Result or reason", "text")],
                 "Every stage ends ok, skipped (with the reason) or failed (with the cause and what to change); "
                 "cached = unchanged inputs, results of an earlier run.", flags=flags)


def stage_sentence(stage: str, s: dict) -> str:
    """One readable sentence summarising a finished stage (never raw JSON)."""
    g = s.get
    try:
        if stage == "import":
            return f"{g('rows')} rows, {g('columns')} columns read ({g('format')}); " + (
                f"identifiers dropped: {', '.join(g('dropped_identifiers'))}" if g("dropped_identifiers")
                else "no identifier columns")
        if stage == "clean":
            ex = g("excluded_by_rule") or {}
            ex_txt = ", ".join(f"{k} {v}" for k, v in ex.items() if v) or "none"
            return f"{g('n_received')} responses received, {g('n_analysed')} analysed (excluded: {ex_txt})"
        if stage == "items":
            return f"{g('items')} items of {g('constructs')} constructs; {g('r_drop_below')} item-perspective rows " \
                   "with a low corrected item-total correlation"
        if stage == "efa":
            return (f"{g('efas')} EFA(s) ({'one of all items' if g('scope') == 'all' else 'by construct group'}), "
                    f"n = {g('n')}; {100 * (g('items_as_expected') or 0):.0f}% of items load as expected")
        cl = f"; cluster-robust by {g('cluster')}" if g("cluster") else ""
        if stage == "cfa":
            return (f"{g('models')} measurement model(s) ({g('scope')} scope), {g('estimator')}{cl}, missing data: "
                    f"{g('missing')}; constructs ok {g('constructs_ok')}, improper {g('constructs_improper')}, "
                    f"failed {g('constructs_failed')}")
        if stage == "reliability":
            return (f"{g('constructs')} constructs; alpha below cut-off: {g('alpha_below')}, CR below: {g('cr_below')}, "
                    f"AVE below: {g('ave_below')}, improper: {g('improper')}")
        if stage == "validity":
            fl = g("fornell_larcker_failed") or []
            return (f"Fornell-Larcker not met for {len(fl)} construct(s); largest HTMT "
                    f"{fmt_num(g('htmt_max'), 2, True)}; " + (f"marker variable r_M = {fmt_num(g('r_m'), 2, True)}"
                                                            if g("marker") else "no marker variable"))
        if stage == "invariance":
            r = g("reached") or {}
            return f"{g('models')} model(s) by {g('group')} ({', '.join(g('groups') or [])}){cl}; highest level " \
                   "reached: " + ", ".join(f"{k} {v}" for k, v in r.items())
        if stage == "hypotheses":
            d = g("decisions") or {}
            return f"{g('hypotheses')} hypotheses{cl}: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in d.items())
        if stage == "rsa":
            return f"{g('surfaces')} response surface(s)"
        if stage == "multilevel":
            return f"{g('constructs')} constructs by {g('group')} ({g('n_groups')} groups); aggregation justified " \
                   f"for {g('justified')}"
        if stage == "power":
            return f"{g('reps')} replications per n ({', '.join(map(str, g('n') or []))})"
    except (TypeError, ValueError, KeyError):
        pass
    return "done"


# ---------------------------------------------------------------------------------------------------- sample
def sample_table(df: pd.DataFrame) -> FormattedTable:
    d = df.copy()
    d["what"] = [f"{lab}: {cat}" if isinstance(cat, str) and cat else lab for lab, cat in zip(d["label"], d["category"])]
    d["m_sd"] = [("" if is_missing(m) else f"{fmt_num(m, 2)} ({fmt_num(s, 2)})") for m, s in zip(d["mean"], d["sd"])]
    d["range"] = [("" if is_missing(a) else f"{fmt_num(a, 0)}–{fmt_num(b, 0)}") for a, b in zip(d["min"], d["max"])]
    return table("sample", "Sample Description", d,
                 [("what", "Characteristic", "text"), ("n", "*n*", "int"), ("percent", "%", "f1"),
                  ("m_sd", "*M* (*SD*)", "num"), ("range", "Range", "num")],
                 "Percentages of the respondents who answered the question; versions count respondents per "
                 "questionnaire version; relationships = dyad ids, with the number answered by both sides.")


# ---------------------------------------------------------------------------------------------------- items
def item_table(df: pd.DataFrame, name: Name) -> FormattedTable:
    d = df.copy()
    d["construct"] = [_n(name, c) for c in d["construct"]]
    return table("item_analysis", "Item Descriptive Statistics and Item–Total Statistics", d,
                 [("construct", "Construct", "text"), ("perspective", "Version", "text"), ("item", "Item", "text"),
                  ("n", "*n*", "int"), ("mean", "*M*", "f2"), ("sd", "*SD*", "f2"), ("skew", "Skew", "f2"),
                  ("kurtosis", "Kurtosis", "f2"), ("r_drop", "*r*_{it}", "b2"),
                  ("alpha_if_deleted", "α if deleted", "b2")],
                 "*n* = respondents of the version who answered the item; *r*_{it} = corrected item–total "
                 "correlation; α if deleted = Cronbach's α of the scale without the item. Items are reverse-keyed "
                 "where the codebook says so.")


# ---------------------------------------------------------------------------------------------------- efa
def efa_table(df: pd.DataFrame) -> FormattedTable:
    d = df.copy()
    d["bart"] = [("" if is_missing(c) else f"{fmt_num(c, 1)} ({fmt_int(k)}), {('p ' + fmt_p(p)) if fmt_p(p)[0] in '<>' else 'p = ' + fmt_p(p)}")
                 for c, k, p in zip(d["bartlett_chisq"], d["bartlett_df"], d["bartlett_pvalue"])]
    d["as_expected"] = [None if is_missing(x) else 100 * x for x in d["as_expected"]]
    return table("efa_groups", "Exploratory Factor Analyses", d,
                 [("group", "Construct group", "text"), ("items", "Items", "int"), ("n", "*n*", "int"),
                  ("factors", "Factors", "int"), ("parallel_factors", "PA factors", "int"), ("kmo", "KMO", "b2"),
                  ("bart", "Bartlett χ^{2} (*df*)", "num"), ("tli", "TLI", "b3"), ("rmsea", "RMSEA", "b3"),
                  ("as_expected", "As expected", "pct"), ("status", "Status", "text")],
                 "One factor per construct of the group (minimum-residual extraction, oblimin rotation, psych::fa "
                 "conventions); PA factors = factors suggested by parallel analysis; As expected = share of items "
                 "whose largest loading is on their construct's factor.")


def loadings_tables(df: pd.DataFrame, name: Name, cut: float = 0.30) -> list[FormattedTable]:
    out = []
    for k, (g, sub) in enumerate(df.groupby("group", sort=False), 1):
        wide = sub.pivot_table(index=["item", "construct"], columns="factor", values="loading", sort=False).reset_index()
        h2 = sub.drop_duplicates("item").set_index("item")["h2"]
        factors = [c for c in wide.columns if c not in ("item", "construct")]
        wide["h2"] = wide["item"].map(h2)
        wide["construct"] = [_n(name, c) for c in wide["construct"]]
        for f in factors:
            wide[f] = [v if not is_missing(v) and abs(v) >= cut else None for v in wide[f]]
        cols = [("construct", "Construct", "text"), ("item", "Item", "text")] + \
            [(f, f, "b2") for f in factors] + [("h2", "*h*^{2}", "b2")]
        t = table(f"efa_loadings_{k}", f"Pattern Loadings: {g}", wide, cols,
                  f"Loadings below {cut:.2f} in absolute value are omitted; *h*^{{2}} = communality.")
        for i, row in enumerate(t.rows):
            for j in range(2, 2 + len(factors)):
                if row[j] == DASH:
                    row[j] = ""
        out.append(t)
    return out


# ---------------------------------------------------------------------------------------------------- cfa
def cfa_fit_table(df: pd.DataFrame, reason: str) -> FormattedTable:
    d = df.copy()
    d["rmsea_ci"] = [fmt_ci(a, b, 3) for a, b in zip(d.get("rmsea.ci.lower", [None] * len(d)),
                                                     d.get("rmsea.ci.upper", [None] * len(d)))]
    d["chi"] = [("" if is_missing(c) else f"{fmt_num(c, 2)} ({fmt_int(k)})") for c, k in zip(d["chisq"], d["df"])]
    d["est_miss"] = [f"{e}, {m}" for e, m in zip(d["estimator"], d["missing"])]
    flags = [{"flag"} if s != "ok" else set() for s in d["status"]]
    return table("cfa_fit", "Confirmatory Factor Analysis: Fit of the Measurement Model(s)", d,
                 [("model", "Model", "text"), ("constructs", "Constructs", "int"), ("n", "*N*", "int"),
                  ("npar", "*q*", "int"), ("est_miss", "Estimator, missing data", "text"),
                  ("chi", "χ^{2} (*df*)", "num"), ("pvalue", "*p*", "p"), ("cfi", "CFI", "b3"), ("tli", "TLI", "b3"),
                  ("rmsea", "RMSEA", "b3"), ("rmsea_ci", "90% CI", "num"), ("srmr", "SRMR", "b3"),
                  ("status", "Solution", "text")],
                 f"*N* = cases; *q* = free parameters. {reason}", flags=flags)


def cfa_loadings_table(load: pd.DataFrame, cons: pd.DataFrame, name: Name) -> FormattedTable:
    d = load.copy()
    st = cons.set_index("construct")["status"].to_dict()
    d["status"] = [st.get(c, "") for c in d["construct"]]
    d["construct"] = [_n(name, c) for c in d["construct"]]
    return table("cfa_loadings", "Standardized Loadings of the Measurement Model(s)", d,
                 [("construct", "Construct", "text"), ("item", "Item", "text"), ("std_all", "λ", "b2"),
                  ("est", "*B*", "f2"), ("se", "*SE*", "f2"), ("status", "Solution", "text")],
                 "λ = completely standardized loading; *B* = unstandardized loading (the first item of each construct "
                 "is the marker, fixed at 1).")


# ---------------------------------------------------------------------------------------------------- reliability
def reliability_table(df: pd.DataFrame, name: Name, persps: list[str]) -> FormattedTable:
    d = df.copy()
    d["construct"] = [_n(name, c) for c in d["construct"]]
    d["alpha_ci"] = [fmt_ci(a, b) for a, b in zip(d["alpha_ci_lower"], d["alpha_ci_upper"])]
    d["status"] = [("" if s == "ok" else str(s).replace("_", " ")) for s in d["status"]]
    cols = [("construct", "Construct", "text"), ("n", "*n*", "int"), ("n_items", "*k*", "int"),
            ("mean", "*M*", "f2"), ("sd", "*SD*", "f2"), ("alpha", "α", "b2"), ("alpha_ci", "95% CI", "num"),
            ("omega", "ω", "b2"), ("cr", "CR", "b2"), ("ave", "AVE", "b2")]
    ordinal = "ordinal_alpha" in d.columns
    if ordinal:
        cols += [("ordinal_alpha", "α_{ord}", "b2"), ("ordinal_omega", "ω_{cat}", "b2")]
    cols += [(f"alpha_{p}", f"α {p}", "b2") for p in persps]
    cols.append(("status", "Caution", "text"))
    flags = [{"flag"} if s else set() for s in d["status"]]
    return table("reliability", "Reliability and Convergent Validity", d, cols,
                 "*n* = respondents who answered the scale; *M*, *SD* = mean and standard deviation of the scale "
                 "score (mean of the answered items); α = Cronbach's alpha with Feldt 95% CI; ω = McDonald's omega "
                 "total; CR and AVE from the CFA measurement model (model-implied variances, semTools obs.var = FALSE); "
                 "α by version. "
                 + ("WLSMV measurement model: CR and AVE on the latent-response scale; α_{ord} = ordinal alpha "
                    "(of the polychoric correlations); ω_{cat} = Green and Yang's (2009) categorical omega of the "
                    "sum score. " if ordinal else "")
                 + "Conventional thresholds: α, ω, CR ≥ .70; AVE ≥ .50. Caution: CR and AVE of an "
                 "improper or failed measurement model are not proper results.", flags=flags)


def matrix_tables(base: str, title: str, ids: list[str], name: Name, matrix: pd.DataFrame,
                  diag: dict[str, Any] | None, kind: str, note: str, lead: pd.DataFrame | None = None,
                  chunk: int = 10, mark: set[tuple[str, str]] | None = None) -> list[FormattedTable]:
    """A lower-triangular matrix as one or more tables of at most ``chunk`` matrix columns (continued); rows
    numbered 1..k with readable names, ``lead`` columns (e.g. M, SD) after the name, ``diag`` values on the
    diagonal (bold), blank above it; ``mark`` = pairs shown with a dagger."""
    k = len(ids)
    out = []
    starts = list(range(0, k, chunk)) or [0]
    for part, s0 in enumerate(starts):
        cols_ids = ids[s0:s0 + chunk]
        rows, bold = [], set()
        lead_cols = [] if lead is None else [c for c in lead.columns if c != "construct"]
        for i, a in enumerate(ids):
            if i < s0:
                continue
            row = [f"{i + 1}. {name(a)}"]
            if lead is not None:
                rec = lead.set_index("construct").reindex([a]).iloc[0]
                row += [FMT[kk](rec.get(c)) for c, kk in ((c, "f2") for c in lead_cols)]
            for j, b in enumerate(cols_ids):
                jj = s0 + j
                if jj > i:
                    row.append("")
                elif jj == i:
                    v = diag.get(a) if diag else None
                    row.append("" if diag is None or is_missing(v) else FMT[kind](v))
                    if diag is not None:
                        bold.add((len(rows), 1 + len(lead_cols) + j))
                else:
                    v = matrix.loc[a, b] if a in matrix.index and b in matrix.columns else None
                    txt = FMT[kind](v) if not is_missing(v) else DASH
                    if mark and ((a, b) in mark or (b, a) in mark):
                        txt += "†"
                    row.append(txt)
            rows.append(row)
        keys = ["construct"] + lead_cols + [str(s0 + j + 1) for j in range(len(cols_ids))]
        labels = ["Construct"] + [{"mean": "*M*", "sd": "*SD*"}.get(c, c) for c in lead_cols] + \
            [str(s0 + j + 1) for j in range(len(cols_ids))]
        t = FormattedTable(f"{base}" + (f"_{part + 1}" if len(starts) > 1 else ""),
                           title + (f" (columns {s0 + 1}–{s0 + len(cols_ids)})" if len(starts) > 1 else ""),
                           keys, labels, rows, note, [False] + [True] * (len(keys) - 1), bold,
                           [set() for _ in rows])
        out.append(t)
    return out


# ---------------------------------------------------------------------------------------------------- validity
def common_method_tables(cm: dict, name: Name) -> list[FormattedTable]:
    out = []
    h = pd.DataFrame(cm.get("harman") or [])
    if len(h):
        h["share"] = [100 * x for x in h["share"]]
        out.append(table("harman", "Common-Method Variance: Harman's Single-Factor Test", h,
                         [("group", "Respondents", "text"), ("n_items", "Items", "int"), ("n", "*n*", "int"),
                          ("share", "First component", "pct"), ("flagged", "Above 50%", "bool")],
                         "Share of the item variance taken by the first unrotated principal component; a share above "
                         "50% signals a common-method problem, a smaller share does not rule one out."))
    m = pd.DataFrame(cm.get("marker") or [])
    if len(m):
        m["construct"] = [_n(name, c) for c in m["construct"]]
        adj = pd.DataFrame(cm.get("adjusted") or [])
        sig = int((adj["pvalue"] < 0.05).sum()) if len(adj) else 0
        kept = int(((adj["pvalue"] < 0.05) & (adj["p_adjusted"] < 0.05)).sum()) if len(adj) else 0
        out.append(table("marker", "Common-Method Variance: Marker-Variable Technique", m,
                         [("construct", "Construct", "text"), ("r", "*r* with marker", "b2"), ("pvalue", "*p*", "p"),
                          ("n", "*n*", "int")],
                         f"Correlations of the construct scores with the marker variable ({len(cm.get('marker_items', []))}"
                         f" items, theoretically unrelated to the constructs). Lindell and Whitney (2001): "
                         f"*r*_{{M}} = {fmt_num(cm.get('r_m'), 3, True)} (smallest positive correlation) estimates "
                         f"common-method variance; of {sig} significant construct correlations, {kept} remain "
                         "significant after the adjustment (*r* − *r*_{M}) / (1 − *r*_{M})."))
    return out


# ---------------------------------------------------------------------------------------------------- invariance
def invariance_table(df: pd.DataFrame, name: Name, rule: float) -> FormattedTable:
    """One row per construct (or joint model): configural fit, then per added level the chi-square difference, its
    p, delta CFI and whether the level holds; the highest level reached."""
    rows = []
    ordinal = "thresholds" in set(df["level"])   # WLSMV: Wu & Estabrook's levels, scaled fit columns
    levels = [lv for lv in (("configural", "thresholds", "thresholds_loadings") if ordinal else
                            ("configural", "metric", "scalar", "strict")) if lv in set(df["level"])]
    label = {"thresholds_loadings": "Thresholds + loadings"}
    for m, t in df.groupby("model", sort=False):
        t = t.set_index("level")
        rec: dict[str, Any] = {"model": name(m) if m != "all constructs" else m,
                               "n": t["n"].iloc[0]}
        reached = None
        stop = False
        for lv in levels:
            if lv not in t.index:
                stop = True
                continue
            r = t.loc[lv]
            if lv == "configural":
                rec.update(chi=("" if is_missing(r["chisq"]) else f"{fmt_num(r['chisq'], 2)} ({fmt_int(r['df'])})"),
                           cfi=r["cfi"], rmsea=r["rmsea"])
                reached = "configural" if r["status"] == "ok" else None
                stop = reached is None
                continue
            rec[f"{lv}_d"] = ("" if is_missing(r["chisq_diff"]) else
                              f"{fmt_num(r['chisq_diff'], 2)} ({fmt_int(r['df_diff'])})")
            rec[f"{lv}_p"] = r["pvalue_diff"]
            rec[f"{lv}_dcfi"] = r["delta_cfi"]
            if not stop and as_bool(r["holds"]):
                reached = lv
            else:
                stop = True
        problems = "; ".join(sorted({str(x) for x in t["status"] if x != "ok"}))
        rec["reached"] = (reached or "none") + (f" ({problems})" if problems else "")
        rows.append(rec)
    d = pd.DataFrame(rows)
    cols = [("model", "Construct", "text"), ("n", "*N*", "int"), ("chi", "Configural χ^{2} (*df*)", "num"),
            ("cfi", "CFI", "b3"), ("rmsea", "RMSEA", "b3")]
    for lv in levels[1:]:
        cols += [(f"{lv}_d", f"{label.get(lv, lv.capitalize())} Δχ^{{2}} (Δ*df*)", "num"), (f"{lv}_p", "*p*", "p"),
                 (f"{lv}_dcfi", "ΔCFI", "b3")]
    cols.append(("reached", "Highest level held", "text"))
    flags = [{"flag"} if not str(r).startswith(levels[-1]) else set() for r in d["reached"]]
    if ordinal:
        note = (f"WLSMV with the items as ordered indicators. Each level adds equality constraints to the previous "
                f"one (Wu & Estabrook 2016, as lavaan fits them: thresholds; thresholds + loadings) and is compared "
                f"with it. χ^{{2}}, CFI and RMSEA are the scaled (mean- and variance-adjusted) values; Δχ^{{2}} is the "
                f"scaled-shifted difference test (Satorra 2000). A level holds when the scaled CFI drops by no more "
                f"than {rule:.2f} and the solution is proper. Highest level held = the last level reached with every "
                "step holding.")
    else:
        note = (f"Each level adds equality constraints to the previous one (metric: loadings; scalar: + intercepts; "
                f"strict: + residual variances) and is compared with it. A level holds when CFI drops by no more "
                f"than {rule:.2f} (Cheung & Rensvold 2002) and the solution is proper; the chi-square difference test "
                "is reported beside it (it is sensitive to sample size). Highest level held = the last level "
                "reached with every step holding.")
    d["reached"] = [str(r).replace("thresholds_loadings", "thresholds + loadings") for r in d["reached"]]
    return table("invariance", "Measurement Invariance Across Versions", d, cols, note, flags=flags)


# ---------------------------------------------------------------------------------------------------- hypotheses
def decision_table(df: pd.DataFrame, name: Name = str) -> FormattedTable:
    d = df.copy()
    d["short_reason"] = [readable(x, name) for x in d.get("short_reason", pd.Series([""] * len(d)))]
    expl = [as_bool(x) for x in d["exploratory"]]
    d["id"] = [f"{i}{' †' if e else ''}" for i, e in zip(d["id"], expl)]
    d["decision"] = [str(x).replace("_", " ") for x in d["decision"]]
    flags = [{"exploratory"} if e else set() for e in expl]
    return table("hypotheses", "Hypothesis Tests", d,
                 [("id", "ID", "text"), ("statement", "Hypothesis", "text"), ("decision", "Decision", "text"),
                  ("short_reason", "Why", "text"), ("pvalue_adjusted", "*p*_{adj}", "p")],
                 "Supported = every directional part significant in the hypothesised direction after adjustment for "
                 "multiple testing and every part hypothesised to be zero shown negligible (equivalence test) or, for "
                 "invariance, a CFI drop of at most .01; partial = some parts; inconclusive = not rejected but not "
                 "shown; not supported = no part in the hypothesised direction or a zero part rejected; not tested = "
                 "the data or design cannot test it (the reason says what is missing). Non-rejection never counts as "
                 "support. *p*_{adj} = hypothesis-level *p* (largest part) adjusted across the tested hypotheses. "
                 "† Exploratory (derived) hypothesis.", flags=flags)


def model_fit_table(df: pd.DataFrame) -> FormattedTable:
    d = df.copy()
    d["r2"] = [_r2_range(x) for x in d["r2"]]
    d["chi"] = [("" if is_missing(c) else f"{fmt_num(c, 2)} ({fmt_int(k)})") for c, k in zip(d["chisq"], d["df"])]
    d["est_miss"] = [f"{e}, {m}" for e, m in zip(d["estimator"], d["missing"])]
    return table("hypothesis_models", "Structural Models: Fit and Explained Variance", d,
                 [("id", "Hypothesis", "text"), ("n", "*N*", "int"), ("est_miss", "Estimator, missing data", "text"),
                  ("chi", "χ^{2} (*df*)", "num"), ("pvalue", "*p*", "p"), ("cfi", "CFI", "b3"), ("tli", "TLI", "b3"),
                  ("rmsea", "RMSEA", "b3"), ("srmr", "SRMR", "b3"), ("r2", "*R*^{2}", "text")],
                 "One structural model per hypothesis (its constructs' measurement models and the hypothesised paths); "
                 "*R*^{2} = range over its endogenous constructs (by construct in the next table).")


def _r2_range(x: Any) -> str:
    vals = []
    for part in str(x or "").split(";"):
        if ":" in part:
            try:
                vals.append(float(part.rsplit(":", 1)[1]))
            except ValueError:
                pass
    if not vals:
        return ""
    lo, hi = min(vals), max(vals)
    return fmt_num(lo, 2, True) if len(vals) == 1 else f"{fmt_num(lo, 2, True)}–{fmt_num(hi, 2, True)} ({len(vals)})"


def r2_table(df: pd.DataFrame, name: Name) -> FormattedTable:
    rows = []
    for hid, x in zip(df["id"], df["r2"]):
        for part in str(x or "").split(";"):
            if ":" in part:
                cid, v = part.rsplit(":", 1)
                rows.append({"id": hid, "construct": name(cid.strip()), "r2": float(v)})
    return table("r2", "Explained Variance of the Endogenous Constructs", pd.DataFrame(rows, columns=["id", "construct",
                                                                                                    "r2"]),
                 [("id", "Hypothesis", "text"), ("construct", "Construct", "text"), ("r2", "*R*^{2}", "b2")],
                 "*R*^{2} of each endogenous construct in the structural model of the hypothesis.")


def comparison_table(df: pd.DataFrame, name: Name = str) -> FormattedTable:
    d = df.copy()
    d["name"] = [readable(x, name).replace("path(s) of sign 0 fixed to 0 vs free",
                                           "path(s) hypothesised to be zero: fixed at 0 vs free") for x in d["name"]]
    d["dchi"] = [("" if is_missing(c) else f"{fmt_num(c, 2)} ({fmt_int(k)})") for c, k in
                 zip(d["chisq_diff"], d["df_diff"])]
    d["aic"] = [("" if is_missing(a) else f"{fmt_num(a, 1)} / {fmt_num(b, 1)}") for a, b in
                zip(d["aic_constrained"], d["aic_free"])]
    d["bic"] = [("" if is_missing(a) else f"{fmt_num(a, 1)} / {fmt_num(b, 1)}") for a, b in
                zip(d["bic_constrained"], d["bic_free"])]
    return table("hypothesis_comparisons", "Nested Model Comparisons", d,
                 [("id", "Hypothesis", "text"), ("name", "Comparison", "text"), ("dchi", "Δχ^{2} (Δ*df*)", "num"),
                  ("pvalue", "*p*", "p"), ("aic", "AIC constrained / free", "num"),
                  ("bic", "BIC constrained / free", "num"), ("delta_cfi", "ΔCFI", "b3"),
                  ("p_equivalence", "*p* equivalence", "p")],
                 "Constrained = the paths hypothesised to be zero fixed at 0 (full mediation), a path equal across "
                 "groups, or a more constrained invariance level; free = the comparison model. Lower AIC/BIC favours a "
                 "model. *p* equivalence = the largest TOST *p* of the zero paths (equivalence shown when below α).")


def parameter_table(df: pd.DataFrame, name: Name = str) -> FormattedTable:
    d = df.copy()
    d["name"] = [readable(x, name).replace(" -> ", " → ") for x in d["name"]]
    d["ci"] = [fmt_ci(a, b, 3, False) for a, b in zip(d["ci_lower"], d["ci_upper"])]
    d["kind"] = [str(k).replace("_", " ") for k in d["kind"]]
    return table("hypothesis_parameters", "Tested Parameters", d,
                 [("id", "Hypothesis", "text"), ("name", "Parameter", "text"), ("kind", "Kind", "text"),
                  ("sign", "Expected", "text"), ("est", "Estimate", "f3"), ("se", "*SE*", "f3"),
                  ("std_all", "β", "f2"), ("ci", "95% CI", "num"), ("ci_method", "CI", "text"),
                  ("pvalue", "*p*", "p"), ("p_equivalence", "*p* equiv.", "p")],
                 "Estimate = unstandardized (paths, indirect effects, latent mean differences, surface parameters) or "
                 "the index itself (ICC, HTMT); β = completely standardized; CI = Wald, delta method or percentile "
                 "bootstrap as stated; *p* equiv. = two one-sided tests that a zero path lies within the equivalence "
                 "bound.")


def rsa_table(df: pd.DataFrame) -> FormattedTable:
    d = df.copy()
    return table("rsa", "Response Surface Parameters", d,
                 [("hypothesis", "Hypothesis", "text"), ("relation", "Relation", "text"), ("n", "*n*", "int"),
                  ("parameter", "Parameter", "text"), ("est", "Estimate", "f3"), ("se", "*SE*", "f3"),
                  ("pvalue", "*p*", "p")],
                 "b1–b5 = polynomial coefficients (X and Y centred at the scale midpoint); a1, a2 = slope and "
                 "curvature along the line of congruence (X = Y); a3, a4 = along the line of incongruence (X = −Y); "
                 "a5; X0, Y0 = stationary point; p10, p11 = first principal axis.")


def multilevel_table(df: pd.DataFrame) -> FormattedTable:
    d = df.copy()
    return table("multilevel", "Nesting: Agreement Within and Reliability of Group Means", d,
                 [("name", "Construct", "text"), ("n", "*n*", "int"), ("n_groups", "Groups", "int"),
                  ("icc1", "ICC(1)", "b2"), ("icc2", "ICC(2)", "b2"), ("design_effect", "Design effect", "f2"),
                  ("p", "*p* (*F*)", "p"), ("rwg_j_mean", "*r*_{wg(j)}", "b2"), ("ad_mean", "AD", "f2"),
                  ("verdict", "Aggregation", "text")],
                 "ICC(1) = share of variance between groups (with the *F* test); ICC(2) = reliability of group means; "
                 "design effect = 1 + (mean group size − 1) ICC(1): how much single-level standard errors understate "
                 "uncertainty when nesting is ignored; *r*_{wg(j)} = within-group agreement (uniform null); "
                 "AD = average deviation.")


def power_table(df: pd.DataFrame) -> FormattedTable:
    return table("power", "Monte Carlo Power", df,
                 [("target", "Target", "text"), ("n", "*N*", "int"), ("power", "Power", "b2"),
                  ("converged", "Converged", "b2"), ("bias", "Bias", "f3"), ("coverage", "Coverage", "b2")],
                 "Power = share of replications rejecting the null hypothesis; bias = mean estimate minus the "
                 "population value; coverage = share of 95% CIs containing it.")


def consort_table(df: pd.DataFrame) -> FormattedTable:
    d = df.copy()
    d["rule"] = [str(r).replace("_", " ") for r in d["rule"]]
    return table("consort", "Sample Flow: Responses Received, Excluded and Analysed", d,
                 [("step", "Step", "int"), ("rule", "Rule", "text"), ("excluded", "Excluded", "int"),
                  ("remaining", "Remaining", "int")],
                 "Screening rules in the order applied; each response is excluded by the first rule that flags it.")


def finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False
