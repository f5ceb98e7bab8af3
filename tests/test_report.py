"""The run report (vccscale.report): a synthetic output folder per the output-folder contract -> report.html."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from vccscale.report import render_report
from vccscale.report.figures import path_diagram
from vccscale.report.tables import fmt_num, fmt_p


def _write(out: Path, name: str, df: pd.DataFrame) -> None:
    (out / "tables").mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "tables" / f"{name}.csv", index=False)


def _png(path: Path, kind: str = "line") -> None:
    from matplotlib.figure import Figure
    from vccscale.report.figures import save_figure

    fig = Figure(figsize=(4, 3))
    ax = fig.add_subplot()
    ax.plot([1, 2, 3, 4], [3.1, 1.4, 0.9, 0.5], marker="o", label="observed")
    ax.plot([1, 2, 3, 4], [1.3, 1.2, 1.1, 1.0], linestyle="--", label="simulated")
    ax.set_title(kind)
    ax.legend()
    save_figure(fig, path, dpi=60)


ESTIMATES = pd.DataFrame(
    [("engagement", "=~", "eng1", 1.0, 0.0, float("nan"), float("nan"), 0.81),
     ("engagement", "=~", "eng2", 0.95, 0.06, 15.8, 0.0, 0.78),
     ("trust", "=~", "tru1", 1.0, 0.0, float("nan"), float("nan"), 0.84),
     ("value", "=~", "val1", 1.0, 0.0, float("nan"), float("nan"), 0.80),
     ("loyalty", "=~", "loy1", 1.0, 0.0, float("nan"), float("nan"), 0.86),
     ("trust", "~", "engagement", 0.41, 0.07, 5.9, 0.00001, 0.45),
     ("value", "~", "trust", 0.30, 0.08, 3.7, 0.0002, 0.33),
     ("value", "~", "engagement", 0.04, 0.06, 0.7, 0.48, 0.05),
     ("loyalty", "~", "value", -0.12, 0.05, -2.3, 0.021, -0.14),
     ("engagement", "~~", "engagement", 0.6, 0.05, 12.0, 0.0, 1.0)],
    columns=["lhs", "op", "rhs", "est", "se", "z", "pvalue", "std_all"])


def make_out(out: Path, *, full: bool = True) -> Path:
    """A small output folder following the contract; ``full=False`` leaves out EFA, RSA, power and invariance."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(exist_ok=True)
    (out / "stages").mkdir(exist_ok=True)
    manifest = {"vccscale": "0.1.0", "python": "3.11.7", "packages": {"pandas": "3.0.0", "numpy": "2.1.0"},
                "platform": "Linux-x86_64", "study_file": "study.yaml", "study_hash": "ab" * 32,
                "inputs": {"data/raw.csv": "cd" * 32}, "seeds": {"study": 20261124, "bootstrap": 7},
                "started": "2026-01-01T10:00:00+00:00", "finished": "2026-01-01T10:02:00+00:00",
                "run_seconds": 120.4, "stages": ["import", "clean", "items"]}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    for st in ("import", "clean", "items"):
        (out / "stages" / f"{st}.json").write_text(json.dumps(
            {"stage": st, "status": "ok", "seconds": 1.234, "inputs_hash": "ef" * 8, "summary": {"n": 3},
             "notes": ["2 respondents failed the attention check"] if st == "clean" else []}))
    _write(out, "consort", pd.DataFrame({"step": [0, 1, 2, 3], "rule": ["received", "unfinished", "speeder",
                                                                          "attention"],
                                         "excluded": [0, 12, 5, 3], "remaining": [420, 408, 403, 400]}))
    _write(out, "audit_log", pd.DataFrame({"response_id": ["R1", "R2"], "rule": ["speeder", "speeder"],
                                           "value": [110.0, 300.0], "threshold": ["120", "120"],
                                           "flagged": [True, False], "excluded": [True, False]}))
    _write(out, "item_analysis", pd.DataFrame({
        "construct": ["engagement", "engagement"], "perspective": ["customer", "customer"], "item": ["eng1", "eng2"],
        "n": [400, 398], "mean": [5.123, 4.876], "sd": [1.234, 1.3], "skew": [-0.512, -0.3], "kurtosis": [0.25, -0.1],
        "floor_pct": [1.5, 2.0], "ceiling_pct": [12.25, 9.0], "r_drop": [0.6543, 0.5912],
        "alpha_if_deleted": [0.812, 0.83]}))
    _write(out, "reliability", pd.DataFrame({
        "construct": ["engagement", "trust"], "perspective": ["customer", "customer"], "n_items": [4, 3],
        "alpha": [0.8512, 0.05], "alpha_ci_lower": [0.82, 0.01], "alpha_ci_upper": [0.88, 0.09],
        "omega": [0.86, 0.8], "cr": [0.87, 0.81], "ave": [0.63, 0.58]}))
    _write(out, "fornell_larcker", pd.DataFrame({"factor": ["engagement", "trust"], "engagement": [0.79, 0.45],
                                                 "trust": [float("nan"), 0.76]}))
    _write(out, "htmt", pd.DataFrame({"factor": ["engagement", "trust"], "engagement": [float("nan"), 0.52],
                                      "trust": [float("nan"), float("nan")]}))
    _write(out, "cfa_fit", pd.DataFrame({"measure": ["chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci_lower",
                                                     "rmsea_ci_upper", "srmr", "aic", "bic"],
                                         "value": [85.123, 48, 0.0004, 0.9712, 0.962, 0.044, 0.028, 0.059, 0.0391,
                                                   12345.678, 12456.1]}))
    _write(out, "cfa_estimates", ESTIMATES)
    _write(out, "hypotheses", pd.DataFrame({
        "id": ["H1", "H2", "H3", "H4"], "family": ["A", "A", "B", "B"],
        "statement": ["Engagement increases trust", "Trust increases value", "Value lowers loyalty",
                      "Value & trust <interact>"],
        "test": ["sem path", "sem path", "sem path", "moderation"],
        "parameters": ["beta = 0.45 [0.31, 0.58]", "beta = 0.33 [0.17, 0.49]; r2 = 0.11 [0.05, 0.2]",
                       "beta = -0.14 [-0.26, -0.02]", ""],
        "pvalue": [0.00001, 0.05, 0.021, float("nan")], "pvalue_adjusted": [0.00003, 0.1, 0.042, float("nan")],
        "decision": ["supported", "partial", "not_supported", "not_tested"],
        "reason": ["1 of 1 directional part(s) significant", "adjusted p above alpha", "opposite sign",
                   "no moderator"],
        "exploratory": [False, False, True, False]}))
    _write(out, "multilevel", pd.DataFrame({"construct": ["engagement"], "icc1": [0.12], "icc2": [0.61],
                                            "rwg_j_mean": [0.81], "rwg_j_median": [0.84], "share_rwg_70": [0.77],
                                            "ad_mean": [0.72], "verdict": ["aggregation justified"]}))
    path_diagram(ESTIMATES, out / "figures" / "path_diagram.png")
    if full:
        _write(out, "efa_loadings", pd.DataFrame({"item": ["eng1", "eng2", "tru1"], "F1": [0.71, 0.65, 0.12],
                                                  "F2": [0.05, -0.29, 0.68], "h2": [0.52, 0.47, 0.49]}))
        _write(out, "efa_scree", pd.DataFrame({"factor": [1, 2, 3], "observed": [3.1, 1.4, 0.9],
                                               "simulated": [1.3, 1.2, 1.1]}))
        _png(out / "figures" / "efa_scree.png", "scree")
        _write(out, "invariance", pd.DataFrame({
            "model": ["configural", "metric"], "chisq": [120.5, 130.2], "df": [96, 104], "cfi": [0.97, 0.968],
            "rmsea": [0.04, 0.041], "srmr": [0.04, 0.045], "compare": [float("nan"), "configural"],
            "chisq_diff": [float("nan"), 9.7], "df_diff": [float("nan"), 8], "pvalue": [float("nan"), 0.29],
            "delta_cfi": [float("nan"), -0.002], "delta_rmsea": [float("nan"), 0.001]}))
        _write(out, "rsa", pd.DataFrame({"parameter": ["b1", "b2", "a1", "X0"], "est": [0.21, -0.05, 0.16, 1.5],
                                         "se": [0.05, 0.04, 0.06, 0.8], "pvalue": [0.0001, 0.2, 0.008, 0.06]}))
        _png(out / "figures" / "rsa_surface.png", "surface")
        _png(out / "figures" / "rsa_contour.png", "contour")
        _write(out, "power", pd.DataFrame({"n": [100, 200, 300], "target": ["H1", "H1", "H1"],
                                           "power": [0.45, 0.78, 0.93], "converged": [0.99, 1.0, 1.0],
                                           "bias": [0.004, 0.002, -0.001], "coverage": [0.94, 0.95, 0.95]}))
        _png(out / "figures" / "power_curve.png", "power")
    return out


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.h2: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "h2":
            self._in_h2, self._buf = True, []

    def handle_endtag(self, tag):
        if tag == "h2" and self._in_h2:
            self._in_h2 = False
            self.h2.append("".join(self._buf).strip())

    def handle_data(self, data):
        self.text.append(data)
        if self._in_h2:
            self._buf.append(data)


