"""Write an :class:`Instrument` as a Qualtrics survey file (QSF).

The structure follows what every real QSF has (design reference qualtrics-formats.md, section 12): a
``SurveyEntry`` with its 17 keys, and ``SurveyElements`` with one ``BL`` (blocks, a Default and a Trash block),
``FL`` (flow), ``SO``, ``SCO``, ``STAT``, ``QC``, ``RS``, ``PROJ`` and one ``SQ`` per question. Items are Matrix
Likert single-answer questions whose DataExportTag, choice ids and RecodeValues give exactly the codebook's
variables and codes. Respondent versions are flow branches on the answer to the ``side`` (or
``stakeholder_role``) question; placeholders such as ``[Provider]`` are piped from embedded data
(``${e://Field/provider_name}``) set from the invitation link. Display conditions (``logic``) are question
``DisplayLogic`` or, on matrix statements, ``DisplayLogic`` of the choice; a question whose condition refers to an
earlier question of the same block starts a new page (``Page Break``), since display logic is evaluated when a page
is shown. A single-choice question whose scale has respondent wording (b_bmi_stage) shows that wording and keeps
the codebook's labels as ``VariableNaming`` (SPSS value labels). The three-form design's form is drawn by a
``BlockRandomizer`` (one of three ``EmbeddedData`` elements setting ``form``, even presentation).
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from .logic import Target, display_logic
from .model import PLACEHOLDERS, Block, Branch, Instrument, Question

NULL_DATE = "0000-00-00 00:00:00"


def _pipe(text: str) -> str:
    """[Provider] -> Qualtrics piped text of the embedded data field."""
    return re.sub(r"\[(\w+)\]", lambda m: "${e://Field/" + PLACEHOLDERS[m.group(1)] + "}"
                  if m.group(1) in PLACEHOLDERS else m.group(0), text)


def _html(text: str) -> str:
    return _pipe(html.escape(text, quote=False))


def _validation(force: bool = False, number: bool = False) -> dict:
    settings: dict[str, Any] = {"ForceResponse": "ON" if force else "OFF", "ForceResponseType": "ON",
                                "Type": "None"}
    if number:
        settings.update(Type="ContentType", ContentType="ValidNumber",
                        ValidNumber={"Min": "", "Max": "", "NumDecimals": ""})
    return {"Settings": settings}


def targets(inst: Instrument) -> dict[str, Target]:
    """Export variable -> where it lives in the QSF (for display logic)."""
    out: dict[str, Target] = {}
    for q in inst.questions:
        if q.kind == "matrix" and q.scale is not None:
            ids = {k: str(k) for k in q.scale.labels}
            if q.dont_know and q.scale.dont_know_code is not None:
                ids[q.scale.dont_know_code] = str(max(q.scale.labels) + 1)
            labels = dict(q.scale.labels)
            for st in q.statements:
                out[f"{q.tag}_{st.choice_id}"] = Target(q.qid, st.choice_id, ids, labels)
        elif q.kind == "single_choice":
            labels = {k: (q.scale.shown_label(k) if q.scale is not None and k in q.scale.labels else v)
                      for k, v in q.choices.items()}
            out[q.tag] = Target(q.qid, None, {k: str(k) for k in q.choices}, labels)
    return out


def _question_payload(q: Question, where: dict[str, Target] | None = None) -> dict:
    where = where or {}
    base: dict[str, Any] = {
        "QuestionText": _html(q.text),
        "DataExportTag": q.tag,
        "QuestionID": q.qid,
        "QuestionDescription": q.text[:99] + ("..." if len(q.text) > 99 else ""),
        "Configuration": {"QuestionDescriptionOption": "UseText"},
        "Language": [],
        "DataVisibility": {"Private": False, "Hidden": False},
    }
    if q.kind == "matrix":
        sc = q.scale
        assert sc is not None
        answers = {str(k): {"Display": lab} for k, lab in sorted(sc.labels.items())}
        recode = {str(k): str(k) for k in sorted(sc.labels)}
        order = [int(k) for k in sorted(sc.labels)]
        if q.dont_know and sc.dont_know_code is not None:
            dk_id = str(max(sc.labels) + 1)
            answers[dk_id] = {"Display": sc.dont_know_label or "Don't know"}
            recode[dk_id] = str(sc.dont_know_code)
            order.append(int(dk_id))
        base.update(
            QuestionType="Matrix", Selector="Likert", SubSelector="SingleAnswer",
            Configuration={"QuestionDescriptionOption": "UseText", "TextPosition": "inline",
                           "ChoiceColumnWidth": 40, "RepeatHeaders": "none", "WhiteSpace": "OFF",
                           "MobileFirst": True},
            Choices={str(s.choice_id): _choice(s.text, s.shown_if, where) for s in q.statements},
            ChoiceOrder=[s.choice_id for s in q.statements],
            Answers=answers, AnswerOrder=order, RecodeValues=recode, ChoiceDataExportTags=False,
            Validation=_validation(), NextChoiceId=max(s.choice_id for s in q.statements) + 1,
            NextAnswerId=max(order) + 1,
        )
        if q.randomize:
            base["Randomization"] = {"Advanced": None, "TotalRandSubset": "", "Type": "All"}
    elif q.kind == "single_choice":
        shown = {k: (q.scale.shown_label(k) if q.scale is not None and k in q.scale.labels else v)
                 for k, v in q.choices.items()}
        base.update(QuestionType="MC", Selector="SAVR", SubSelector="TX",
                    Choices={str(k): {"Display": _html(v)} for k, v in sorted(shown.items())},
                    ChoiceOrder=[int(k) for k in sorted(q.choices)],
                    RecodeValues={str(k): str(k) for k in sorted(q.choices)},
                    Validation=_validation(force=q.required), NextChoiceId=max(q.choices) + 1)
        if shown != q.choices:  # respondents see plain words; the codes' labels stay the value labels
            base["VariableNaming"] = {str(k): v for k, v in sorted(q.choices.items())}
    elif q.kind in ("text_entry", "numeric_entry"):
        base.update(QuestionType="TE", Selector="SL", Validation=_validation(number=q.kind == "numeric_entry"),
                    DefaultChoices=False)
        if q.embedded_data:
            base["Configuration"]["InputWidth"] = 200
    else:
        base.update(QuestionType="DB", Selector="TB", Choices={}, ChoiceOrder=[], Validation=_validation())
    if q.shown_if is not None:
        base["DisplayLogic"] = display_logic(q.shown_if, where.get)
    return base


def _choice(text: str, cond: Any, where: dict[str, Target]) -> dict:
    out: dict[str, Any] = {"Display": _html(text)}
    if cond is not None:
        out["DisplayLogic"] = display_logic(cond, where.get)
    return out


def _refers(q: Question) -> set[str]:
    """Variables the display conditions of a question (and of its statements) refer to."""
    out = set(q.shown_if.variables) if q.shown_if is not None else set()
    for st in q.statements:
        if st.shown_if is not None:
            out.update(st.shown_if.variables)
    return out


def _block_elements(bl: Block) -> list[dict]:
    """Questions of a block, with a page break before a question whose display depends on an earlier one."""
    out: list[dict] = []
    seen: set[str] = set()
    for q in bl.questions:
        if out and _refers(q) & seen:
            out.append({"Type": "Page Break"})
        out.append({"Type": "Question", "QuestionID": q.qid})
        seen.update(c for c, _iid, _s in q.columns())
        seen.add(q.tag)
    return out


def _branch_logic(qid: str, choice: int, label: str) -> dict:
    loc = f"q://{qid}/SelectableChoice/{choice}"
    return {"0": {"0": {"LogicType": "Question", "QuestionID": qid, "QuestionIsInLoop": "no",
                        "ChoiceLocator": loc, "Operator": "Selected", "QuestionIDFromLocator": qid,
                        "LeftOperand": loc, "Type": "Expression",
                        "Description": f"<span class=\"ConjDesc\">If</span> {html.escape(label)} is selected"},
                  "Type": "If"},
            "Type": "BooleanExpression"}


def qsf_dict(inst: Instrument) -> dict:
    sid = inst.survey_id
    rs = "RS_" + sid[3:]
    elements: list[dict] = []

    def element(kind: str, primary: str, secondary: str | None, payload: Any, tertiary: Any = None) -> None:
        elements.append({"SurveyID": sid, "Element": kind, "PrimaryAttribute": primary,
                         "SecondaryAttribute": secondary, "TertiaryAttribute": tertiary, "Payload": payload})

    blocks_payload = [{"Type": "Default", "Description": "Default Question Block", "ID": "BL_" + sid[3:],
                       "SubType": "", "BlockElements": []}]
    for bl in inst.blocks:
        entry: dict[str, Any] = {"Type": "Standard", "SubType": "", "Description": bl.name, "ID": bl.id,
                                 "BlockElements": _block_elements(bl),
                                 "Options": {"BlockLocking": "false", "RandomizeQuestions": "false",
                                             "BlockVisibility": "Expanded"}}
        blocks_payload.append(entry)
    blocks_payload.append({"Type": "Trash", "Description": "Trash / Unused Questions", "ID": "BL_T" + sid[4:],
                           "BlockElements": []})
    element("BL", "Survey Blocks", None, blocks_payload)

    counter = [1]

    def fid() -> str:
        counter[0] += 1
        return f"FL_{counter[0]}"

    flow: list[dict] = [{"Type": "EmbeddedData", "FlowID": fid(), "EmbeddedData": [
        {"Description": f, "Type": "Recipient", "Field": f, "VariableType": "String", "DataVisibility": [],
         "AnalyzeText": False} for f in inst.embedded_fields]}]
    for node in inst.flow:
        if node[0] == "block":
            flow.append({"Type": "Block", "ID": node[1], "FlowID": fid(), "Autofill": []})
        elif node[0] == "end_if":
            qid, choice = node[1], node[2]
            desc = node[3] if len(node) > 3 else "End survey without consent"
            flow.append({"Type": "Branch", "FlowID": fid(), "Description": desc,
                         "BranchLogic": _branch_logic(qid, choice, "no consent" if len(node) <= 3
                                                      or desc == "End survey without consent" else desc),
                         "Flow": [{"Type": "EndSurvey", "FlowID": fid()}]})
        elif node[0] == "randomize":
            _, field, values = node
            rid = fid()
            flow.append({"Type": "BlockRandomizer", "FlowID": rid, "SubSet": "1", "EvenPresentation": True,
                         "Flow": [{"Type": "EmbeddedData", "FlowID": fid(), "EmbeddedData": [
                             {"Description": field, "Type": "Custom", "Field": field, "VariableType": "String",
                              "DataVisibility": [], "AnalyzeText": False, "Value": str(v)}]} for v in values]})
        elif node[0] == "branches":
            br: Branch
            for br in node[1]:
                flow.append({"Type": "Branch", "FlowID": fid(), "Description": br.label,
                             "BranchLogic": _branch_logic(br.qid, br.choice, br.label),
                             "Flow": [{"Type": "Block", "ID": b, "FlowID": fid(), "Autofill": []}
                                      for b in br.blocks]})
    element("FL", "Survey Flow", None, {"Type": "Root", "FlowID": "FL_1", "Flow": flow,
                                        "Properties": {"Count": counter[0] + 1}})
    element("SO", "Survey Options", None, {
        "BackButton": "false", "SaveAndContinue": "true", "SurveyProtection": "PublicSurvey",
        "BallotBoxStuffingPrevention": "false", "NoIndex": "Yes", "SecureResponseFiles": "true",
        "SurveyExpiration": "None", "SurveyTermination": "DefaultMessage", "Header": "", "Footer": "",
        "ProgressBarDisplay": "Text", "PartialData": "+1 week", "ValidationMessage": "", "PreviousButton": "",
        "NextButton": "", "SkinLibrary": "qualtrics", "SkinType": "templated", "Skin": "qualtrics",
        "NewScoring": 1})
    element("SCO", "Scoring", None, {"ScoringCategories": [], "ScoringCategoryGroups": [],
                                     "ScoringSummaryCategory": None, "ScoringSummaryAfterQuestions": 0,
                                     "ScoringSummaryAfterSurvey": 0, "DefaultScoringCategory": None,
                                     "AutoScoringCategory": None})
    element("PROJ", "CORE", None, {"ProjectCategory": "CORE", "SchemaVersion": "1.1.0"}, "1.1.0")
    element("STAT", "Survey Statistics", None, {"MobileCompatible": True, "ID": "Survey Statistics"})
    questions = inst.questions
    element("QC", "Survey Question Count", str(len(questions)), None)
    element("RS", rs, "Default Response Set", None)
    where = targets(inst)
    for q in questions:
        payload = _question_payload(q, where)
        element("SQ", q.qid, payload["QuestionDescription"], payload)

    entry = {"SurveyID": sid, "SurveyName": inst.name, "SurveyDescription": None, "SurveyOwnerID": "UR_" + sid[3:],
             "SurveyBrandID": "vccscale", "DivisionID": None, "SurveyLanguage": "EN",
             "SurveyActiveResponseSet": rs, "SurveyStatus": "Inactive", "SurveyStartDate": NULL_DATE,
             "SurveyExpirationDate": NULL_DATE, "SurveyCreationDate": NULL_DATE, "CreatorID": "UR_" + sid[3:],
             "LastModified": NULL_DATE, "LastAccessed": NULL_DATE, "LastActivated": NULL_DATE, "Deleted": None}
    return {"SurveyEntry": entry, "SurveyElements": elements}


def write_qsf(inst: Instrument, path: str | Path) -> Path:
    """Write the QSF as UTF-8 JSON (one line, like Qualtrics' own exports)."""
    p = Path(path)
    p.write_text(json.dumps(qsf_dict(inst), ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    return p


def export_columns(qsf: dict) -> list[str]:
    """Names of the question columns a numeric export of a vccscale-written QSF has (for checks)."""
    out = []
    for el in qsf["SurveyElements"]:
        if el["Element"] != "SQ":
            continue
        p = el["Payload"]
        if p["QuestionType"] == "Matrix":
            out += [f"{p['DataExportTag']}_{c}" for c in p["ChoiceOrder"]]
        elif p["QuestionType"] in ("MC", "TE"):
            out.append(p["DataExportTag"])
    return out


__all__ = ["qsf_dict", "write_qsf", "export_columns", "Block"]
