"""read_qsf: any Qualtrics survey definition (web export or API reply) -> codebook of the export's columns."""
from __future__ import annotations

import copy
import csv
import json
import random
from pathlib import Path

import pytest

from vccscale.errors import DataError
from vccscale.instrument.codebook import Codebook
from vccscale.instrument.model import METADATA_COLUMNS
from vccscale.instrument.qsf_read import annotate_codebook, read_qsf

FIX = Path(__file__).parent / "fixtures" / "qsf"
HANDMADE = FIX / "handmade.qsf"
API = FIX / "api_wrapped.qsf"


def _expected() -> list[tuple[str, str]]:
    with open(FIX / "handmade_expected.csv", newline="", encoding="utf-8") as fh:
        return [(r["variable"], r["import_id"]) for r in csv.DictReader(fh)]


def _load(path: Path = HANDMADE) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _elements(qsf: dict, kind: str) -> list[dict]:
    return [e for e in qsf["SurveyElements"] if e["Element"] == kind]


def _sq(qsf: dict, qid: str) -> dict:
    return next(e for e in _elements(qsf, "SQ") if e["PrimaryAttribute"] == qid)


@pytest.fixture(scope="module")
def handmade() -> Codebook:
    return read_qsf(HANDMADE, block_order="flow")  # expected columns were derived in flow order


# -- the hand-written web export ---------------------------------------------------------------------------------
def test_fixture_is_web_export_style():
    raw = HANDMADE.read_bytes()
    raw.decode("ascii")  # every non-ASCII character escaped as \uXXXX
    assert b"\\u00fc" in raw and b"<\\/" in raw
    qsf = json.loads(raw)
    assert list(qsf) == ["SurveyEntry", "SurveyElements"]
    assert len(qsf["SurveyEntry"]) == 17
    assert _elements(qsf, "QC")[0]["SecondaryAttribute"] == str(len(_elements(qsf, "SQ")))


def test_handmade_columns_exactly(handmade):
    assert [(r.variable, r.import_id) for r in handmade] == _expected()


def test_metadata_rows(handmade):
    meta = handmade.rows[:17]
    assert [(r.variable, r.import_id, r.label, r.type) for r in meta] == [tuple(m) for m in METADATA_COLUMNS]
    assert {r.role for r in meta} == {"metadata"}


def test_likert_matrix_recodes_and_dont_know(handmade):
    r = handmade.by_variable()["sat_speed"]
    assert r.type == "likert" and r.role == "question"
    assert r.value_labels == {11: "Very dissatisfied", 12: "Dissatisfied",
                              13: "Neither satisfied nor dissatisfied", 14: "Satisfied", 15: "Very satisfied",
                              99: "Don't know / not applicable"}
    assert (r.scale_min, r.scale_max) == (11, 15)
    assert r.missing_codes == (99,)
    assert r.question_id == "QID3" and r.block == "Ratings"
    # piped embedded data back to the placeholder, HTML stripped, \u escapes decoded
    assert r.label == "How satisfied are you with [Provider]\u2019s service in Z\u00fcrich? - Speed of response"
    assert r.question_text == "Speed of response"
    assert handmade.by_variable()["sat_quality"].question_text == "Quality of advice"  # &nbsp; collapsed
    assert handmade.by_variable()["sat_facilities"].question_text == "Caf\u00e9 / meeting facilities"


def test_matrix_with_gap_text_entry_and_attention_check(handmade):
    cb = handmade.by_variable()
    assert cb["trust_5"].value_labels[4] == "Agree" and cb["trust_5"].scale_min == 1
    assert cb["trust_5_TEXT"].type == "text"
    chk = cb["trust_901"]
    assert chk.role == "attention_check" and chk.correct_answer == 4
    assert cb["trust_1"].role == "question" and cb["trust_1"].correct_answer is None


def test_question_types(handmade):
    cb = handmade.by_variable()
    assert cb["side"].type == "single_choice"
    assert cb["side"].value_labels == {1: "The provider", 2: "The customer", 4: "Other (please specify)"}
    assert (cb["side"].scale_min, cb["side"].scale_max) == (1, 4)
    assert cb["side_4_TEXT"].type == "text"
    assert [cb[f"channels_{k}"].type for k in (1, 2, 3)] == ["binary"] * 3
    assert cb["channels_3"].label.endswith(" - Face-to-face")
    assert cb["org_code"].type == "text" and cb["comments"].type == "text"
    assert cb["years"].type == "numeric"
    assert cb["effort_2"].type == "slider" and cb["effort_2"].label.endswith(" - The other organisation")
    assert cb["spare"].block == "Spare questions"
    assert "old_q" not in cb and "intro" not in cb