def _parse(path: Path) -> _Collect:
    p = _Collect()
    p.feed(path.read_text(encoding="utf-8"))
    p.close()
    return p


def _section_ids(p: _Collect) -> set[str]:
    return {a.get("id") for t, a in p.tags if t == "section"}


ALL_SECTIONS = {"sample", "items", "reliability-validity", "efa", "cfa", "path-diagram", "invariance", "hypotheses",
                "rsa", "multilevel", "power"}


@pytest.fixture
def full_out(tmp_path) -> Path:
    return make_out(tmp_path / "out")


def test_formatting_helpers():
    assert fmt_num(0.05, 2, bounded=True) == ".05"
    assert fmt_num(-0.123, 2, bounded=True) == "\u2212.12"
    assert fmt_num(1.5, 2) == "1.50" and fmt_num(-0.001, 2) == "0.00"
    assert fmt_p(0.0004) == "< .001" and fmt_p(0.0456) == ".046" and fmt_p(0.9999) == "> .999"


def test_report_sections_and_apa(full_out):
    path = render_report(full_out)
    assert path == full_out / "report.html"
    p = _parse(path)
    assert _section_ids(p) == ALL_SECTIONS
    text = " ".join("".join(p.text).split())
    for heading in ("Sample", "Items", "Reliability and Validity", "Hypotheses", "Power", "Path Diagram"):
        assert any(heading in h for h in p.h2), heading
    assert "Run Manifest" in text and "20261124" in text and "0.1.0" in text
    # APA numbers: no leading zero for bounded values, p < .001, thousands separator
    rel = path.read_text(encoding="utf-8").split('id="table-reliability"')[1].split("</table>")[0]
    assert ".05" in rel and "0.05" not in rel and ".85" in rel and "0.85" not in rel
    assert "< .001" in text and ".85" in text and "[.82, .88]" in text
    assert ".971" in text and "12,345.68" in text and "[.028, .059]" in text
    assert "5.12" in text and "\u22120.51" in text         # unbounded: leading zero; true minus sign
    # EFA: small loadings blanked (.12, -.29 and .05 are below .30)
    efa = path.read_text(encoding="utf-8").split('id="table-efa_loadings"')[1].split("</table>")[0]
    assert ".71" in efa and ".12" not in efa and ".29" not in efa
    # Table numbering and notes, CONSORT flow, hypotheses badges, exploratory flag
    assert "Table 1" in text and "Note." in text and "Figure 1" in text
    assert "Responses received" in text and "Analysed" in text and "420" in text and "400" in text
    src = path.read_text(encoding="utf-8")
    for cls in ("badge-supported", "badge-partial", "badge-not-supported", "badge-other"):
        assert cls in src
    assert "exploratory" in text and "H3 \u2020" in text
    assert "Value &amp; trust &lt;interact&gt;" in src       # escaped
    assert "seconds" not in text.lower() or "1.234" not in text  # stage run times are not shown
    assert "1.234" not in text


