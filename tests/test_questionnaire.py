"""The printable questionnaire (HTML and Markdown) of a small hand-made instrument, and a headless-browser check."""
from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from vccscale.instrument.model import Block, Branch, Instrument, Question, ScaleSpec, Statement
from vccscale.instrument.questionnaire import flow_description, render_html, render_markdown

AGREE = ScaleSpec(id="agree5", labels={1: "Strongly disagree", 2: "Disagree", 3: "Neither agree nor disagree",
                                       4: "Agree", 5: "Strongly agree"},
                  dont_know_code=99, dont_know_label="Don't know")
SIDE_CHOICES = {1: "The provider", 2: "The customer"}

STATEMENTS = (
    Statement(choice_id=1, text="[Provider] consults us before key design decisions are fixed.",
              item_id="a_drv_cust_involvement_01", construct="a_drv_cust_involvement"),
    Statement(choice_id=901, text="Please select 'Agree' for this statement.", item_id="ac_agree",
              role="attention_check", correct=4),
    Statement(choice_id=3, text="We rarely hear from [Provider] between meetings & reviews.",
              item_id="a_drv_cust_involvement_03", construct="a_drv_cust_involvement", reverse=True),
)


def make_instrument() -> Instrument:
    consent = Question(qid="QID1", tag="consent", kind="single_choice", role="consent",
                       text="Do you agree to take part in this study?", choices={1: "I agree", 2: "I do not agree"},
                       required=True)
    side = Question(qid="QID2", tag="side", kind="single_choice", role="respondent_role",
                    text="Which side of the relationship with [Partner] are you on?", choices=SIDE_CHOICES)
    intro = Question(qid="QID3", tag="intro", kind="descriptive", text="Thank you <for> taking part.")
    org = Question(qid="QID4", tag="org_name", kind="text_entry", role="firmographic",
                   text="What is the name of your organisation?")
    employees = Question(qid="QID5", tag="employees", kind="numeric_entry", role="firmographic",
                         text="How many people work in [Organisation]?")
    prov = Question(qid="QID6", tag="a_drv_cust_involvement_c", kind="matrix", version="customer",
                    text="Please think about your work with [Provider]. How far do you agree with each statement?",
                    scale=AGREE, statements=STATEMENTS, randomize=True)
    cust = Question(qid="QID7", tag="b_out_value_p", kind="matrix", version="provider", scale=AGREE, dont_know=True,
                    text="Please think about your work with [Customer]. How far do you agree with each statement?",
                    statements=(Statement(choice_id=1, text="[Customer] gains measurable value from the project.",
                                          item_id="b_out_value_01"),
                                Statement(choice_id=2, text="The results | outcomes are used by [Customer].",
                                          item_id="b_out_value_02")))
    blocks = (
        Block(id="BL_consent0000000", name="consent", title="Consent", version=None, questions=(intro, consent)),
        Block(id="BL_about000000000", name="about", title="About you and [Network]", version=None,
              questions=(side, org, employees)),
        Block(id="BL_provider000000", name="provider_items", title="Provider: working with [Customer]",
              version="provider", questions=(cust,)),
        Block(id="BL_customer000000", name="customer_items", title="Customer: working with [Provider]",
              version="customer", questions=(prov,)),
    )
    flow = (
        ("block", "BL_consent0000000"),
        ("end_unless", "QID1", 1),
        ("block", "BL_about000000000"),
        ("branches", (Branch(qid="QID2", choice=1, label="side = provider", blocks=("BL_provider000000",),
                             version="provider"),
                      Branch(qid="QID2", choice=2, label="side = customer", blocks=("BL_customer000000",),
                             version="customer"))),
    )
    return Instrument(name="VCC pilot <2025>", survey_id="SV_0123456789abcde", blocks=blocks, flow=flow,
                      embedded_fields=("provider_name", "customer_name"), versions=("provider", "customer"),
                      study="pilot_2025")