def test_loop_and_merge_prefixes(handmade):
    loops = [r for r in handmade if r.question_id == "QID11"]
    assert [(r.variable, r.import_id) for r in loops] == [("1_use_freq", "1_QID11"), ("2_use_freq", "2_QID11"),
                                                           ("3_use_freq", "3_QID11")]
    assert loops[0].label == "How often do you use [Field-1]?"


def test_embedded_data_last_and_deduplicated(handmade):
    ed = [r for r in handmade if r.role == "embedded_data"]
    assert [r.variable for r in ed] == ["provider_name", "customer_name", "group", "loop_done"]
    assert handmade.rows[-len(ed):] == tuple(ed)


def test_bl_as_list_or_dict():
    qsf = _load()
    bl = _elements(qsf, "BL")[0]
    assert isinstance(bl["Payload"], dict)
    bl["Payload"] = [bl["Payload"][k] for k in sorted(bl["Payload"], key=int)]
    assert [(r.variable, r.import_id) for r in read_qsf(qsf, block_order="flow")] == _expected()


def test_parsed_dict_is_not_modified():
    qsf = _load()
    before = copy.deepcopy(qsf)
    read_qsf(qsf)
    assert qsf == before


def test_display_logic_absent_or_odd():
    qsf = _load()
    p = _sq(qsf, "QID4")["Payload"]
    for odd in (None, "", [], {"0": "nonsense"}, {"Type": "BooleanExpression"}, 7):
        p["DisplayLogic"] = odd
        assert [(r.variable, r.import_id) for r in read_qsf(qsf, block_order="flow")] == _expected()
    del p["DisplayLogic"]
    assert [(r.variable, r.import_id) for r in read_qsf(qsf, block_order="flow")] == _expected()


# -- the API reply --------------------------------------------------------------------------------------------
def test_api_wrapped():
    raw = API.read_text(encoding="utf-8")
    assert raw.startswith('{"meta"') and "\u2013" in raw and "\\/" not in raw
    cb = read_qsf(API)
    assert cb.source == str(API)
    assert cb.variables[17:] == ["consent", "organisation_id", "a_drv_cust_involvement_p_1",
                                 "a_drv_cust_involvement_p_901", "a_drv_cust_involvement_p_2", "marker_1",
                                 "marker_2", "customer_name"]
    r = cb.by_variable()["a_drv_cust_involvement_p_1"]
    assert r.missing_codes == (99,) and (r.scale_min, r.scale_max) == (1, 7)
    assert r.question_text == "We consult [Customer] before we settle the main design choices for a new solution."
    assert r.role == "question" and r.item_id is None  # no registry: naming not decoded
    chk = cb.by_variable()["a_drv_cust_involvement_p_901"]
    assert chk.role == "attention_check" and chk.correct_answer == 3
    assert read_qsf(json.loads(raw)).variables == cb.variables


def test_annotate_with_registry(registry):
    cb = read_qsf(API, registry=registry)
    by = cb.by_variable()
    item = by["a_drv_cust_involvement_p_2"]
    assert (item.item_id, item.construct, item.perspective, item.role, item.indicator) == (
        "a_drv_cust_involvement_02", "a_drv_cust_involvement", "provider", "item", "reflective")
    assert by["a_drv_cust_involvement_p_901"].role == "attention_check"
    assert by["a_drv_cust_involvement_p_901"].correct_answer == 3
    assert by["marker_1"].role == "marker"
    assert by["consent"].role == "consent" and by["organisation_id"].role == "organisation_id"
    assert by["customer_name"].role == "embedded_data"
    assert annotate_codebook(read_qsf(API), registry) == cb


# -- malformed input ----------------------------------------------------------------------------------------------
def _raises(path_or_obj, *fragments: str) -> DataError:
    with pytest.raises(DataError) as ei:
        read_qsf(path_or_obj)
    msg = str(ei.value)
    if isinstance(path_or_obj, Path):
        assert ei.value.file == str(path_or_obj) and path_or_obj.name in msg
    for f in fragments:
        assert f.lower() in msg.lower(), msg
    return ei.value


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return p


