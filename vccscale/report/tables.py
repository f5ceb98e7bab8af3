"""APA-style formatting of the run's CSV tables, and their LaTeX (booktabs) and Word-ready HTML versions.

A CSV table of the output folder (``tables/<name>.csv``, see the output-folder contract) becomes a
:class:`FormattedTable`: a title, column labels, cell texts already formatted APA-style, and a note.
Numbers: 2 decimals (3 for fit indices and *p*), no leading zero for quantities bounded by 1 (*r*, *p*, α, CFI, ...),
a true minus sign, ``< .001`` for small *p*. Labels and notes use a tiny mark-up: ``*italic*``, ``_{sub}``,
``^{sup}``; cell values are plain text. Both writers below (``to_latex``, ``to_word_html``) and the report share it.
"""
from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

MINUS = "\u2212"
DASH = "\u2014"  # missing value

# ---------------------------------------------------------------------------------------------------------------
# numbers


def is_missing(x: Any) -> bool:
    """True for None and for whatever pandas counts as missing (NaN, NaT, pd.NA); False for other values."""
    if x is None:
        return True
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def fmt_num(x: Any, decimals: int = 2, bounded: bool = False, thousands: bool = True) -> str:
    """``x`` with ``decimals`` decimals; ``bounded``: no leading zero (APA, for values that cannot exceed 1)."""
    if is_missing(x):
        return DASH
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isinf(v):
        return "\u221e" if v > 0 else MINUS + "\u221e"
    s = f"{v:,.{decimals}f}" if thousands else f"{v:.{decimals}f}"
    neg = s.startswith("-")
    s = s.lstrip("-")
    if float(s.replace(",", "")) == 0:
        neg = False  # no "-0.00"
    if bounded and s.startswith("0."):
        s = s[1:]
    return (MINUS if neg else "") + s


def fmt_int(x: Any) -> str:
    if is_missing(x):
        return DASH
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not v.is_integer():
        return fmt_num(v, 2)
    return (MINUS if v < 0 else "") + f"{abs(int(v)):,}"


def fmt_p(x: Any) -> str:
    """APA *p*: three decimals without leading zero, ``< .001``, ``> .999``."""
    if is_missing(x):
        return DASH
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if v < 0.001:
        return "< .001"
    if v > 0.999:
        return "> .999"
    return fmt_num(v, 3, bounded=True)


def fmt_ci(lo: Any, hi: Any, decimals: int = 2, bounded: bool = True) -> str:
    if is_missing(lo) and is_missing(hi):
        return DASH
    return f"[{fmt_num(lo, decimals, bounded)}, {fmt_num(hi, decimals, bounded)}]"


def fmt_text(x: Any) -> str:
    if is_missing(x):
        return ""
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return str(x)


def as_bool(x: Any) -> bool:
    if is_missing(x):
        return False
    if isinstance(x, str):
        return x.strip().lower() in ("true", "1", "yes", "y", "t")
    return bool(x)


# kind -> formatter; the kind of a column comes from its name (``column_kind``)
_FORMATTERS = {
    "int": fmt_int,
    "p": fmt_p,
    "b2": lambda x: fmt_num(x, 2, True),
    "b3": lambda x: fmt_num(x, 3, True),
    "f2": lambda x: fmt_num(x, 2),
    "f3": lambda x: fmt_num(x, 3),
    "text": fmt_text,
    "bool": lambda x: "yes" if as_bool(x) else "no",
}