class _Collector(HTMLParser):
    """Collects start tags (with classes) and checks that every non-void element is closed in order."""

    VOID = {"meta", "br", "col", "hr", "img", "input", "link"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.classes: list[tuple[str, set[str]]] = []
        self.text: list[str] = []
        self.doctype = None

    def handle_decl(self, decl):
        self.doctype = decl

    def handle_starttag(self, tag, attrs):
        self.classes.append((tag, set((dict(attrs).get("class") or "").split())))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}>, open: {self.stack[-3:]}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _parse(doc: str) -> _Collector:
    p = _Collector()
    p.feed(doc)
    p.close()
    return p


@pytest.fixture(scope="module")
def inst() -> Instrument:
    return make_instrument()


@pytest.fixture(scope="module")
def doc(inst) -> str:
    return render_html(inst)


def test_html_parses_and_is_well_nested(doc):
    p = _parse(doc)
    assert p.errors == [] and p.stack == []
    assert p.doctype and p.doctype.lower() == "doctype html"
    assert '<html lang="en">' in doc and '<meta charset="utf-8">' in doc


def test_html_is_self_contained(doc):
    assert "<script" not in doc.lower()
    assert not re.search(r"\b(href|src)\s*=", doc)
    assert "@import" not in doc and "url(" not in doc and "http" not in doc


def test_one_page_per_block(doc, inst):
    p = _parse(doc)
    pages = [c for tag, c in p.classes if tag == "section" and "block-page" in c]
    assert len(pages) == len(inst.blocks) == 4
    assert sum(1 for _, c in p.classes if "title-page" in c) == 1


def test_page_break_and_print_css(doc):
    assert "@page { size: A4; margin: 18mm; }" in doc
    assert "break-after: page" in doc and "page-break-after: always" in doc
    assert "break-inside: avoid" in doc and "table-header-group" in doc
    assert "@media print" in doc and "@media screen" in doc


def test_all_statement_texts_and_titles_appear(doc, inst):
    text = "".join(_parse(doc).text)
    for b in inst.blocks:
        assert b.title in text
        for q in b.questions:
            assert q.text in text
            for s in q.statements:
                assert s.text in text
    assert "Thank you <for> taking part." in text   # escaped in the source, intact as text
    assert "<for>" not in doc


def test_placeholders_marked(doc):
    assert '<mark class="ph">[Provider]</mark> consults us' in doc
    assert '<mark class="ph">[Customer]</mark>' in doc
    assert '<mark class="ph">[Organisation]</mark>' in doc
    assert "[Provider]" not in re.sub(r'<mark class="ph">\[\w+\]</mark>', "", doc.split("</style>")[1])


