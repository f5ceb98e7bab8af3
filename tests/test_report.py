"""The run report (vccscale.report): sections in a methods-section order, readable names, no raw mark-up or JSON,
matrices with the right diagonals, LaTeX and Word tables, determinism, and how it looks in headless Chromium."""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from vccscale.pipeline import STAGES, run_study
from vccscale.report import render_report
from vccscale.report.figures import path_diagram
from vccscale.report.tables import fmt_num, fmt_p

FIXTURE = Path(__file__).parent / "fixtures" / "pipeline"


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("style", "script"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def _parse(path: Path) -> _Collect:
    p = _Collect()
    p.feed(path.read_text(encoding="utf-8"))
    return p


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("study")
    for f in ("study.yaml", "export.csv", "codebook.json"):
        shutil.copy(FIXTURE / f, d / f)
    o = tmp_path_factory.mktemp("run")
    res = run_study(d / "study.yaml", out=o, progress=False)
    assert res.report_written and not res.failed
    return o


def _table_rows(src: str, table_id: str) -> list[list[str]]:
    """The body rows of the table with ``id="table-<table_id>"`` as lists of plain cell texts."""
    part = src.split(f'id="table-{table_id}"')[1].split("</table>")[0].split("<tbody>")[1]
    rows = []
    for tr in part.split("<tr")[1:]:
        cells = re.findall(r"<td[^>]*>(.*?)</td>", tr, flags=re.S)
        rows.append([html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cells])
    return rows


def test_formatting_helpers():
    assert fmt_num(0.05, 2, bounded=True) == ".05"
    assert fmt_num(-0.123, 2, bounded=True) == "\u2212.12"
    assert fmt_num(1.5, 2) == "1.50" and fmt_num(-0.001, 2) == "0.00"
    assert fmt_p(0.0004) == "< .001" and fmt_p(0.0456) == ".046" and fmt_p(0.9999) == "> .999"


@pytest.mark.slow  # 2.5 s or more on the 2-core development machine (the quick suite: -m 'not slow')
def test_sections_overview_and_readable_names(out, registry):
    p = _parse(out / "report.html")
    ids = {a.get("id") for t, a in p.tags if t == "section"}
    assert {"overview", "sample", "items", "efa", "cfa", "reliability", "correlations", "validity", "invariance",
            "hypotheses", "multilevel"} <= ids
    src = (out / "report.html").read_text(encoding="utf-8")
    # every stage is in the overview with its status; skipped ones say why
    rows = {r[0]: r for r in _table_rows(src, "stages")}
    assert set(rows) == set(STAGES)
    assert rows["power"][1].startswith("skipped") and "power.enabled" in rows["power"][2]
    assert all(rows[s][1].startswith("ok") for s in ("import", "clean", "cfa", "reliability", "hypotheses"))
    # readable construct names instead of ids in the construct columns and the decision reasons
    rel = _table_rows(src, "reliability")
    names = {registry.constructs[c].name for c in ("a_drv_joint_marketing", "a_drv_promo_materials",
                                                   "a_align_promo_share")}
    assert {r[0] for r in rel} == names
    dec = _table_rows(src, "hypotheses")
    assert [r[0] for r in dec] == ["H2", "H3"]
    assert not any(re.search(r"\b[abcdx]_[a-z]+_[a-z_]+\b", " ".join(r)) for r in dec)
    # the sample, the measurement design and the missing-data treatment are stated
    text = " ".join(" ".join(p.text).split())
    assert "Questionnaire version: provider" in text and "Relationships (dyads)" in text
    assert "Measurement model:" in text and "Why:" in text and "full-information maximum likelihood" in text
    assert "Estimator, missing data" in text


def test_no_raw_markup_no_raw_json(out):
    page = " ".join(_parse(out / "report.html").text)
    for bad in ("*df*", "^{", "_{", "*p*", "*n*", "*M*", '{"', "': "):
        assert bad not in page, bad
    for tex in (out / "tables").glob("*.tex"):
        body = tex.read_text(encoding="utf-8")
        body = re.sub(r"\\text(superscript|subscript|it|bf)\{", "", body)
        assert "^{" not in body and "_{" not in body and "*df*" not in body and "*p*" not in body, tex.name
    for word in (out / "tables").glob("*.html"):
        q = _Collect()
        q.feed(word.read_text(encoding="utf-8"))
        txt = " ".join(q.text)
        assert "^{" not in txt and "*df*" not in txt and "*p*" not in txt, word.name
        assert any(t == "table" and "style" in a for t, a in q.tags), word.name


def test_matrix_diagonals(out):
    src = (out / "report.html").read_text(encoding="utf-8")
    meas = json.loads((out / "data" / "measurement.json").read_text())
    ave = {c["construct"]: c["ave"] for c in meas["constructs"]}
    order = [c["construct"] for c in meas["constructs"]]
    lat = _table_rows(src, "latent_correlations")
    for i, row in enumerate(lat):  # columns: name, M, SD, 1..k; diagonal = AVE (bold), blank above
        assert row[3 + i] == fmt_num(ave[order[i]], 2, bounded=True)
        assert all(c == "" for c in row[4 + i:])
    ht = _table_rows(src, "htmt")
    for i, row in enumerate(ht):  # columns: name, 1..k; the diagonal and above are blank
        assert all(c == "" for c in row[1 + i:]), row
        assert all(c for c in row[1:1 + i]), row


def test_self_contained_deterministic_and_tables_written(out):
    path = out / "report.html"
    src = path.read_text(encoding="utf-8")
    p = _parse(path)
    imgs = [a for t, a in p.tags if t == "img"]
    assert imgs and all(a["src"].startswith("data:image/png;base64,") for a in imgs)
    assert "http://" not in src and "https://" not in src
    assert not any(t in ("script", "link") for t, _ in p.tags)
    first = path.read_bytes()
    assert render_report(out).read_bytes() == first
    for name in ("hypotheses", "reliability", "cfa_fit", "latent_correlations", "htmt", "stages"):
        tex = (out / "tables" / f"{name}.tex").read_text(encoding="utf-8")
        assert r"\toprule" in tex and r"\bottomrule" in tex and tex.count(r"\begin{tabular}") == 1, name
        assert (out / "tables" / f"{name}.html").exists()


def test_bare_folder(tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "manifest.json").write_text(json.dumps({"vccscale": "0.1.0", "seeds": {"study": 1}}))
    q = _parse(render_report(bare))
    assert {a.get("id") for t, a in q.tags if t == "section"} == set()
    assert "Run Manifest" in " ".join(q.text)


def test_path_diagram_deterministic(tmp_path):
    est = pd.DataFrame([("eng", "=~", "e1", 0.8), ("val", "=~", "v1", 0.8), ("val", "~", "eng", 0.4)],
                       columns=["lhs", "op", "rhs", "std_all"])
    a = path_diagram(est, tmp_path / "a.svg")
    b = path_diagram(est, tmp_path / "b.svg")
    assert a.read_bytes() == b.read_bytes() and "<dc:date>" not in a.read_text(encoding="utf-8")
    names = [f"construct_{i}" for i in range(10)]
    rows = [(n, "=~", f"x{i}", 0.8) for i, n in enumerate(names)]
    rows += [(names[i + 1], "~", names[i], 0.3) for i in range(9)] + [(names[5], "~", names[0], 0.1)]
    path_diagram(pd.DataFrame(rows, columns=["lhs", "op", "rhs", "std_all"]), tmp_path / "ten.png")


def _chromium() -> str | None:
    for c in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(c) if not c.startswith("/") else (c if os.path.exists(c) else None)
        if found:
            return found
    return None


def _flags(profile: Path) -> list[str]:
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}"]