_KINDS = {
    "int": {"n", "df", "n_items", "excluded", "remaining", "step", "df_diff", "factor", "npar", "ntotal", "nobs",
            "k", "n_groups", "row"},
    "p": {"pvalue", "pvalue_adjusted", "p", "pvalue_holm", "pvalue_bh", "p_value", "chisq_pvalue"},
    "b2": {"alpha", "alpha_ci_lower", "alpha_ci_upper", "omega", "cr", "ave", "r_drop", "alpha_if_deleted", "h2",
           "icc1", "icc2", "rwg_j_mean", "rwg_j_median", "share_rwg_70", "power", "coverage", "std_all", "std_lv",
           "converged", "r2", "u2"},
    "b3": {"cfi", "tli", "rmsea", "srmr", "rmsea_ci_lower", "rmsea_ci_upper", "delta_cfi", "delta_rmsea", "nfi",
           "gfi", "agfi", "delta_srmr", "delta_tli"},
    "f2": {"mean", "sd", "skew", "kurtosis", "floor_pct", "ceiling_pct", "chisq", "chisq_diff", "aic", "bic", "ad_mean",
           "observed", "simulated", "z", "value", "threshold", "seconds"},
    "f3": {"est", "se", "bias", "ci_lower", "ci_upper"},
    "text": {"construct", "perspective", "item", "rule", "model", "compare", "id", "family", "statement", "test",
             "parameters", "decision", "reason", "verdict", "target", "lhs", "op", "rhs", "parameter", "measure",
             "response_id", "note", "label", "group"},
    "bool": {"exploratory", "flagged"},
}
_KIND_OF = {name: kind for kind, names in _KINDS.items() for name in names}


def base_measure(name: str) -> str:
    """``cfi.robust`` / ``cfi_scaled`` / ``rmsea.ci.lower.robust`` -> the plain index name (``cfi``, ...)."""
    s = str(name).strip().lower().replace(".", "_")
    s = re.sub(r"_(robust|scaled)$", "", s)
    s = re.sub(r"^(robust|scaled)_", "", s)
    return s


def column_kind(name: str, values: pd.Series | None = None) -> str:
    key = base_measure(name)
    if key in _KIND_OF:
        return _KIND_OF[key]
    if re.fullmatch(r"(f|mr|pa|ml|rc|tc)\d+", key):  # factor loadings
        return "b2"
    if values is not None:
        if values.dtype == bool:
            return "bool"
        num = pd.to_numeric(values, errors="coerce")
        if values.notna().sum() and num.notna().sum() == values.notna().sum():
            vals = num.dropna()
            if len(vals) and (vals == vals.round()).all():
                return "int"
            return "f2"
    return "text"


# ---------------------------------------------------------------------------------------------------------------
# labels, titles and notes (mark-up: *italic*, _{sub}, ^{sup})

LABELS = {
    "construct": "Construct", "perspective": "Perspective", "item": "Item", "n": "*n*", "mean": "*M*", "sd": "*SD*",
    "skew": "Skew", "kurtosis": "Kurtosis", "floor_pct": "Floor %", "ceiling_pct": "Ceiling %",
    "r_drop": "*r*_{it}", "alpha_if_deleted": "α if deleted", "n_items": "*k*", "alpha": "α",
    "alpha_ci": "α 95% CI", "omega": "ω", "cr": "CR", "ave": "AVE", "h2": "*h*^{2}", "factor": "Factor",
    "observed": "Observed", "simulated": "Simulated", "measure": "Index", "value": "Value", "lhs": "Left",
    "op": "Op", "rhs": "Right", "est": "*B*", "se": "*SE*", "z": "*z*", "pvalue": "*p*", "std_all": "β",
    "model": "Model", "chisq": "χ^{2}", "df": "*df*", "cfi": "CFI", "tli": "TLI", "rmsea": "RMSEA", "srmr": "SRMR",
    "compare": "Comparison", "chisq_diff": "Δχ^{2}", "df_diff": "Δ*df*", "delta_cfi": "ΔCFI",
    "delta_rmsea": "ΔRMSEA", "id": "ID", "family": "Family", "statement": "Statement", "test": "Test",
    "parameters": "Estimates [95% CI]", "pvalue_adjusted": "*p*_{adj}", "decision": "Decision", "reason": "Reason",
    "exploratory": "Exploratory", "parameter": "Parameter", "icc1": "ICC(1)", "icc2": "ICC(2)",
    "rwg_j_mean": "*r*_{wg(j)} *M*", "rwg_j_median": "*r*_{wg(j)} *Mdn*", "share_rwg_70": "*r*_{wg(j)} ≥ .70",
    "ad_mean": "AD *M*", "verdict": "Verdict", "target": "Target", "power": "Power", "converged": "Converged",
    "bias": "Bias", "coverage": "Coverage", "step": "Step", "rule": "Rule", "excluded": "Excluded",
    "remaining": "Remaining", "type": "Type", "path": "Parameter", "aic": "AIC", "bic": "BIC",
}