def test_self_contained_and_deterministic(full_out):
    path = render_report(full_out)
    src = path.read_text(encoding="utf-8")
    p = _parse(path)
    imgs = [a for t, a in p.tags if t == "img"]
    assert len(imgs) == 5 and all(a["src"].startswith("data:image/png;base64,") for a in imgs)
    assert not re.search(r"(?:src|href)\s*=\s*[\"']?(?:https?:)?//", src)
    assert "http://" not in src and "https://" not in src
    assert not any(t == "script" for t, _ in p.tags) and not any(t == "link" for t, _ in p.tags)
    first = path.read_bytes()
    tex1 = (full_out / "tables" / "hypotheses.tex").read_bytes()
    assert render_report(full_out).read_bytes() == first
    assert (full_out / "tables" / "hypotheses.tex").read_bytes() == tex1


def test_latex_and_word_tables(full_out):
    render_report(full_out)
    for csv in (full_out / "tables").glob("*.csv"):
        tex = (full_out / "tables" / f"{csv.stem}.tex").read_text(encoding="utf-8")
        assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex, csv.stem
        assert tex.count(r"\begin{tabular}") == 1 and tex.count(r"\end{table}") == 1
        doc = (full_out / "tables" / f"{csv.stem}.html").read_text(encoding="utf-8")
        q = _Collect()
        q.feed(doc)
        assert any(t == "table" and "style" in a for t, a in q.tags), csv.stem
        assert "<style" not in doc and "class=" not in doc
    tex = (full_out / "tables" / "reliability.tex").read_text(encoding="utf-8")
    assert ".85" in tex and "0.85" not in tex and r"$\alpha$" in tex and r"\textit{Note.}" in tex
    hyp = (full_out / "tables" / "hypotheses.tex").read_text(encoding="utf-8")
    assert r"\textless{} .001" in hyp and r"Value \& trust" in hyp and r"\dag{}" in hyp and "$-$" not in hyp[:0]
    word = (full_out / "tables" / "cfa_fit.html").read_text(encoding="utf-8")
    assert "Table " in word and "&lt; .001" in word and "font-style:italic" in word


