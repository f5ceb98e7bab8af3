"""``render_report``: one self-contained HTML page from the files of a run's output folder.

The page has inline CSS, figures embedded as ``data:`` URIs, no script and no external link. Sections whose files
are missing are left out. The output is deterministic: the same folder gives the same bytes (the only times shown
are the manifest's own ``started`` / ``finished`` values; stage run times are never shown).
"""
from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .tables import (FormattedTable, fmt_int, format_table, markup_html, read_table, table_html,
                     to_latex, to_word_html)

STAGES = ["import", "clean", "items", "reliability", "efa", "cfa", "validity", "invariance", "hypotheses", "rsa",
          "multilevel", "power"]

# section id, heading, stages, content: ("table", name) | ("figure", name, title, note) | ("consort",)
SECTIONS: list[tuple[str, str, list[str], list[tuple]]] = [
    ("sample", "Sample", ["import", "clean"], [("consort",), ("table", "consort")]),
    ("items", "Items", ["items"], [("table", "item_analysis")]),
    ("reliability-validity", "Reliability and Validity", ["reliability", "validity"],
     [("table", "reliability"), ("table", "fornell_larcker"), ("table", "htmt")]),
    ("efa", "Exploratory Factor Analysis", ["efa"],
     [("figure", "efa_scree", "Scree Plot with Parallel Analysis",
       "Observed eigenvalues and eigenvalues of simulated random data (parallel analysis)."),
      ("table", "efa_loadings")]),
    ("cfa", "Confirmatory Factor Analysis", ["cfa"], [("table", "cfa_fit"), ("table", "cfa_estimates")]),
    ("path-diagram", "Path Diagram", [],
     [("figure", "path_diagram", "Structural Model with Standardized Estimates",
       "Standardized estimates; * *p* < .05. Measurement indicators are omitted.")]),
    ("invariance", "Measurement Invariance", ["invariance"], [("table", "invariance")]),
    ("hypotheses", "Hypotheses", ["hypotheses"], [("table", "hypotheses")]),
    ("rsa", "Response Surface Analysis", ["rsa"],
     [("figure", "rsa_surface", "Response Surface", "Predicted outcome over the two predictors."),
      ("figure", "rsa_contour", "Response Surface: Contour Plot",
       "Contour lines of the predicted outcome with the lines of congruence and incongruence."),
      ("table", "rsa")]),
    ("multilevel", "Multilevel Agreement", ["multilevel"], [("table", "multilevel")]),
    ("power", "Power", ["power"],
     [("figure", "power_curve", "Power Curve", "Estimated power by sample size (Monte Carlo)."),
      ("table", "power")]),
]