MEASURE_LABELS = {
    "chisq": "χ^{2}", "df": "*df*", "pvalue": "*p*", "cfi": "CFI", "tli": "TLI", "rmsea": "RMSEA",
    "rmsea_ci": "RMSEA 90% CI", "srmr": "SRMR", "aic": "AIC", "bic": "BIC", "npar": "Parameters",
    "nobs": "*N*", "ntotal": "*N*", "chisq_pvalue": "*p*",
}

SPECS: dict[str, dict[str, str]] = {
    "consort": {
        "title": "Sample Flow: Responses Received, Excluded and Analysed",
        "note": "Screening rules are applied in the order shown; each response is excluded by the first rule that "
                "flags it. Remaining = responses left after the step."},
    "audit_log": {"title": "Cleaning Audit Log", "note": "One row per response and screening rule."},
    "item_analysis": {
        "title": "Item Descriptive Statistics and Item–Total Statistics",
        "note": "*M* = mean; *SD* = standard deviation; Floor % and Ceiling % = percentage of answers at the lowest "
                "and highest scale point; *r*_{it} = corrected item–total correlation; α if deleted = Cronbach's α "
                "of the scale without the item."},
    "reliability": {
        "title": "Internal Consistency Reliability and Convergent Validity",
        "note": "*k* = number of items; α = Cronbach's alpha with 95% confidence interval; ω = McDonald's omega; "
                "CR = composite reliability; AVE = average variance extracted. Conventional thresholds: α, ω and "
                "CR ≥ .70; AVE ≥ .50."},
    "fornell_larcker": {
        "title": "Discriminant Validity: Fornell–Larcker Criterion",
        "note": "Diagonal (bold) = square root of the AVE; off-diagonal = latent factor correlations. Discriminant "
                "validity is supported when each diagonal value exceeds the correlations in its row and column."},
    "htmt": {
        "title": "Discriminant Validity: Heterotrait–Monotrait Ratios (HTMT)",
        "note": "HTMT values below .85 (strict) or .90 (liberal) support discriminant validity."},
    "efa_loadings": {
        "title": "Exploratory Factor Analysis: Pattern Loadings",
        "note": "Loadings with an absolute value below .30 are omitted. *h*^{2} = communality."},
    "efa_scree": {
        "title": "Parallel Analysis: Observed and Simulated Eigenvalues",
        "note": "Factors are retained while the observed eigenvalue exceeds the simulated one."},
    "cfa_fit": {
        "title": "Confirmatory Factor Analysis: Model Fit",
        "note": "χ^{2} = chi-square test of exact fit; CFI = comparative fit index; TLI = Tucker–Lewis index; "
                "RMSEA = root mean square error of approximation (90% CI); SRMR = standardized root mean square "
                "residual; AIC/BIC = information criteria. Robust (scaled) versions are labelled as such."},
    "cfa_estimates": {
        "title": "Parameter Estimates",
        "note": "*B* = unstandardized estimate; *SE* = standard error; β = completely standardized estimate. "
                "Loading: factor =~ indicator; regression: outcome ~ predictor; (co)variance: ~~."},
    "invariance": {
        "title": "Measurement Invariance Across Groups",
        "note": "Each model is compared with the model named under Comparison. Invariance is commonly retained "
                "when ΔCFI ≥ −.010 and ΔRMSEA ≤ .015; the Δχ^{2} test is sensitive to sample size."},
    "hypotheses": {
        "title": "Hypothesis Tests",
        "note": "*p* = hypothesis-level *p* (the largest *p* of its directional parts); *p*_{adj} = *p* adjusted "
                "for multiple testing within the family. † Exploratory (derived) hypothesis."},
    "rsa": {
        "title": "Polynomial Regression and Response Surface Parameters",
        "note": "b1–b5 = polynomial coefficients; a1 and a2 = slope and curvature along the line of congruence, "
                "a3 and a4 = along the line of incongruence, a5 = rotation; X0, Y0 = stationary point; p10, p11 "
                "and p20, p21 = first and second principal axes."},
    "multilevel": {
        "title": "Within-Group Agreement and Reliability of Group Means",
        "note": "ICC(1) = share of variance between groups; ICC(2) = reliability of group means; *r*_{wg(j)} = "
                "within-group agreement (share of groups with *r*_{wg(j)} ≥ .70); AD = average deviation index."},
    "power": {
        "title": "Monte Carlo Power Analysis",
        "note": "Power = share of replications rejecting the null hypothesis at α = .05; Bias = mean estimate minus "
                "population value; Coverage = share of 95% confidence intervals containing the population value."},
}

