"""From parsed syntax to a full parameter table with lavaan's defaults (``lavaan::cfa()`` / ``lavaan::sem()``).

The rules follow lavaan 0.6-14 (``lav_partable_flat`` and ``lav_partable_vnames``):

* latent variables are the left-hand sides of ``=~``; observed variables are, in this order, the indicators, the
  observed dependent variables of ``~``, the observed predictors and any other observed variable named in ``~~``
  or ``~ 1``;
* marker identification (``auto.fix.first``): the first loading of every factor is fixed at 1, unless
  ``std_lv=True``, which fixes the factor variances at 1 instead;
* free residual variances for every observed variable that is not an exogenous covariate, free variances of
  all latent variables (``auto.var``); a single indicator's residual variance is fixed at 0
  (``auto.fix.single``);
* free covariances among exogenous latent variables (``auto.cov.lv.x``; in a CFA every factor is exogenous),
  and among "pure" dependent variables, those that predict nothing (``auto.cov.y``);
* observed exogenous covariates (``fixed.x=TRUE``): their variances, covariances and means are fixed at the
  sample values and do not count as parameters;
* a mean structure only when asked for: intercepts in the syntax, several groups, or ``meanstructure=True``;
  observed intercepts are then free and latent means fixed at 0 (free in groups 2.. when ``group_equal`` holds
  ``"intercepts"`` but not ``"means"``);
* equality constraints: rows sharing a label, ``a == b`` between labels, and ``group_equal`` (lavaan's
  ``group.equal``: ``loadings``, ``intercepts``, ``means``, ``residuals``, ``residual.covariances``,
  ``lv.variances``, ``lv.covariances``, ``regressions``) share one parameter.
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from itertools import combinations

from ..errors import ModelError
from .syntax import SyntaxRow, parse_model

__all__ = ["ParTable", "build_partable", "GROUP_EQUAL_TYPES", "DefinedParameter", "ORDINAL_ESTIMATORS"]

#: estimators of ordered indicators -> their weight matrix (every one with robust SEs and the scaled-shifted test;
#: :mod:`vccscale.sem.wlsmv`), here so that a fit of continuous indicators can tell them apart without importing it
ORDINAL_ESTIMATORS = {"WLSMV": "DWLS", "DWLS": "DWLS", "ULSMV": "ULS", "ULS": "ULS"}

GROUP_EQUAL_TYPES = ("loadings", "intercepts", "means", "residuals", "residual.covariances", "lv.variances",
                     "lv.covariances", "regressions")


def equality_type(r: dict, lv_set: set, ov_set: set, ovx_set: set = frozenset()) -> str | None:
    """lavaan's group.equal category of a parameter-table row (loadings, intercepts, residuals, ...); None for
    rows no group.equal keyword covers (fixed exogenous rows, observed-covariate moments)."""
    op, lhs, rhs = r["op"], r["lhs"], r["rhs"]
    if r.get("exo"):
        return None
    if op == "=~":
        return "loadings"
    if op == "~":
        return "regressions"
    if op == "~1":
        return "intercepts" if lhs in ov_set else "means"
    if op == "~~":
        if lhs in lv_set and rhs in lv_set:
            return "lv.variances" if lhs == rhs else "lv.covariances"
        if lhs in ov_set and rhs in ov_set and lhs not in ovx_set:
            return "residuals" if lhs == rhs else "residual.covariances"
    return None


def unique_in_order(seq):
    """The distinct elements of ``seq`` in the order of first appearance (lavaan's ``unique``)."""
    seen, out = set(), []
    for x in seq:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


@dataclass
class DefinedParameter:
    """A ``name := expression`` row."""

    name: str
    expr: str
    line: int
    code: object = None  # compiled expression
    names: tuple[str, ...] = ()

    def evaluate(self, values: dict[str, float]) -> float:
        return float(eval(self.code, {"__builtins__": {}}, {**_FUNCS, **values}))


_FUNCS = {"exp": math.exp, "log": math.log, "sqrt": math.sqrt, "abs": abs}
_ALLOWED = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Name, ast.Load, ast.Constant, ast.Add, ast.Sub, ast.Mult,
            ast.Div, ast.Pow, ast.USub, ast.UAdd, ast.Call)