def test_missing_sections_are_omitted(tmp_path):
    out = make_out(tmp_path / "partial", full=False)
    p = _parse(render_report(out))
    ids = _section_ids(p)
    assert ids == ALL_SECTIONS - {"efa", "invariance", "rsa", "power"}
    assert not any(h.endswith(("Exploratory Factor Analysis", "Power", "Response Surface Analysis",
                               "Measurement Invariance")) for h in p.h2)
    # a bare folder with only a manifest renders too
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "manifest.json").write_text(json.dumps({"vccscale": "0.1.0", "seeds": {"study": 1}}))
    q = _parse(render_report(bare, study={"study": {"id": "s1", "title": "Bare study", "seed": 5}}))
    assert _section_ids(q) == set()
    assert "Bare study" in "".join(q.text)


def test_path_diagram_deterministic(tmp_path):
    a = path_diagram(ESTIMATES, tmp_path / "a.svg")
    b = path_diagram(ESTIMATES, tmp_path / "b.svg")
    assert a.read_bytes() == b.read_bytes()
    svg = a.read_text(encoding="utf-8")
    assert "<dc:date>" not in svg
    png1 = path_diagram(ESTIMATES, tmp_path / "a.png").read_bytes()
    assert png1 == path_diagram(ESTIMATES, tmp_path / "b.png").read_bytes()
    # ten constructs in a chain with a few skip paths still render
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


def _chrome_flags(profile: Path) -> list[str]:
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}"]


def test_report_in_headless_chromium(full_out, tmp_path):
    exe = _chromium()
    if exe is None:
        msg = "chromium not found"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    path = render_report(full_out)
    res = subprocess.run([exe, *_chrome_flags(tmp_path / "profile"), "--enable-logging=stderr", "--v=0",
                          "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    dom = res.stdout
    for heading in ("Sample", "Items", "Reliability and Validity", "Exploratory Factor Analysis",
                    "Confirmatory Factor Analysis", "Path Diagram", "Measurement Invariance", "Hypotheses",
                    "Response Surface Analysis", "Multilevel Agreement", "Power", "Run Manifest"):
        assert heading in dom, heading
    for bad in ("Uncaught", "ERROR:CONSOLE", "Refused to"):
        assert bad not in res.stderr, res.stderr[-2000:]
    shot = Path(os.environ.get("VCCSCALE_REPORT_SCREENSHOT", tmp_path / "report.png"))
    res = subprocess.run([exe, *_chrome_flags(tmp_path / "profile2"), f"--screenshot={shot}",
                          "--window-size=1200,2000", path.as_uri()], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