CSS = """
:root { --ink:#1a1a1a; --muted:#5a5a5a; --rule:#1a1a1a; --accent:#1f3b63; --bg:#ffffff; --soft:#f5f6f8; }
* { box-sizing: border-box; }
html { background: #eceef1; }
body { margin: 0; color: var(--ink); font: 16px/1.5 "Times New Roman", Times, "Liberation Serif", Georgia, serif; }
main { max-width: 1000px; margin: 24px auto; background: var(--bg); padding: 48px 64px 32px;
       box-shadow: 0 1px 4px rgba(0,0,0,.12); }
header.title-block { text-align: center; border-bottom: 1px solid #ccc; padding-bottom: 18px; margin-bottom: 8px; }
header.title-block h1 { font-size: 1.75em; margin: 0 0 6px; font-weight: bold; line-height: 1.25; }
header.title-block .subtitle { color: var(--muted); font-size: 1.02em; margin: 0; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; width: max-content;
          margin: 14px auto 0; font-size: .92em; text-align: left; }
dl.meta dt { color: var(--muted); } dl.meta dd { margin: 0; font-family: "DejaVu Sans Mono", Menlo, monospace;
          font-size: .92em; }
nav.toc { font: 13px/1.6 "Helvetica Neue", Arial, sans-serif; margin: 14px 0 6px; text-align: center; }
nav.toc a { color: var(--accent); text-decoration: none; margin: 0 7px; white-space: nowrap; }
h2 { font-size: 1.3em; margin: 38px 0 8px; padding-bottom: 3px; border-bottom: 2px solid var(--accent);
     color: var(--accent); text-align: left; }
h2 .secnum { color: var(--muted); font-weight: normal; margin-right: .4em; }
.apa-table { margin: 18px 0 22px; overflow-x: auto; }
.table-number { font-weight: bold; margin: 0; }
.table-title { font-style: italic; margin: 0 0 6px; }
.apa-table table { border-collapse: collapse; border-top: 2px solid var(--rule); border-bottom: 2px solid var(--rule);
                   font-size: 14px; line-height: 1.35; min-width: 40%; }
.apa-table th { font-weight: normal; text-align: left; border-bottom: 1px solid var(--rule); padding: 5px 9px;
                vertical-align: bottom; }
.apa-table td { padding: 3px 9px; vertical-align: top; }
.apa-table .num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.apa-table td.wrap { min-width: 8em; max-width: 20em; }
#table-hypotheses table { width: 100%; font-size: 13px; }
#table-hypotheses td.wrap { min-width: 6em; max-width: 16em; }
.apa-table tbody tr:nth-child(even) { background: #fafafa; }
.apa-table tr.exploratory td { color: #3d3d3d; background: #f6f3ff; }
.table-note { font-size: 13.5px; margin: 6px 0 0; color: #333; max-width: 60em; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font: bold 11.5px/1.5 Arial, sans-serif;
         color: #fff; white-space: nowrap; }
.badge-supported { background: #1b7a3a; } .badge-partial { background: #b07800; }
.badge-not-supported { background: #b42318; } .badge-other { background: #6b7280; }
.tag { display: inline-block; padding: 0 6px; border: 1px solid #6d4fc2; color: #6d4fc2; border-radius: 8px;
       font: 10.5px/1.5 Arial, sans-serif; vertical-align: 1px; }
figure { margin: 20px 0 24px; }
figure .figure-number { font-weight: bold; margin: 0; }
figure .figure-title { font-style: italic; margin: 0 0 8px; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; border: 1px solid #e3e3e3; }
figure figcaption.figure-note { font-size: 13.5px; margin-top: 6px; color: #333; }
.figure-row { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; }
.consort { display: flex; flex-direction: column; align-items: flex-start; margin: 12px 0 8px 10%;
           font: 14px/1.35 "Helvetica Neue", Arial, sans-serif; }
.consort .step { display: grid; grid-template-columns: 230px 36px auto; align-items: center; }
.consort .box { border: 1.5px solid #333; background: #fff; padding: 7px 12px; text-align: center; width: 230px; }
.consort .box.main { background: var(--soft); }
.consort .box.final { border-width: 2px; border-color: var(--accent); background: #eef3fb; font-weight: bold; }
.consort .vline { width: 230px; display: flex; justify-content: center; }
.consort .vline span { display: block; width: 2px; height: 22px; background: #333; position: relative; }
.consort .hline { height: 2px; background: #333; }
.consort .box.excl { text-align: left; width: auto; min-width: 210px; background: #fff7f5; border-color: #b4553a; }
.stage-notes { font-size: 13.5px; color: #444; background: var(--soft); border-left: 3px solid #c9ced6;
               padding: 6px 12px; margin: 10px 0; }
.stage-notes ul { margin: 2px 0; padding-left: 18px; }
footer { margin-top: 44px; border-top: 2px solid var(--accent); padding-top: 10px; font-size: 13px; color: #333; }
footer h2 { border: 0; margin-top: 8px; font-size: 1.1em; }
footer table { border-collapse: collapse; font-size: 12.5px; margin: 6px 0 12px; }
footer th { text-align: left; font-weight: normal; color: var(--muted); padding: 2px 14px 2px 0; vertical-align: top; }
footer td { padding: 2px 14px 2px 0; font-family: "DejaVu Sans Mono", Menlo, monospace; word-break: break-all;
            vertical-align: top; }
footer .status-ok { color: #1b7a3a; } footer .status-failed { color: #b42318; font-weight: bold; }
footer .status-skipped { color: #8a6d00; }
.muted { color: var(--muted); }
@media print { html { background: #fff; } main { box-shadow: none; margin: 0; padding: 0; max-width: none; }
  h2 { break-after: avoid; } .apa-table, figure { break-inside: avoid; } }
"""


@dataclass
class _Numbering:
    table: int = 0
    figure: int = 0
    tables: dict[str, int] = field(default_factory=dict)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _figure_file(out: Path, name: str) -> Path | None:
    for ext in (".png", ".svg"):
        p = out / "figures" / f"{name}{ext}"
        if p.is_file():
            return p
    return None