def renumber_free(pt) -> None:
    """Consecutive free-parameter indices after rows of ``pt`` were fixed (rows sharing an index keep sharing it;
    fixed rows get -1); ``pt.npar`` follows."""
    mapping: dict[int, int] = {}
    for r in pt.rows:
        if not r["free"]:
            r["par"] = -1
            continue
        r["par"] = mapping.setdefault(r["par"], len(mapping))
    pt.npar = len(mapping)


def compile_defined(defs, labels) -> list[DefinedParameter]:
    """The ``name := expression`` rows ``defs`` (syntax rows, in order) compiled against the parameter ``labels``;
    a definition may use the labels and the names defined before it. Unknown names are a :class:`ModelError`."""
    defined = []
    known = set(labels)
    for d in defs:
        code, names = _compile_expr(d.rhs, d.line, f"defined parameter {d.lhs!r}")
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ModelError(f"model syntax line {d.line}: {d.lhs} := {d.rhs} uses unknown label(s) "
                             f"{', '.join(unknown)} (label a parameter with 'a*x' first)", line=d.line)
        defined.append(DefinedParameter(d.lhs, d.rhs, d.line, code, names))
        known.add(d.lhs)
    return defined


def _compile_expr(expr: str, line: int, what: str) -> tuple[object, tuple[str, ...]]:
    src = expr.replace("^", "**")
    try:
        tree = ast.parse(src, mode="eval")
    except SyntaxError:
        raise ModelError(f"model syntax line {line}: cannot read the expression {expr!r} of {what}",
                         line=line) from None
    names = []
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ModelError(f"model syntax line {line}: {what} may only use + - * / ^, numbers, labels and "
                             f"exp/log/sqrt/abs; {expr!r} has {type(node).__name__}", line=line)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in ("exp", "log", "sqrt", "abs"):
                raise ModelError(f"model syntax line {line}: unknown function in {expr!r} "
                                 "(allowed: exp, log, sqrt, abs)", line=line)
        elif isinstance(node, ast.Name) and node.id not in ("exp", "log", "sqrt", "abs"):
            names.append(node.id)
    return compile(tree, "<defined>", "eval"), tuple(unique_in_order(names))


@dataclass
class ParTable:
    """The full parameter table and the variable roles of a model.

    ``rows`` is a list of dicts with keys ``id, lhs, op, rhs, group, user, free, ustart, start, label, exo, par,
    line`` where ``free`` is ``True`` for estimated rows and ``par`` is the index of the row's value in the
    (reduced) parameter vector (``-1`` for fixed rows; rows constrained equal share one ``par``).
    """

    rows: list[dict]
    ov_names: list[str]
    lv_names: list[str]
    ov_x: list[str]
    ov_nox: list[str]
    lv_x: list[str]
    lv_endo: list[str]
    ngroups: int
    group_labels: list
    meanstructure: bool
    std_lv: bool
    npar: int
    defined: list[DefinedParameter] = field(default_factory=list)
    group_equal: tuple[str, ...] = ()
    syntax: list[SyntaxRow] = field(default_factory=list)
    ov_x_random: list[str] = field(default_factory=list)  # exogenous covariates with fixed.x = FALSE

    @property
    def observed(self) -> list[str]:
        return list(self.ov_names)

    def free_rows(self) -> list[dict]:
        return [r for r in self.rows if r["par"] >= 0]

    def par_names(self) -> list[str]:
        """One readable name per parameter (first row carrying it)."""
        names = [""] * self.npar
        for r in self.rows:
            if r["par"] >= 0 and not names[r["par"]]:
                g = f" (group {r['group']})" if self.ngroups > 1 else ""
                names[r["par"]] = f"{r['lhs']} {r['op']} {r['rhs']}".rstrip() + g
        return names