def test_truncated_file(tmp_path):
    raw = HANDMADE.read_bytes()
    _raises(_write(tmp_path, "truncated.qsf", raw[: len(raw) // 2]), "truncated")


def test_not_json(tmp_path):
    _raises(_write(tmp_path, "notes.qsf", "SurveyID,SurveyName\nSV_1,Test\n"), "not JSON")


def test_html_error_page(tmp_path):
    page = "<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Please log in</body></html>\n"
    _raises(_write(tmp_path, "download.qsf", page), "HTML")


def test_empty_file(tmp_path):
    _raises(_write(tmp_path, "empty.qsf", ""), "empty")
    _raises(_write(tmp_path, "blank.qsf", "  \n"), "empty")


def test_json_array(tmp_path):
    _raises(_write(tmp_path, "array.qsf", "[1, 2, 3]"), "not a QSF", "array")


def test_other_json_object(tmp_path):
    _raises(_write(tmp_path, "config.qsf", '{"name": "x", "version": 2}'), "not a QSF")


def test_missing_survey_elements(tmp_path):
    qsf = _load()
    del qsf["SurveyElements"]
    err = _raises(_write(tmp_path, "no_elements.qsf", json.dumps(qsf)), "SurveyElements")
    assert err.field == "SurveyElements"


def test_sq_without_payload(tmp_path):
    qsf = _load()
    del _sq(qsf, "QID6")["Payload"]
    _raises(_write(tmp_path, "no_payload.qsf", json.dumps(qsf)), "QID6", "Payload")


def test_matrix_without_answers(tmp_path):
    qsf = _load()
    del _sq(qsf, "QID3")["Payload"]["Answers"]
    _raises(_write(tmp_path, "no_answers.qsf", json.dumps(qsf)), "QID3", "Answers")


def test_api_error_reply(tmp_path):
    reply = {"meta": {"httpStatus": "404 - Not Found", "error": {"errorMessage": "Survey not found"}}}
    _raises(_write(tmp_path, "reply.qsf", json.dumps(reply)), "Survey not found")


def test_missing_file_and_bad_arguments(tmp_path):
    _raises(tmp_path / "nowhere.qsf", "not found")
    with pytest.raises(DataError):
        read_qsf(HANDMADE.read_text(encoding="utf-8"))  # JSON text instead of a path
    with pytest.raises(DataError):
        read_qsf(42)  # type: ignore[arg-type]


def test_not_utf8_and_zip(tmp_path):
    _raises(_write(tmp_path, "latin1.qsf", '{"SurveyName": "Z\u00fcrich"}'.encode("latin-1")), "UTF-8")
    _raises(_write(tmp_path, "export.qsf", b"PK\x03\x04rest-of-zip"), "zip")


# -- fuzz: every damaged QSF gives a Codebook or a DataError, nothing else ------------------------------------------
_REPLACEMENTS = [None, 0, -1, 1.5, "", "x", "QID999", True, False, [], {}, [1, "2"], {"0": {}}, {"Display": 3}]


def _paths(node, prefix=()):
    """Every (container, key) pair in a JSON tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield node, k
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield node, i
            yield from _paths(v, prefix + (i,))


def test_fuzz_damaged_qsf_gives_codebook_or_data_error():
    rng = random.Random(0)
    base = _load()
    outcomes = {"codebook": 0, "error": 0}
    for _ in range(200):
        qsf = copy.deepcopy(base)
        for _ in range(rng.randint(1, 3)):
            spots = list(_paths(qsf))
            if not spots:
                break
            container, key = spots[rng.randrange(len(spots))]
            if isinstance(container, dict) and rng.random() < 0.5:
                del container[key]
            else:
                container[key] = copy.deepcopy(rng.choice(_REPLACEMENTS))
        try:
            result = read_qsf(qsf)
        except DataError as exc:
            assert exc.file, exc
            outcomes["error"] += 1
        else:
            assert isinstance(result, Codebook)
            outcomes["codebook"] += 1
    assert outcomes["codebook"] and outcomes["error"]


def test_block_order_survey_uses_bl_order():
    cb = read_qsf(HANDMADE, block_order="survey")  # BL order: Intro, Ratings, About you, Spare, Loop
    blocks = list(dict.fromkeys(r.block for r in cb if r.block))
    assert blocks == ["Introduction", "Ratings", "About you", "Spare questions", "Channels loop"]
    assert sorted(cb.variables) == sorted(v for v, _ in _expected())
