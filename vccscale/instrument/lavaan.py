"""lavaan measurement-model syntax for an instrument, written from its codebook and the registry.

Indicators are item ids (``a_drv_cust_involvement_01``): the columns of the stacked data set in which provider
and customer answers to the same item share one column and a ``perspective`` column tells them apart (the
importer's ``to_long()``), so one model serves single-group CFA and multi-group invariance by perspective.
Specification (construct-map 5.1): reflective first-order factors by ``=~``; reflective second-order factors
(``a_align_ri``, ``d_linking``, ``d_materializing``, ``d_spe``) over their first-order factors plus any global
items of their own; formative constructs with global items as MIMIC models (``=~`` global items, ``~`` formative
indicators); composites (family B activity parents, unit-weighted means of their sub-activities for response
surface analysis), event indices and observed variables are listed as comments, not modelled.
"""
from __future__ import annotations

from ..registry import Registry
from .codebook import Codebook


def _terms(names: list[str]) -> str:
    """One formula per line: every lavaan and semopy parser reads it (continuation lines are parser-specific)."""
    return " + ".join(names)


def measurement_model(codebook: Codebook, registry: Registry, title: str | None = None) -> str:
    items: dict[str, list[tuple[str, str]]] = {}       # construct -> [(item id, kind)]
    persp: dict[str, set[str]] = {}
    for r in codebook.rows:
        if r.role != "item" or not r.item_id or not r.construct:
            continue
        lst = items.setdefault(r.construct, [])
        if r.item_id not in [i for i, _ in lst]:
            lst.append((r.item_id, r.indicator or "reflective"))
        persp.setdefault(r.construct, set()).add(r.perspective or "")
    markers = list(dict.fromkeys(r.item_id for r in codebook.rows if r.role == "marker" and r.item_id))
    all_persp = sorted({p for ps in persp.values() for p in ps})

    order = [c for c in registry.constructs.values() if c.id in items or
             any(lo in items for lo in c.lower_order)]
    lines = ["# vccscale measurement model (lavaan syntax)" + (f": {title}" if title else ""),
             "# Indicators are item ids: fit to stacked data (one column per item id, a 'perspective' column for",
             "# groups), e.g. lavaan::cfa(model, data, group = 'perspective') or vccscale's CFA.",
             "# Identification: lavaan's default (first loading fixed to 1); std.lv works as well.", ""]
    reflective, second, mimic, notes = [], [], [], []
    for c in order:
        its = items.get(c.id, [])
        refl = [i for i, k in its if k == "reflective"]
        glob = [i for i, k in its if k == "global"]
        form = [i for i, k in its if k == "formative"]
        tag = ""
        if all_persp and len(all_persp) > 1 and persp.get(c.id) and persp[c.id] != set(all_persp):
            tag = f"  # asked of {', '.join(sorted(persp[c.id]))} only"
        if c.order == "second" and c.measurement == "reflective":
            facets = [lo for lo in c.lower_order if lo in items]
            if len(facets + glob) >= 2:
                second.append(f"{c.id} =~ {_terms(facets + glob)}{tag}")
            elif facets or glob:  # one indicator cannot identify a factor (its variance and loading are confounded)
                notes.append(f"# {c.id}: second-order factor with one indicator in this instrument "
                             f"({(facets + glob)[0]}): not identified, not modelled")
        elif c.identification == "mimic" and glob:
            mimic.append(f"{c.id} =~ {_terms(glob)}{tag}")
            if form:
                mimic.append(f"{c.id} ~ {_terms(form)}")
        elif c.measurement == "formative" and c.order == "second":
            parts = [lo for lo in c.lower_order if lo in items]
            notes.append(f"# {c.id}: formative composite = unit-weighted mean of {', '.join(parts)} "
                         "(response surface predictor; not part of the CFA)")
        elif c.identification == "index":
            notes.append(f"# {c.id}: event index (checklist x perceived significance); items "
                         f"{', '.join(i for i, _ in its)}; not a latent variable")
        elif c.measurement == "observed":
            notes.append(f"# {c.id}: observed variable {', '.join(i for i, _ in its)}")
        elif refl:
            reflective.append(f"{c.id} =~ {_terms(refl)}{tag}")
    if reflective:
        lines += ["# Reflective first-order constructs", *reflective, ""]
    if second:
        lines += ["# Second-order constructs (over their first-order factors and their own global items)",
                  *second, ""]
    if mimic:
        lines += ["# Formative constructs identified as MIMIC models (global reflective items, formative causes)",
                  *mimic, ""]
    if markers:
        lines += ["# Marker variable for common-method checks (theoretically unrelated to every construct)",
                  f"marker =~ {_terms(markers)}", ""]
    if notes:
        lines += ["# Not modelled as latent variables", *notes, ""]
    return "\n".join(lines).rstrip() + "\n"