_OP_TYPE = {"=~": "Loading", "~": "Regression", "~~": "(Co)variance", "~1": "Intercept", ":=": "Defined",
            "|": "Threshold", "r2": "R²"}

WRAP_COLUMNS = {"statement", "reason", "parameters", "test", "note", "verdict", "rule"}


@dataclass
class FormattedTable:
    name: str
    title: str
    keys: list[str]                     # column keys (CSV column names, or derived ones)
    labels: list[str]                   # column labels (mark-up)
    rows: list[list[str]]               # formatted cell texts (plain text)
    note: str = ""                      # mark-up
    numeric: list[bool] = field(default_factory=list)
    bold: set[tuple[int, int]] = field(default_factory=set)   # (row, col) cells in bold
    row_flags: list[set[str]] = field(default_factory=list)   # e.g. {"exploratory"}
    raw: pd.DataFrame | None = None


def _label(key: str) -> str:
    return LABELS.get(key, LABELS.get(base_measure(key), key.replace("_", " ").capitalize() if key.islower() else key))


def _generic(name: str, df: pd.DataFrame, skip: set[str] = frozenset()) -> tuple[list[str], list[list[str]], list[bool]]:
    keys = [c for c in df.columns if c not in skip]
    kinds = [column_kind(c, df[c]) for c in keys]
    rows = [[_FORMATTERS[k](v) for k, v in zip(kinds, rec)] for rec in df[keys].itertuples(index=False)]
    return keys, rows, [k not in ("text",) for k in kinds]