def chromium_check(report: Path, tmp_path: Path, shot: Path) -> dict:
    """Load ``report`` in headless Chromium with a measuring script appended to a copy: which tables and figures
    are wider than their column, and whether the page rendered; then take a screenshot to ``shot``."""
    exe = _chromium()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium not found (CI installs it)")
        pytest.skip("chromium not installed")
    probe = tmp_path / "probe.html"
    script = ("<script>const r={tables:[],figures:[],sections:[]};"
              "document.querySelectorAll('.apa-table').forEach(d=>{if(d.scrollWidth>d.clientWidth+1)"
              "r.tables.push(d.id)});"
              "document.querySelectorAll('figure img').forEach(i=>{if(i.naturalWidth==0)r.figures.push(i.alt)});"
              "document.querySelectorAll('section h2').forEach(h=>r.sections.push(h.textContent));"
              "document.body.setAttribute('data-probe',JSON.stringify(r));</script>")
    probe.write_text(report.read_text(encoding="utf-8").replace("</body>", script + "</body>"), encoding="utf-8")
    res = subprocess.run([exe, *_flags(tmp_path / "p1"), "--window-size=1200,900", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    m = re.search(r'data-probe="([^"]*)"', res.stdout)
    assert m, "the probe did not run"
    found = json.loads(html.unescape(m.group(1)))
    res = subprocess.run([exe, *_flags(tmp_path / "p2"), f"--screenshot={shot}", "--window-size=1200,2400",
                          report.as_uri()], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and shot.exists() and shot.stat().st_size > 10000, res.stderr[-2000:]
    return found


@pytest.mark.slow  # ~5 s (headless Chromium)
def test_report_in_headless_chromium(out, tmp_path):
    shot = Path(os.environ.get("VCCSCALE_REPORT_SCREENSHOT", tmp_path / "report.png"))
    found = chromium_check(out / "report.html", tmp_path, shot)
    assert found["tables"] == [], f"tables wider than the page: {found['tables']}"
    assert found["figures"] == []
    assert any("Hypotheses" in s for s in found["sections"]) and any("Measurement Model" in s
                                                                       for s in found["sections"])


def test_report_renders_results_objects(out, tmp_path):
    """The report renders the results objects it is handed (issue 15), loads from the folder only what they lack,
    and ignores files no stage record lists (leftovers of an earlier run)."""
    from vccscale.report.results import RunResults

    res = RunResults.from_folder(out)
    assert {"hypotheses", "reliability", "cfa_fit"} <= set(res.tables) and "measurement" in res.data
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    objs = RunResults(copy)
    rel = res.table("reliability")
    rel.loc[0, "construct"] = "zz_object_only_construct"
    objs.tables["reliability"] = rel
    html_text = render_report(copy, results=objs).read_text(encoding="utf-8")
    assert "zz_object_only_construct" in html_text  # the object, not tables/reliability.csv, was rendered
    assert "Hypotheses" in html_text  # what the object lacked came from the folder
    # a stale CSV that no stage record lists is not shown
    stale = copy / "tables" / "rsa.csv"
    if not any("tables/rsa.csv" in (json.loads(p.read_text()).get("outputs") or [])
               for p in (copy / "stages").glob("*.json")):
        pd.DataFrame({"hypothesis": ["H99"], "a1": [1.0]}).to_csv(stale, index=False)
        assert "rsa" not in RunResults.from_folder(copy).tables