def _expand(values: list | None, ngroups: int, what: str, row: SyntaxRow) -> list | None:
    if values is None:
        return None
    if len(values) == 1:
        return values * ngroups
    if len(values) != ngroups:
        raise ModelError(f"model syntax line {row.line}: {what} modifier has {len(values)} values but the model "
                         f"has {ngroups} group(s) in {row.text!r}", line=row.line)
    return list(values)


def build_partable(model: str | list[SyntaxRow], *, model_type: str = "sem", std_lv: bool = False,
                   ngroups: int = 1, group_labels: list | None = None, group_equal=(),
                   group_partial=(), meanstructure: bool | None = None, fixed_x: bool = True,
                   orthogonal: bool = False) -> ParTable:
    """Build the full parameter table of ``model`` with the defaults of ``lavaan::cfa()`` / ``lavaan::sem()``."""
    rows_in = parse_model(model) if isinstance(model, str) else list(model)
    if model_type not in ("cfa", "sem"):
        raise ModelError(f"model_type must be 'cfa' or 'sem', not {model_type!r}")
    group_equal = tuple(group_equal or ())
    bad = [g for g in group_equal if g not in GROUP_EQUAL_TYPES]
    if bad:
        raise ModelError(f"unknown group_equal value(s) {bad}; known: {', '.join(GROUP_EQUAL_TYPES)}")
    model_rows = [r for r in rows_in if r.op in ("=~", "~", "~~", "~1")]
    defs = [r for r in rows_in if r.op == ":="]
    cons = [r for r in rows_in if r.op in ("==", "<", ">")]

    # ---------------------------------------------------------------- variable roles (lav_partable_vnames)
    lv = unique_in_order(r.lhs for r in model_rows if r.op == "=~")
    v_ind = unique_in_order(r.rhs for r in model_rows if r.op == "=~")
    eqs_y = unique_in_order(r.lhs for r in model_rows if r.op == "~")
    eqs_x = unique_in_order(r.rhs for r in model_rows if r.op == "~")
    lv_set = set(lv)
    ov_ind = [v for v in v_ind if v not in lv_set]
    ov_y_local = [v for v in eqs_y if v not in lv_set and v not in ov_ind]
    ov_x = [v for v in eqs_x if v not in lv_set and v not in ov_ind and v not in ov_y_local]
    ov_cov = [x for r in model_rows if r.op == "~~" for x in (r.lhs, r.rhs) if x not in lv_set]
    ov_int = [r.lhs for r in model_rows if r.op == "~1" and r.lhs not in lv_set]
    ov_tmp = ov_ind + ov_y_local + ov_x
    ov_names = ov_tmp + [v for v in unique_in_order(ov_cov + ov_int) if v not in ov_tmp]
    if not fixed_x:
        ov_x_fixed: list[str] = []
    else:
        user_touch = set(ov_cov) | set(ov_int)
        ov_x_fixed = [v for v in ov_x if v not in user_touch]
    ov_nox = [v for v in ov_names if v not in ov_x_fixed]
    lv_x = [v for v in lv if v not in v_ind and v not in eqs_y]
    cov_y_ov = [v for v in ov_names if v in eqs_y and v not in v_ind and v not in eqs_x and v not in lv_set]
    lv_y = [v for v in lv if v in eqs_y and v not in v_ind and v not in eqs_x]
    if not ov_names:
        raise ModelError("the model has no observed variables")

    if meanstructure is None:
        meanstructure = ngroups > 1 or any(r.op == "~1" for r in model_rows)
    # ---------------------------------------------------------------- default rows (DEFAULT in lav_partable_flat)
    default: list[tuple[str, str, str]] = []
    default += [(v, "~~", v) for v in ov_nox + lv]
    if len(lv_x) > 1:
        default += [(a, "~~", b) for a, b in combinations(lv_x, 2)]
    lvov_y = lv_y + cov_y_ov
    if len(lvov_y) > 1:
        default += [(a, "~~", b) for a, b in combinations(lvov_y, 2)]
    nx = len(ov_x_fixed)
    for j in range(nx):
        for i in range(j, nx):
            default.append((ov_x_fixed[j], "~~", ov_x_fixed[i]))
    if not fixed_x and len(ov_x) > 1:  # random covariates (lavaan fixed.x = FALSE): their covariances are free
        default += [(a, "~~", b) for a, b in combinations(ov_x, 2)]
    if meanstructure:
        default += [(v, "~1", "") for v in ov_names + lv]

    def norm(key):
        lhs, op, rhs = key
        return (min(lhs, rhs), op, max(lhs, rhs)) if op == "~~" else key

    user_keys = {norm(r.key) for r in model_rows}
    default = [k for k in default if norm(k) not in user_keys]
    default = unique_in_order(default)

    # ---------------------------------------------------------------- one block per group
    first_loading = {}
    for i, r in enumerate(model_rows):
        if r.op == "=~" and r.lhs not in first_loading:
            first_loading[r.lhs] = i
    # single-indicator factors: residual variance of the indicator fixed at 0
    n_ind = {f: sum(1 for r in model_rows if r.op == "=~" and r.lhs == f) for f in lv}
    ind_count: dict[str, int] = {}
    for r in model_rows:
        if r.op == "=~":
            ind_count[r.rhs] = ind_count.get(r.rhs, 0) + 1
    single_ind = {r.rhs for r in model_rows if r.op == "=~" and n_ind[r.lhs] == 1 and r.rhs != r.lhs
                  and ind_count[r.rhs] == 1 and r.rhs not in lv_set}

    rows: list[dict] = []
    for g in range(1, ngroups + 1):
        for kind, items in (("user", model_rows), ("default", default)):
            for idx, item in enumerate(items):
                if kind == "user":
                    lhs, op, rhs = item.key
                    line = item.line
                else:
                    (lhs, op, rhs), line = item, None
                row = dict(lhs=lhs, op=op, rhs=rhs, group=g, user=1 if kind == "user" else 0, free=True,
                           ustart=None, start=None, label="", exo=False, line=line)
                is_var = op == "~~" and lhs == rhs
                if std_lv and is_var and lhs in lv_set:
                    row.update(free=False, ustart=1.0)
                if not std_lv and kind == "user" and op == "=~" and first_loading.get(lhs) == idx:
                    row.update(free=False, ustart=1.0)
                if kind == "default" and is_var and lhs in single_ind:
                    row.update(free=False, ustart=0.0)
                if orthogonal and kind == "default" and op == "~~" and lhs != rhs and lhs in lv_set \
                        and rhs in lv_set:
                    row.update(free=False, ustart=0.0)
                if op == "~1" and kind == "default":
                    if lhs in lv_set:
                        free_mean = (g > 1 and "intercepts" in group_equal and "means" not in group_equal)
                        if not free_mean:
                            row.update(free=False, ustart=0.0)
                if kind == "default" and lhs in ov_x_fixed and (op == "~1" or (op == "~~" and rhs in ov_x_fixed)):
                    row.update(free=False, ustart=None, exo=True)
                if g > 1 and std_lv and "loadings" in group_equal and "lv.variances" not in group_equal \
                        and kind == "default" and is_var and lhs in lv_set:
                    row.update(free=True, ustart=None)
                if kind == "user":
                    mod = item.modifier
                    fixed = _expand(mod.fixed, ngroups, "fixed-value", item)
                    label = _expand(mod.label, ngroups, "label", item)
                    start = _expand(mod.start, ngroups, "start", item)
                    if fixed is not None:
                        val = fixed[g - 1]
                        if val is None:
                            row.update(free=True, ustart=None)
                        else:
                            row.update(free=False, ustart=float(val))
                    if label is not None:
                        row["label"] = label[g - 1] or ""
                    if start is not None and start[g - 1] is not None:
                        row["start"] = float(start[g - 1])
                rows.append(row)
    for i, r in enumerate(rows):
        r["id"] = i + 1

    # ---------------------------------------------------------------- equality constraints
    parent = list(range(len(rows)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i, j):
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)

    by_label: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        if r["label"]:
            by_label.setdefault(r["label"], []).append(i)
    def_names = {d.lhs for d in defs}
    for lab, idxs in by_label.items():
        if lab in def_names:
            r = rows[idxs[0]]
            raise ModelError(f"model syntax line {r['line']}: label {lab!r} is also the name of a defined (:=) "
                             "parameter", line=r["line"])
        if lab in lv_set or lab in set(ov_names):
            r = rows[idxs[0]]
            raise ModelError(f"model syntax line {r['line']}: label {lab!r} is also a variable name; use another "
                             "label", line=r["line"])
        frees = [rows[i]["free"] for i in idxs]
        if any(frees) and not all(frees):
            r = rows[idxs[0]]
            raise ModelError(f"model syntax line {r['line']}: label {lab!r} is shared by a fixed and a free "
                             "parameter", line=r["line"])
        for j in idxs[1:]:
            union(idxs[0], j)

    partial = set()
    for p in group_partial or ():
        prow = parse_model(p)
        for pr in prow:
            partial.add((pr.lhs, pr.op, pr.rhs))
    if ngroups > 1 and group_equal:
        ov_set, ovx_set = set(ov_names), set(ov_x_fixed)

        first: dict[tuple, int] = {}
        for i, r in enumerate(rows):
            t = equality_type(r, lv_set, ov_set, ovx_set)
            if t is None or t not in group_equal or not r["free"] or (r["lhs"], r["op"], r["rhs"]) in partial:
                continue
            key = (r["lhs"], r["op"], r["rhs"])
            if r["group"] == 1:
                first[key] = i
            elif key in first:
                union(first[key], i)

    for c in cons:
        if c.op != "==":
            raise ModelError(f"model syntax line {c.line}: inequality constraints ({c.op}) are not supported",
                             line=c.line)
        lhs, rhs = c.lhs.strip(), c.rhs.strip()
        if lhs in by_label and rhs in by_label:
            union(by_label[lhs][0], by_label[rhs][0])
        else:
            unknown = [x for x in (lhs, rhs) if x not in by_label]
            raise ModelError(f"model syntax line {c.line}: only equality constraints between two labels "
                             f"(a == b) are supported; {', '.join(map(repr, unknown))} is not a label of a "
                             "parameter", line=c.line)

    npar = 0
    root_par: dict[int, int] = {}
    for i, r in enumerate(rows):
        if not r["free"]:
            r["par"] = -1
            continue
        root = find(i)
        if root not in root_par:
            root_par[root] = npar
            npar += 1
        r["par"] = root_par[root]

    # ---------------------------------------------------------------- defined parameters
    defined = compile_defined(defs, by_label)

    lv_endo = [v for v in lv if v not in lv_x]
    return ParTable(rows=rows, ov_names=ov_names, lv_names=lv, ov_x=ov_x_fixed, ov_nox=ov_nox, lv_x=lv_x,
                    lv_endo=lv_endo, ngroups=ngroups, group_labels=list(group_labels or [1]),
                    meanstructure=bool(meanstructure), std_lv=std_lv, npar=npar, defined=defined,
                    group_equal=group_equal, syntax=rows_in,
                    ov_x_random=[] if fixed_x else [v for v in ov_x if v not in set(ov_x_fixed)])