def format_table(name: str, df: pd.DataFrame) -> FormattedTable:
    """The APA version of table ``name`` (the CSV's stem) with data ``df``."""
    spec = SPECS.get(name, {})
    title = spec.get("title", name.replace("_", " ").title())
    note = spec.get("note", "")
    df = df.copy()
    bold: set[tuple[int, int]] = set()
    flags: list[set[str]] = [set() for _ in range(len(df))]

    if name == "reliability" and {"alpha_ci_lower", "alpha_ci_upper"} <= set(df.columns):
        ci = [fmt_ci(lo, hi) for lo, hi in zip(df["alpha_ci_lower"], df["alpha_ci_upper"])]
        pos = list(df.columns).index("alpha_ci_lower")
        df = df.drop(columns=["alpha_ci_lower", "alpha_ci_upper"])
        df.insert(pos, "alpha_ci", ci)
    if name == "efa_loadings":
        for c in df.columns:
            if c != "h2" and column_kind(c) == "b2" and c != "item":
                num = pd.to_numeric(df[c], errors="coerce")
                df[c] = num.where(num.abs() >= 0.30)
    if name == "cfa_fit" and {"measure", "value"} <= set(df.columns):
        return _fit_table(name, df, title, note)
    if name == "cfa_estimates" and {"lhs", "op", "rhs"} <= set(df.columns):
        df.insert(0, "type", [_OP_TYPE.get(str(o), str(o)) for o in df["op"]])
        df.insert(1, "path", [f"{fmt_text(lhs)} {fmt_text(op)} {fmt_text(rhs)}".strip()
                              for lhs, op, rhs in zip(df["lhs"], df["op"], df["rhs"])])
        df = df.drop(columns=["lhs", "op", "rhs"])
    if name == "hypotheses":
        if "exploratory" in df.columns:
            expl = [as_bool(x) for x in df["exploratory"]]
            flags = [{"exploratory"} if e else set() for e in expl]
            if "id" in df.columns:
                df["id"] = [fmt_text(i) + (" †" if e else "") for i, e in zip(df["id"], expl)]
            df = df.drop(columns=["exploratory"])
        if "decision" in df.columns:
            df["decision"] = [fmt_text(d).replace("_", " ") for d in df["decision"]]
        keep = [c for c in ("id", "statement", "test", "parameters", "pvalue", "pvalue_adjusted", "decision", "reason")
                if c in df.columns]
        df = df[keep + [c for c in df.columns if c not in keep and c not in ("family", "pvalue_holm", "pvalue_bh")]]
    if name == "rsa" and "parameter" in df.columns and "est" in df.columns:
        df["est"] = pd.to_numeric(df["est"], errors="coerce")
    if "decision" in df.columns and name != "hypotheses":
        df["decision"] = [fmt_text(d).replace("_", " ") for d in df["decision"]]

    keys, rows, numeric = _generic(name, df)
    if name in ("fornell_larcker", "htmt") and keys and keys[0] == "factor":
        # a correlation-type matrix: the first column names the rows
        kind = "b2" if name == "fornell_larcker" else "f2"
        rows = [[fmt_text(rec[0])] + [_FORMATTERS[kind](v) if not is_missing(v) else "" for v in rec[1:]]
                for rec in df.itertuples(index=False)]
        numeric = [False] + [True] * (len(keys) - 1)
        if name == "fornell_larcker":
            for i, rec in enumerate(df.itertuples(index=False)):
                if str(rec[0]) in keys[1:]:
                    bold.add((i, keys.index(str(rec[0]))))
    if name in ("fornell_larcker", "htmt") and keys and keys[0] == "factor":
        labels = [""] + [str(k) for k in keys[1:]]  # the matrix's own construct names
    else:
        labels = [_label(k) for k in keys]
    return FormattedTable(name, title, keys, labels, rows, note, numeric, bold, flags, raw=df)


def _fit_table(name: str, df: pd.DataFrame, title: str, note: str) -> FormattedTable:
    vals = {str(m): v for m, v in zip(df["measure"], df["value"])}
    rows: list[list[str]] = []
    done: set[str] = set()
    for m in vals:
        if m in done:
            continue
        key = base_measure(m)
        suffix = " (robust)" if re.search(r"robust|scaled", m.lower()) else ""
        if key in ("rmsea_ci_lower", "rmsea_ci_upper"):
            lo_name = m.replace("upper", "lower")
            hi_name = m.replace("lower", "upper")
            done |= {lo_name, hi_name}
            rows.append([MEASURE_LABELS["rmsea_ci"] + suffix, fmt_ci(vals.get(lo_name), vals.get(hi_name), 3)])
            continue
        done.add(m)
        kind = column_kind(key) if key in _KIND_OF else "f2"
        if key == "value":
            kind = "f2"
        label = MEASURE_LABELS.get(key, m)
        rows.append([label + suffix, _FORMATTERS[kind](vals[m])])
    return FormattedTable(name, title, ["measure", "value"], ["Index", "Value"], rows, note, [False, True],
                          raw=df)


# ---------------------------------------------------------------------------------------------------------------
# mark-up -> HTML / LaTeX

_TOKEN = re.compile(r"\*(\S[^*]*)\*|_\{([^}]*)\}|\^\{([^}]*)\}")


def markup_html(s: str) -> str:
    out, pos = [], 0
    for m in _TOKEN.finditer(s):
        out.append(html.escape(s[pos:m.start()], quote=False))
        if m.group(1) is not None:
            out.append(f"<i>{markup_html(m.group(1))}</i>")
        elif m.group(2) is not None:
            out.append(f"<sub>{markup_html(m.group(2))}</sub>")
        else:
            out.append(f"<sup>{markup_html(m.group(3))}</sup>")
        pos = m.end()
    out.append(html.escape(s[pos:], quote=False))
    return "".join(out)