def test_matrix_rows_metadata(doc):
    text = re.sub(r"\s+", " ", "".join(_parse(doc).text))
    assert "a_drv_cust_involvement_03 · a_drv_cust_involvement_c_3 (R)" in text
    assert "ac_agree · a_drv_cust_involvement_c_901 [attention check]" in text
    assert "a_drv_cust_involvement_01 · a_drv_cust_involvement_c_1" in text
    assert "1. " in text and "3. " in text
    assert "Randomised order" in text
    for label in AGREE.labels.values():
        assert f"{label}" in text
    # the don't-know matrix has one more column than the other; cells hold empty circles
    tables = doc.split('<table class="matrix">')[1:]
    assert len(tables) == 2
    rows = {t.count("<td") // max(1, t.count("<tr") - 1) for t in tables}
    assert rows == {5, 6}
    assert "Don&#x27;t know" in doc and "○" in doc


def test_single_choice_and_entries(doc):
    assert "The provider" in doc and "I do not agree" in doc
    assert doc.count('class="circle"') == 4
    assert 'class="ruled long"' in doc and 'class="ruled short"' in doc


def test_flow_description(inst):
    lines = flow_description(inst)
    joined = "\n".join(lines)
    assert "Respondents who answer 'The provider' at question side see the provider version block " \
           "'Provider: working with [Customer]'." in joined
    assert "Respondents who answer 'The customer' at question side" in joined
    assert "The survey ends for respondents who do not answer 'I agree' at question consent." in joined
    assert lines[0] == "Everyone sees block 'Consent'."


def test_flow_description_end_if_and_unconditional_branch(inst):
    from dataclasses import replace
    flow = (("block", "BL_consent0000000"), ("end_if", "QID1", 2),
            ("branches", (Branch(qid="", choice=0, label="all respondents (provider)",
                                 blocks=("BL_provider000000",), version="provider"),)))
    lines = flow_description(replace(inst, flow=flow))
    assert "The survey ends for respondents who answer 'I do not agree' at question consent." in lines
    assert any(line.startswith("Everyone who answers 'I agree' at question consent sees the provider version")
               for line in lines)
    assert any("Not in the survey flow" in line and "About you" in line for line in lines)


def test_title_page_lists_versions_and_routing(doc):
    title = doc.split('class="page block-page"')[0]
    assert "VCC pilot &lt;2025&gt;" in title and "pilot_2025" in title and "SV_0123456789abcde" in title
    assert "provider" in title and "customer" in title
    assert "Respondents who answer &#x27;The provider&#x27; at question side" in title
    page = doc.split('class="page block-page"')[3]
    assert "Provider version only" in page


def test_markdown(inst):
    md = render_markdown(inst)
    lines = md.splitlines()
    assert sum(1 for line in lines if line.startswith("## ")) == len(inst.blocks)
    assert sum(1 for line in lines if line == "---") == len(inst.blocks)
    # one pipe table per matrix: header row followed by a delimiter row
    delims = [k for k, line in enumerate(lines) if re.fullmatch(r"\|---\|---\|(:-:\|)+", line)]
    assert len(delims) == 2
    for k in delims:
        assert "Strongly disagree (1)" in lines[k - 1]
        assert lines[k - 1].count("|") == lines[k].count("|")
        assert lines[k + 1].count("|") - lines[k + 1].count("\\|") == lines[k].count("|")
    assert "Don't know (99)" in md
    assert "**[Provider]** consults us" in md
    assert "[attention check]" in md and "(R)`" in md
    assert "Respondents who answer 'The provider' at question side" in md
    assert "- ○ The provider (1)" in md
    assert "\\|" in md  # pipe in a statement is escaped
    for k, line in enumerate(lines):  # a "---" after a paragraph line would make a setext heading
        if line == "---":
            assert lines[k - 1] == ""


# --------------------------------------------------------------------------------------------- browser


def _chromium() -> str | None:
    if os.path.exists("/usr/bin/chromium"):
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run_chromium(exe: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile{len(list(tmp_path.glob('profile*')))}"
    profile.mkdir()
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, timeout=60)


@pytest.fixture()
def chromium() -> str:
    exe = _chromium()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium not found (CI installs it)")
        pytest.skip("chromium not installed")
    return exe


@pytest.mark.slow  # 2 s or more on the 2-core development machine (the quick suite: -m 'not slow')
def test_browser_renders_blocks_and_prints_a_page_per_block(chromium, inst, doc, tmp_path):
    page = tmp_path / "questionnaire.html"
    page.write_text(doc, encoding="utf-8")
    url = page.as_uri()

    dom = _run_chromium(chromium, tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr.decode(errors="replace")[-2000:]
    dumped = html.unescape(dom.stdout.decode("utf-8"))
    for b in inst.blocks:
        assert re.sub(r"\[\w+\]", "", b.title) in re.sub(r"<[^>]+>|\[\w+\]", "", dumped)
    assert dumped.count('class="page block-page"') == len(inst.blocks)

    pdf = tmp_path / "questionnaire.pdf"
    res = _run_chromium(chromium, tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", url)
    assert res.returncode == 0 and pdf.exists(), res.stderr.decode(errors="replace")[-2000:]
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf.read_bytes()))
    assert pages >= len(inst.blocks)


@pytest.mark.slow  # ~5 s (headless Chromium)
def test_shipped_example_questionnaire_is_readable_in_a_browser(chromium, tmp_path):
    """The example instrument in instruments/build opens in headless Chromium as a readable questionnaire."""
    from vccscale.instrument import build_instrument
    from vccscale.registry import load_registry
    from vccscale.study import load_study

    repo = Path(__file__).resolve().parents[1]
    page = repo / "instruments" / "build" / "example_study" / "questionnaire.html"
    inst = build_instrument(load_registry(), load_study(repo / "analysis" / "example_study.yaml"))
    dom = _run_chromium(chromium, tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0
    text = re.sub(r"<[^>]+>", " ", html.unescape(dom.stdout.decode("utf-8")))
    for b in inst.blocks:
        assert re.sub(r"\[\w+\]", "", b.title) in re.sub(r"\[\w+\]", "", text)
    # a statement of each version, with the placeholders a reader needs to see
    assert "before we settle the main design choices" in text and "[Customer]" in text and "[Provider]" in text
    pdf = tmp_path / "example.pdf"
    res = _run_chromium(chromium, tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri())
    assert res.returncode == 0 and len(re.findall(rb"/Type\s*/Page(?!s)", pdf.read_bytes())) > len(inst.blocks)


# --------------------------------------------------------------------------------------------- issue 19


def test_routing_notes_estimates_and_unfilled_placeholders(inst):
    """A question with display logic gets a "Shown only if" note naming the answer as respondents see it, a matrix
    row its condition, the title page the time estimate per version, and unfilled consent placeholders are marked."""
    from dataclasses import replace

    from vccscale.instrument.logic import Condition, Term
    from vccscale.instrument.timing import estimate

    screen = Question(qid="QID8", tag="screen", kind="single_choice", role="screener", text="Any contract?",
                      choices={1: "Yes", 2: "No"})
    gated = Question(qid="QID9", tag="b_items_j", kind="matrix", scale=AGREE, text="How far do you agree?",
                     shown_if=Condition((Term("screen", "=", 1),)),
                     statements=(Statement(choice_id=1, text="We agreed early.", item_id="b_x_01"),
                                 Statement(choice_id=2, text="It mattered.", item_id="b_x_02",
                                           shown_if=Condition((Term("screen", "!=", 2),)))))
    info = Question(qid="QID10", tag="consent_about", kind="descriptive", role="info",
                    text="About this study. The study is run by [SPONSOR].")
    blocks = inst.blocks + (Block(id="BL_screen00000000", name="screen", title="Screen", version=None,
                                  questions=(info, screen, gated)),)
    flow = inst.flow + (("block", "BL_screen00000000"),)
    new = replace(inst, blocks=blocks, flow=flow)
    doc = render_html(new)
    assert "Shown only if the answer to screen is \u2018Yes\u2019" in html.unescape(doc)
    assert "[shown only if the answer to screen is not \u2018No\u2019 (2)]" in html.unescape(doc)
    assert '<mark class="todo"' in doc and "<strong>About this study.</strong>" in doc
    est = estimate(new)
    for v, rec in est["versions"].items():
        assert f"about {rec['estimated_minutes']:g}" in doc
    md = render_markdown(new)
    assert "> Shown only if the answer to screen is" in md and "**[SPONSOR]**" in md
    assert "**Estimated time**" in md


def test_randomized_form_in_flow_description(inst):
    from dataclasses import replace

    new = replace(inst, flow=inst.flow + (("randomize", "form", (1, 2, 3)),), forms={1: "A", 2: "B", 3: "C"})
    line = flow_description(new)[-1]
    assert "assigned at random, evenly, to one of forms 1, 2, 3" in line and "form 1 omits block A" in line