def _data_uri(path: Path) -> str:
    mime = "image/png" if path.suffix.lower() == ".png" else "image/svg+xml"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _study_meta(study: Any, out: Path, manifest: dict) -> dict[str, Any]:
    meta: dict[str, Any] = {"id": None, "title": None, "seed": None}
    if study is not None:
        if isinstance(study, (str, Path)):
            from ..study import load_study
            study = load_study(study)
        s = study.get("study", study) if isinstance(study, dict) else getattr(study, "study", study)
        for k in meta:
            meta[k] = s.get(k) if isinstance(s, dict) else getattr(s, k, None)
    seeds = manifest.get("seeds") or {}
    if meta["seed"] is None and isinstance(seeds, dict):
        for k in ("study", "master", "seed"):
            if seeds.get(k) is not None:
                meta["seed"] = seeds[k]
                break
    if meta["id"] is None:
        meta["id"] = manifest.get("study_id") or out.name
    if meta["title"] is None:
        meta["title"] = manifest.get("study_title") or "Value Co-Creation Study"
    return meta


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
        out.append('<div class="vline"><span></span></div>')
        out.append('<div class="step"><div class="box">After ' + html.escape(str(r.rule).replace("_", " "))
                   + f'<br><i>n</i> = {fmt_int(r.remaining)}</div><div class="hline"></div>'
                   f'<div class="box excl">Excluded: {html.escape(str(r.rule).replace("_", " "))} '
                   f'(<i>n</i> = {fmt_int(excl)})</div></div>')
    final = rows[-1].remaining
    out.append('<div class="vline"><span></span></div>')
    out.append(f'<div class="step"><div class="box final">Analysed<br><i>n</i> = {fmt_int(final)}</div></div>')
    out.append("</div>")
    return "\n".join(out)


def _stage_notes(stages: dict[str, dict], names: list[str]) -> str:
    items = []
    for s in names:
        info = stages.get(s)
        if not info:
            continue
        status = str(info.get("status", ""))
        if status and status != "ok":
            items.append(f"Stage <i>{html.escape(s)}</i>: {html.escape(status)}")
        for n in info.get("notes") or []:
            items.append(html.escape(str(n), quote=False))
    if not items:
        return ""
    return '<div class="stage-notes"><ul>' + "".join(f"<li>{i}</li>" for i in items) + "</ul></div>"


def _figure_html(path: Path, number: int, title: str, note: str) -> str:
    alt = html.escape(f"Figure {number}. {title}")
    return (f'<figure id="figure-{path.stem}"><p class="figure-number">Figure {number}</p>'
            f'<p class="figure-title">{html.escape(title)}</p>'
            f'<img alt="{alt}" src="{_data_uri(path)}">'
            + (f'<figcaption class="figure-note"><i>Note.</i> {markup_html(note)}</figcaption>' if note else "")
            + "</figure>")


def _kv_rows(d: dict, mono: bool = True) -> str:
    return "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_plain(v))}</td></tr>"
                   for k, v in sorted(d.items(), key=lambda kv: str(kv[0])))


def _plain(v: Any) -> str:
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True, ensure_ascii=False)
    if v is None:
        return "\u2014"
    return str(v)


def _footer(manifest: dict, stages: dict[str, dict]) -> str:
    if not manifest and not stages:
        return ""
    parts = ['<footer id="manifest"><h2>Run Manifest</h2>']
    top = {k: manifest[k] for k in ("vccscale", "python", "platform", "study_file", "study_hash", "started",
                                     "finished") if k in manifest}
    if "run_seconds" in manifest and manifest["run_seconds"] is not None:
        try:
            top["run time"] = f"{float(manifest['run_seconds']):.1f} s"
        except (TypeError, ValueError):
            top["run time"] = str(manifest["run_seconds"])
    if top:
        parts.append("<table>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(_plain(v))}</td></tr>"
                                         for k, v in top.items()) + "</table>")
    if isinstance(manifest.get("seeds"), dict) and manifest["seeds"]:
        parts.append("<p><b>Seeds</b></p><table>" + _kv_rows(manifest["seeds"]) + "</table>")
    elif manifest.get("seeds") is not None:
        parts.append(f"<p><b>Seeds</b>: {html.escape(_plain(manifest['seeds']))}</p>")
    if isinstance(manifest.get("inputs"), dict) and manifest["inputs"]:
        parts.append("<p><b>Inputs</b> (SHA-256)</p><table>" + _kv_rows(manifest["inputs"]) + "</table>")
    if isinstance(manifest.get("packages"), dict) and manifest["packages"]:
        parts.append("<p><b>Package versions</b></p><table>" + _kv_rows(manifest["packages"]) + "</table>")
    rows = []
    order = [s for s in STAGES if s in stages] + sorted(s for s in stages if s not in STAGES)
    for s in order:
        info = stages[s]
        st = str(info.get("status", ""))
        summ = info.get("summary") or {}
        rows.append(f'<tr><th>{html.escape(s)}</th><td class="status-{html.escape(st)}">{html.escape(st)}</td>'
                    f'<td>{html.escape(_plain(info.get("inputs_hash")))}</td>'
                    f"<td>{html.escape(_plain(summ)) if summ else ''}</td></tr>")
    if rows:
        parts.append('<p><b>Stages</b></p><table><tr><th>stage</th><th>status</th><th>inputs hash</th>'
                     "<th>summary</th></tr>" + "".join(rows) + "</table>")
    parts.append('<p class="muted">Generated by vccscale from the files of this output folder.</p></footer>')
    return "\n".join(parts)