_LATEX_CHARS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
    MINUS: "$-$", DASH: "---", "–": "--", "†": r"\dag{}", "≥": r"$\geq$", "≤": r"$\leq$", "χ": r"$\chi$",
    "α": r"$\alpha$", "β": r"$\beta$", "ω": r"$\omega$", "Δ": r"$\Delta$", "λ": r"$\lambda$", "²": r"\textsuperscript{2}",
    "√": r"$\surd$", "∞": r"$\infty$", "\u00a0": "~", "’": "'",
}


def latex_escape(s: str) -> str:
    return "".join(_LATEX_CHARS.get(ch, ch) for ch in str(s))


def markup_latex(s: str) -> str:
    out, pos = [], 0
    for m in _TOKEN.finditer(s):
        out.append(latex_escape(s[pos:m.start()]))
        if m.group(1) is not None:
            out.append(r"\textit{" + markup_latex(m.group(1)) + "}")
        elif m.group(2) is not None:
            out.append(r"\textsubscript{" + markup_latex(m.group(2)) + "}")
        else:
            out.append(r"\textsuperscript{" + markup_latex(m.group(3)) + "}")
        pos = m.end()
    out.append(latex_escape(s[pos:]))
    return "".join(out)


def markup_text(s: str) -> str:
    """Plain text of a mark-up string (for alt texts)."""
    return _TOKEN.sub(lambda m: m.group(1) or m.group(2) or m.group(3) or "", s)


# ---------------------------------------------------------------------------------------------------------------
# writers


def to_latex(t: FormattedTable, number: int | None = None) -> str:
    """A booktabs ``table`` environment (needs ``\\usepackage{booktabs}``; long tables may need ``longtable``)."""
    spec = "".join(("p{4.2cm}" if k in WRAP_COLUMNS else ("r" if num else "l"))
                   for k, num in zip(t.keys, t.numeric or [False] * len(t.keys)))
    lines = [f"% {t.name}: generated by vccscale (requires \\usepackage{{booktabs}})",
             r"\begin{table}[htbp]", r"\centering", r"\small",
             r"\caption{" + latex_escape(t.title) + "}", r"\label{tab:" + t.name.replace("_", "-") + "}",
             r"\begin{tabular}{" + spec + "}", r"\toprule",
             " & ".join(markup_latex(lab) for lab in t.labels) + r" \\", r"\midrule"]
    for i, row in enumerate(t.rows):
        cells = []
        for j, c in enumerate(row):
            txt = latex_escape(c)
            if (i, j) in t.bold:
                txt = r"\textbf{" + txt + "}"
            cells.append(txt)
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if t.note:
        lines += [r"\par\medskip", r"\begin{minipage}{\linewidth}\footnotesize\textit{Note.} " + markup_latex(t.note)
                  + r"\end{minipage}"]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


_W_CELL = "padding:2pt 6pt;vertical-align:top;"
_W_FONT = "font-family:'Times New Roman',Times,serif;font-size:12pt;"


def table_html(t: FormattedTable, number: int | None, *, inline_styles: bool, badges: bool = False) -> str:
    """The APA table as an HTML fragment (``inline_styles`` for Word; classes for the report's CSS)."""
    num = f"Table {number}" if number is not None else "Table"
    st = (lambda s: f' style="{s}"') if inline_styles else (lambda s: "")
    cl = (lambda c: "") if inline_styles else (lambda c: f' class="{c}"')
    out = [f'<div class="apa-table" id="table-{t.name}">' if not inline_styles else "<div>",
           f'<p{cl("table-number")}{st(_W_FONT + "font-weight:bold;margin:12pt 0 0 0;")}>{num}</p>',
           f'<p{cl("table-title")}{st(_W_FONT + "font-style:italic;margin:0 0 6pt 0;")}>{html.escape(t.title)}</p>',
           f'<table{st(_W_FONT + "border-collapse:collapse;border-top:1.5pt solid #000;border-bottom:1.5pt solid #000;")}>',
           "<thead><tr>"]
    for lab, isnum in zip(t.labels, t.numeric):
        align = "right" if isnum else "left"
        cls = ' class="num"' if isnum and not inline_styles else ""
        out.append(f'<th{cls}{st(_W_CELL + f"text-align:{align};font-weight:normal;border-bottom:0.75pt solid #000;")}>'
                   f"{markup_html(lab)}</th>")
    out.append("</tr></thead><tbody>")
    for i, row in enumerate(t.rows):
        rcls = " ".join(sorted(t.row_flags[i])) if i < len(t.row_flags) and t.row_flags[i] else ""
        out.append(f'<tr class="{rcls}">' if rcls and not inline_styles else "<tr>")
        for j, (c, isnum) in enumerate(zip(row, t.numeric)):
            key = t.keys[j]
            txt = html.escape(c, quote=False)
            if key == "parameters" and "; " in c:
                txt = "<br>".join(html.escape(p, quote=False) for p in c.split("; "))
            if (i, j) in t.bold:
                txt = f"<b>{txt}</b>"
            if key == "decision" and badges and c:
                txt = f'<span class="badge badge-{_badge_class(c)}">{txt}</span>'
            elif key == "decision" and inline_styles and c:
                txt = f'<span style="color:{_BADGE_COLOURS[_badge_class(c)]};font-weight:bold;">{txt}</span>'
            if key == "id" and badges and i < len(t.row_flags) and "exploratory" in t.row_flags[i]:
                txt += ' <span class="tag">exploratory</span>'
            align = "right" if isnum else "left"
            cls = []
            if isnum and not inline_styles:
                cls.append("num")
            if key in WRAP_COLUMNS and not inline_styles:
                cls.append("wrap")
            cattr = f' class="{" ".join(cls)}"' if cls else ""
            ws = "white-space:nowrap;" if isnum else ""
            out.append(f"<td{cattr}{st(_W_CELL + f'text-align:{align};' + ws)}>{txt}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    if t.note:
        out.append(f'<p{cl("table-note")}{st(_W_FONT + "font-size:10pt;margin:4pt 0 12pt 0;")}>'
                   f"<i>Note.</i> {markup_html(t.note)}</p>")
    out.append("</div>")
    return "\n".join(out)


_BADGE_COLOURS = {"supported": "#1b7a3a", "partial": "#9a6700", "not-supported": "#b42318", "other": "#555555"}


def _badge_class(decision: str) -> str:
    d = decision.strip().lower().replace("_", " ")
    if d.startswith("not supported") or d in ("rejected", "refuted"):
        return "not-supported"
    if d.startswith("partial"):
        return "partial"
    if d == "supported":
        return "supported"
    return "other"


def to_word_html(t: FormattedTable, number: int | None = None) -> str:
    """A stand-alone HTML page holding the table with inline styles (opens in, and pastes into, Word)."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
            + html.escape(t.title) + "</title></head>\n<body>\n" + table_html(t, number, inline_styles=True)
            + "\n</body></html>\n")


def read_table(path: Path) -> pd.DataFrame:
    """A ``tables/<name>.csv`` of the output folder, its text as the stage wrote it (formula escapes undone)."""
    from ..csvsafe import unescape_frame

    return unescape_frame(pd.read_csv(path, keep_default_na=True))


def write_table_files(out_dir: Path, numbers: dict[str, int] | None = None) -> dict[str, FormattedTable]:
    """Write ``tables/<name>.tex`` and ``tables/<name>.html`` for every ``tables/<name>.csv``; return the tables."""
    numbers = numbers or {}
    tdir = Path(out_dir) / "tables"
    result: dict[str, FormattedTable] = {}
    if not tdir.is_dir():
        return result
    for csv in sorted(tdir.glob("*.csv")):
        try:
            df = read_table(csv)
        except pd.errors.EmptyDataError:
            df = pd.DataFrame()
        t = format_table(csv.stem, df)
        result[csv.stem] = t
        num = numbers.get(csv.stem)
        (tdir / f"{csv.stem}.tex").write_text(to_latex(t, num), encoding="utf-8", newline="\n")
        (tdir / f"{csv.stem}.html").write_text(to_word_html(t, num), encoding="utf-8", newline="\n")
    return result