def _load_tables(out: Path) -> dict[str, FormattedTable]:
    tables: dict[str, FormattedTable] = {}
    tdir = out / "tables"
    if tdir.is_dir():
        for csv in sorted(tdir.glob("*.csv")):
            try:
                df = read_table(csv)
            except pd.errors.EmptyDataError:
                df = pd.DataFrame()
            tables[csv.stem] = format_table(csv.stem, df)
    return tables


def render_report(out_dir: str | Path, study: Any = None) -> Path:
    """Write ``out_dir/report.html`` (and ``tables/<name>.tex`` / ``.html`` for every CSV table); return its path.

    ``study``: a :class:`vccscale.study.Study`, its dict, a study-file path, or None (meta then comes from the
    manifest and the folder name).
    """
    out = Path(out_dir)
    if not out.is_dir():
        raise FileNotFoundError(f"output folder not found: {out}")
    manifest = _read_json(out / "manifest.json")
    stages: dict[str, dict] = {}
    sdir = out / "stages"
    if sdir.is_dir():
        for p in sorted(sdir.glob("*.json")):
            info = _read_json(p)
            stages[str(info.get("stage") or p.stem)] = info
    tables = _load_tables(out)
    meta = _study_meta(study, out, manifest)
    num = _Numbering()

    body: list[str] = []
    toc: list[str] = []
    secno = 0
    for sec_id, heading, stage_names, content in SECTIONS:
        blocks: list[str] = []
        figs_in_row: list[str] = []
        for item in content:
            kind = item[0]
            if kind == "consort":
                if "consort" in tables and tables["consort"].raw is not None:
                    flow = _consort_flow(tables["consort"].raw)
                    if flow:
                        blocks.append(flow)
            elif kind == "table":
                t = tables.get(item[1])
                if t is None:
                    continue
                num.table += 1
                num.tables[item[1]] = num.table
                blocks.append(table_html(t, num.table, inline_styles=False, badges=True))
            elif kind == "figure":
                p = _figure_file(out, item[1])
                if p is None:
                    continue
                num.figure += 1
                fig = _figure_html(p, num.figure, item[2], item[3])
                if item[1] in ("rsa_surface", "rsa_contour"):
                    figs_in_row.append(fig)
                    continue
                blocks.append(fig)
        if figs_in_row:
            blocks.insert(0, '<div class="figure-row">' + "\n".join(figs_in_row) + "</div>"
                          if len(figs_in_row) > 1 else figs_in_row[0])
        if not blocks:
            continue
        secno += 1
        notes = _stage_notes(stages, stage_names)
        body.append(f'<section id="{sec_id}"><h2><span class="secnum">{secno}.</span>{html.escape(heading)}</h2>\n'
                    + "\n".join(blocks) + ("\n" + notes if notes else "") + "\n</section>")
        toc.append(f'<a href="#{sec_id}">{html.escape(heading)}</a>')

    # stand-alone LaTeX and Word versions of every CSV table (numbered as in the report; others after them)
    nxt = num.table
    tdir = out / "tables"
    for name in sorted(tables):
        if name not in num.tables:
            nxt += 1
            num.tables[name] = nxt
        t = tables[name]
        (tdir / f"{name}.tex").write_text(to_latex(t, num.tables[name]), encoding="utf-8", newline="\n")
        (tdir / f"{name}.html").write_text(to_word_html(t, num.tables[name]), encoding="utf-8", newline="\n")

    version = manifest.get("vccscale")
    if version is None:
        from .. import __version__ as version
    meta_rows = [("Study ID", meta["id"]), ("Seed", meta["seed"]), ("vccscale version", version)]
    if manifest.get("finished"):
        meta_rows.append(("Run finished", manifest["finished"]))
    meta_html = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(_plain(v))}</dd>" for k, v in meta_rows)
    footer = _footer(manifest, stages)
    if footer:
        toc.append('<a href="#manifest">Manifest</a>')
    title = str(meta["title"])
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="vccscale {html.escape(str(version))}">
<title>{html.escape(title)} — vccscale report</title>
<style>{CSS}</style>
</head>
<body>
<main>
<header class="title-block" id="top">
<h1>{html.escape(title)}</h1>
<p class="subtitle">Measurement and hypothesis-testing report</p>
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
