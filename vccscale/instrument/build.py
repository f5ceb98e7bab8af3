"""Build an :class:`~vccscale.instrument.model.Instrument` from the registry and a study file.

Rules (stated so that a methods section can cite them):

- Constructs: the study's ``families`` (with the shared x_ constructs they use, unless ``include_shared: false``)
  plus ``constructs`` (ids or patterns), minus ``exclude``; a chosen second-order construct brings its
  first-order constructs. Constructs without items of their own (second-order, structural) add no questions.
- Versions: an item is asked in every requested respondent version for which it has a wording: P -> provider,
  C -> customer, S roles -> those stakeholder roles. Joint (J) items are asked of everyone once (one variable,
  the respondent's side is recorded separately). Versions are routed by the respondent block: ``side``
  (provider/customer) and ``stakeholder_role`` questions, as flow branches.
- Blocks: one block per construct group and version. Default groups: the practice of a family A driver
  (e.g. "Diagnosing & Designing"), the second-order parent of a first-order construct, the phase of a family B
  activity (VC and VK items of a phase share one block, stem and scale), otherwise family and role.
  One matrix question per construct, version and scale; statements are the items in bank order (randomised
  within the matrix when ``randomize_items``).
- Attention checks (instructed-response statements from the standard ``attention`` block) are inserted into
  matrices that use their scale, spread evenly over each version's path (choice ids 901, 902, ...), so that every
  version sees ``attention_checks`` of them (an extent-scale check where a version has no agreement matrix).
- "Don't know" is offered as an extra answer (its own code, listed as a missing code) on matrices whose items
  allow it in that version (an item's ``dont_know`` is true, or lists the version's wording key: [C] for a customer
  asked about the provider's own results), when the study's ``dont_know`` is true.
- Consent: the standard consent page, with the study's ``instrument.consent`` values in place of [SPONSOR] etc.
  (unfilled ones stay visible and are warned about) and [MINUTES] = the longest version's estimate, rounded up.
  The survey ends for respondents who do not agree, and after the respondent block for a side no version is for:
  another partner organisation (side 3) unless the study also asks stakeholder roles (then side-3 respondents are
  routed by stakeholder role and do not see joint items, which the provider and customer sides answer), and the
  provider or customer side when only the other side's version is asked.
- Family B (outcome-based BMI, S001): every B question is shown only to respondents who answer Yes to the screener
  ``outcome_contract`` (standard block ``outcome_screen``, before the construct blocks), followed there by the BMI
  stage (b_bmi_stage, in plain words; added whenever phase 2 or 3 questions are asked). A construct of phase k
  (its own or its parent's response-surface phase, or the phase in its id: b_p2_*, b_align_p3, b_p2_outcome) is
  shown only if the arrangement reached phase k: phase 2 unless it ended in phase 1 (stage code 0), phase 3 unless
  it ended in phase 1 or 2 (codes 0, 1); the phase-1 questions, b_iterative_interplay and the phase-free B
  constructs go to everyone past the screener.
- An item paired with a yes/no checklist item (the significance of a compelling event) is shown only when the
  event happened (its checklist item answered Yes).
- Three-form planned missingness (``planned_missing: three_form``; Graham et al. 2006): the reflective Likert items
  of each construct with at least 4 of them go round-robin, in bank order, to the common block X and to blocks A,
  B, C (letters rotating across constructs); a form (embedded field ``form``, drawn at random with even
  presentation before the first construct block) omits one of A, B, C: form 1 omits A, 2 omits B, 3 omits C.
- Display conditions are question or statement display logic in the QSF and ``shown_if`` in the codebook
  (``logic``); an item not shown to a respondent is structurally missing (not applicable).
- Ids are deterministic: QID1.. in survey order; block and survey ids are hashes of the study id, so rebuilding
  the same study gives byte-identical files.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from ..errors import StudyError
from ..registry import Construct, Item, Registry
from ..study import InstrumentSection, Study
from .logic import Condition, Term, all_of
from .model import (ATTENTION_CHOICE_BASE, FORM_FIELD, PLACEHOLDERS, THREE_FORMS, VERSIONS, Block, Branch,
                    Instrument, Question, ScaleSpec, Statement)

STAKEHOLDER_CHOICES = {"staff": 1, "partner_manager": 2, "funder": 3, "employer": 4, "service_user": 5}
SIDE_CHOICES = {"provider": 1, "customer": 2}
INSTRUCTIONS = {
    "provider": "Please think about your work with [Customer]. How far do you agree with each statement?",
    "customer": "Please think about your work with [Provider]. How far do you agree with each statement?",
    "joint": "Please think about the relationship between your organisation and [Partner]. How far do you agree "
             "with each statement?",
    "stakeholder": "Please think about your experience in [Network]. How far do you agree with each statement?",
}
SCALE_INSTRUCTION = {"extent7": "To what extent does each statement apply?",
                     "significance7": "How significant was each event?",
                     "yes_no": "Has each of the following happened?"}


def _hash_id(prefix: str, *parts: str, n: int = 15) -> str:
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    num = int(digest, 16)
    out = []
    for _ in range(n):
        num, r = divmod(num, len(alphabet))
        out.append(alphabet[r])
    return prefix + "".join(out)


def resolve_constructs(reg: Registry, spec: InstrumentSection) -> list[Construct]:
    """The constructs an instrument measures, in registry order."""
    chosen: set[str] = set()
    for fam in spec.families:
        chosen.update(c.id for c in reg.constructs_in(fam, include_shared=spec.include_shared))
    for k, pat in enumerate(spec.constructs):
        ids = reg.expand(pat)
        if not ids:
            raise StudyError(f"no construct matches {pat!r}", field=f"instrument.constructs.{k}")
        chosen.update(ids)
    for k, pat in enumerate(spec.exclude):
        ids = reg.expand(pat)
        if not ids:
            raise StudyError(f"no construct matches {pat!r}", field=f"instrument.exclude.{k}")
        chosen.difference_update(ids)
    # second-order constructs bring their first-order facets
    for cid in list(chosen):
        chosen.update(reg.constructs[cid].lower_order)
    return [c for c in reg.constructs.values() if c.id in chosen]


def hypothesis_needs(reg: Registry, study: Study) -> tuple[list[str], list[str]]:
    """(constructs, grouping questions) the study's chosen hypotheses (``models.hypotheses``) name: what the
    instrument must collect for every chosen hypothesis to be testable. Constructs are those with items (not the
    lvl_* structural entries); grouping questions are the ``group:`` columns that are firmographic questions
    marked ``grouping: true`` in the standard blocks."""
    if study.models is None:
        return [], []
    from ..models.library import select_hypotheses

    try:
        chosen = select_hypotheses(reg, study.models.hypotheses, study.models.families)
    except Exception:  # an unknown id is reported by the hypotheses stage, with the field
        return [], []
    grouping = {q.id for b in reg.blocks.values() for q in b.questions if q.grouping}
    cons: list[str] = []
    groups: list[str] = []
    for h in chosen:
        for ref in h.construct_refs():
            for cid in reg.expand(ref):
                if cid in reg.constructs and reg.items_of(cid) and cid not in cons:
                    cons.append(cid)
        for rel in h.relations:
            g = getattr(rel, "group", None)
            if g in grouping and g not in groups:
                groups.append(g)
    return cons, groups


def default_group(reg: Registry, c: Construct) -> tuple[str, str]:
    """(group key, block title) of a construct."""
    if c.order == "second":  # its own (global) items sit with its first-order facets
        return c.id, c.name
    parent = reg.constructs.get(c.parent) if c.parent else None
    if parent is not None and parent.rsa is not None:
        return f"b_phase{parent.rsa.phase}", f"Phase {parent.rsa.phase} activities"
    if parent is not None:
        return parent.id, parent.name
    if c.family == "A" and "driver" in c.role:
        m = re.search(r"\(([^)]+)\)\s*$", c.name)
        if m:
            return "a_" + re.sub(r"[^a-z0-9]+", "_", m.group(1).lower()).strip("_"), m.group(1)
    role = c.role[0]
    fam = "shared" if c.family == "X" else f"family {c.family}"
    return f"{c.family.lower()}_{role}", f"{role.capitalize()}s ({fam})"


@dataclass
class _Builder:
    reg: Registry
    study: Study
    spec: InstrumentSection
    qn: int = 0
    questions_by_block: dict[str, list[Question]] = field(default_factory=dict)

    def next_qid(self) -> str:
        self.qn += 1
        return f"QID{self.qn}"

    def scale(self, sid: str, dont_know: bool) -> ScaleSpec:
        s = self.reg.scales[sid]
        dk = dont_know and s.dont_know_code is not None
        return ScaleSpec(s.id, dict(s.labels), s.dont_know_code if dk else None, s.dont_know_label if dk else None,
                         dict(s.display) if s.display else None)


def _versions_of(reg: Registry, c: Construct, items: list[Item], wanted: list[str]) -> list[str]:
    keys = set()
    for it in items:
        keys.update(it.texts())
    out = []
    for v in wanted:
        key = VERSIONS[v][0]
        if v != "joint" and key in keys:
            out.append(v)
    if "J" in keys and any(v in wanted for v in ("provider", "customer", "joint")):
        out.append("joint")
    return out


def _b_phase(reg: Registry, c: Construct) -> int | None:
    """The BMI phase (1-3) a family B construct belongs to: its own or its parent's response-surface phase, else
    the phase in its id (b_p2_outcome, b_align_p3); None for constructs of no phase (risk, commitment, stage)."""
    if c.family != "B":
        return None
    if c.rsa is not None and c.rsa.phase:
        return c.rsa.phase
    parent = reg.constructs.get(c.parent) if c.parent else None
    if parent is not None and parent.rsa is not None and parent.rsa.phase:
        return parent.rsa.phase
    m = re.match(r"^b_(?:align_)?p(\d)(?:_|$)", c.id)
    return int(m.group(1)) if m else None


SCREEN_VARIABLE = "outcome_contract"   # the family B screener (standard block outcome_screen)
STAGE_CONSTRUCT = "b_bmi_stage"


def _three_form_blocks(reg: Registry, constructs: list[Construct]) -> dict[str, str]:
    """Item id -> three-form block: of the k >= 4 reflective Likert items of a construct, in bank order, floor(k/4)
    go to the common block X (the 1st, 5th, 9th, ...) and the others in turn to A, B and C (the starting letter
    rotates across constructs so the three blocks stay the same size). Every form then keeps at least 60% of a
    construct's items (k = 5: 3 of 5), and every pair of items is answered together in some form. Constructs with
    fewer than 4 such items, and every other item, stay in X."""
    out: dict[str, str] = {}
    split = 0
    for c in constructs:
        refl = [i for i in reg.items_of(c.id) if i.kind == "reflective" and reg.item_scale(i).type == "likert"]
        if len(refl) < 4:
            continue
        m = 0
        n_x = len(refl) // 4
        for pos, i in enumerate(refl):
            if pos % 4 == 0 and pos // 4 < n_x:
                out[i.id] = "X"
            else:
                out[i.id] = "ABC"[(split + m) % 3]
                m += 1
        split += 1
    return out


def build_instrument(reg: Registry, study: Study) -> Instrument:
    if study.instrument is None:
        raise StudyError("the study file has no 'instrument:' section", file=study.path)
    spec = study.instrument
    try:
        constructs = resolve_constructs(reg, spec)
    except StudyError as exc:
        raise StudyError(exc.message, file=study.path, field=exc.field) from None
    notes: list[str] = []
    warnings: list[str] = []
    need_constructs, need_groups = hypothesis_needs(reg, study) if spec.hypothesis_needs else ([], [])
    have = {c.id for c in constructs}
    excluded = {cid for pat in spec.exclude for cid in reg.expand(pat)}
    # constructs only for family studies: a list of constructs (instrument.constructs) is the researcher's choice
    added = [cid for cid in need_constructs if cid not in have and cid not in excluded] if spec.families else []
    if added:
        extra = set(added)
        for cid in added:
            extra.update(reg.constructs[cid].lower_order)
        constructs = [c for c in reg.constructs.values() if c.id in have | extra]
        notes.append("added constructs the chosen hypotheses name (instrument.hypothesis_needs): " + ", ".join(added))
    if need_groups:
        notes.append("added grouping questions the chosen hypotheses name: " + ", ".join(need_groups))
    # family B: phase 2 and 3 questions are routed by the stage the arrangement reached
    phase_of = {c.id: _b_phase(reg, c) for c in constructs}
    later = sorted(cid for cid, ph in phase_of.items() if (ph or 0) >= 2 and reg.items_of(cid))
    have = {c.id for c in constructs}
    if later and STAGE_CONSTRUCT not in have:
        if STAGE_CONSTRUCT in excluded:
            warnings.append("family B phase 2 and 3 questions are shown to every respondent with an outcome-based "
                            f"arrangement, whatever stage it reached: the study excludes {STAGE_CONSTRUCT}, the "
                            "question that routes them")
        else:
            constructs = [c for c in reg.constructs.values() if c.id in have | {STAGE_CONSTRUCT}]
            notes.append(f"added {STAGE_CONSTRUCT}: phase 2 and 3 questions of family B are shown only for "
                         "arrangements that reached that phase")
    have = {c.id for c in constructs}
    b = _Builder(reg, study, spec)
    wanted = list(spec.versions)
    std = reg.blocks
    side_versions = [v for v in wanted if v in SIDE_CHOICES]
    role_versions = [v for v in wanted if v in STAKEHOLDER_CHOICES]
    dyadic = bool(side_versions)
    network = bool(role_versions) and not dyadic
    # with a single routed version there is nothing to route: its blocks are shown to everyone
    single_version = len(side_versions) + len(role_versions) <= 1
    # joint (J) items are answered by the provider and the customer side (construct map 5.2): in a study that also
    # asks stakeholder roles, respondents of another partner organisation (side 3) do not see them
    side3_cond = Condition((Term("side", "!=", 3),)) if dyadic and role_versions else None
    stage_var = f"{STAGE_CONSTRUCT}_{VERSIONS['joint'][1]}_1" if STAGE_CONSTRUCT in have else None

    def b_condition(c: Construct) -> Condition | None:
        if c.family != "B":
            return None
        terms = [Term(SCREEN_VARIABLE, "=", 1)]
        ph = phase_of.get(c.id)
        if stage_var and ph and ph >= 2:
            # stage codes (bmi_stage4): 0 = ended in phase 1, 1 = ended in phase 2, 2 = ended in phase 3,
            # 3 = ongoing or renewed; phase k was reached unless the arrangement ended in an earlier phase
            terms += [Term(stage_var, "!=", code) for code in range(ph - 1)]
        return Condition(tuple(terms))

    # three-form planned missingness
    forms: dict[int, str] = dict(THREE_FORMS) if spec.planned_missing == "three_form" else {}
    form_of = _three_form_blocks(reg, constructs) if forms else {}
    form_number = {letter: k for k, letter in forms.items()}

    # ---- construct matrices, grouped --------------------------------------------------------------------------
    group_of: dict[str, tuple[str, str]] = {}
    for gname, ids in spec.groups.items():
        for pat in ids:
            for cid in reg.expand(pat):
                group_of[cid] = (gname, gname)
    # (group key, version) -> list of matrix specs, in construct order
    groups: dict[tuple[str, str], list[tuple[Construct, str, str | None, list[Item]]]] = {}
    titles: dict[str, str] = {}
    for c in constructs:
        items = [i for i in reg.items_of(c.id) if spec.global_items or i.kind != "global"
                 or c.identification == "mimic"]
        if not items:
            continue
        gkey, gtitle = group_of.get(c.id) or default_group(reg, c)
        titles[gkey] = gtitle
        for v in _versions_of(reg, c, items, wanted):
            key = VERSIONS[v][0] if v != "joint" else "J"
            vitems = [i for i in items if key in i.texts()]
            # one matrix per (scale, stem)
            forms_of: dict[tuple[str, str | None], list[Item]] = {}
            for i in vitems:
                forms_of.setdefault((reg.item_scale(i).id, i.stem), []).append(i)
            for (sid, stem), its in forms_of.items():
                groups.setdefault((gkey, v), []).append((c, sid, stem, its))

    version_order = {v: k for k, v in enumerate(["joint", *wanted])}
    matrices: dict[tuple[str, str], list[Question]] = {}
    stage_questions: list[Question] = []
    b_present = False
    for (gkey, v), specs in groups.items():
        qs = []
        first_form: dict[str, str] = {}
        code = VERSIONS[v][1]
        wkey = VERSIONS[v][0] if v != "joint" else "J"
        tags = []
        for c, sid, _stem, _its in specs:
            tag = f"{c.id}_{code}"
            if c.id in first_form and first_form[c.id] != sid:
                tag = f"{tag}_{sid}"
            first_form.setdefault(c.id, sid)
            tags.append(tag)
        # where each item of this group and version is asked: (matrix tag, choice id)
        where = {i.id: (tag, int(i.id.rsplit("_", 1)[1])) for (_c, _s, _st, its), tag in zip(specs, tags)
                 for i in its}
        for (c, sid, stem, its), tag in zip(specs, tags):
            b_present = b_present or c.family == "B"
            stmts = []
            for i in its:
                cond = None
                pair = reg.items.get(i.pair) if i.pair else None
                if pair is not None and pair.kind == "checklist" and i.kind != "checklist" and pair.id in where:
                    # rated only when the event happened (its yes/no checklist item answered Yes)
                    ptag, pn = where[pair.id]
                    yes = next((k for k, lab in reg.item_scale(pair).labels.items() if lab.lower() == "yes"), 1)
                    cond = Condition((Term(f"{ptag}_{pn}", "=", yes),))
                block = form_of.get(i.id, "X") if forms else None
                if block in form_number:
                    cond = all_of(cond, Condition((Term(FORM_FIELD, "!=", form_number[block], embedded=True),)))
                stmts.append(Statement(choice_id=int(i.id.rsplit("_", 1)[1]), text=i.texts()[wkey], item_id=i.id,
                                       construct=c.id, role="item", reverse=i.reverse, shown_if=cond,
                                       form_block=block))
            stmts_t = tuple(stmts)
            scale = b.scale(sid, spec.dont_know and any(i.dont_know_for(wkey) for i in its))
            if stem:
                text = reg.stems[stem].text
            else:
                inst_text = INSTRUCTIONS["stakeholder" if v in STAKEHOLDER_CHOICES else v]
                text = (inst_text if sid == "agree7"
                        else inst_text.split(". ")[0] + ". " + SCALE_INSTRUCTION.get(sid, ""))
            qcond = b_condition(c)
            if v == "joint" and side3_cond is not None:
                qcond = all_of(side3_cond, qcond)
            rtype = reg.scales[sid].type
            if rtype != "likert" and len(stmts_t) == 1:
                # a single categorical item (b_bmi_stage) is a multiple-choice question, variable <tag>_<n>
                q = Question(qid="", tag=f"{tag}_{stmts_t[0].choice_id}", kind="single_choice",
                             text=stmts_t[0].text, role="item", version=v, scale=scale, statements=stmts_t,
                             choices=dict(scale.labels), shown_if=qcond, required=c.id == STAGE_CONSTRUCT)
            else:
                q = Question(qid="", tag=tag, kind="matrix", text=text, role="item", version=v, scale=scale,
                             statements=stmts_t, randomize=spec.randomize_items, dont_know=scale.dont_know_code
                             is not None, shown_if=qcond)
            if c.id == STAGE_CONSTRUCT:
                stage_questions.append(q)  # asked first, with the screener, before the phase questions it routes
            else:
                qs.append(q)
        if qs:
            matrices[(gkey, v)] = qs

    # ---- standard blocks ---------------------------------------------------------------------------------------
    def std_questions(bid: str, only: set[str] | None = None) -> list[Question]:
        out = []
        for q in std[bid].questions:
            if only is not None and q.id not in only:
                continue
            if q.grouping and q.id not in need_groups:
                continue  # asked only when a chosen hypothesis compares its groups
            if q.type in ("likert",):
                continue
            if (q.only_if == "dyadic" and not dyadic) or (q.only_if == "network" and not network):
                continue
            kind = {"single_choice": "single_choice", "text_entry": "text_entry",
                    "numeric_entry": "numeric_entry"}.get(q.type, "descriptive")
            text = q.network_text if network and q.network_text else q.text
            out.append(Question(qid="", tag=q.id, kind=kind, text=text.strip(), role=q.role,
                                choices=dict(q.choices or {}), required=q.required, embedded_data=q.embedded_data))
        return out

    respondent_ids = {"organisation_id"}
    if side_versions:
        respondent_ids.add("side")
    if dyadic:
        respondent_ids.add("relationship_id")
    if role_versions:
        respondent_ids.add("stakeholder_role")

    blocks: list[Block] = []
    block_qs: list[tuple[str, str, str | None, list[Question], bool]] = []  # (name, title, version, qs, rand)
    if "consent" in spec.blocks:
        block_qs.append(("consent", std["consent"].title, None, _fill_consent(std_questions("consent"), spec),
                         False))
    if "respondent" in spec.blocks:
        block_qs.append(("respondent", std["respondent"].title, None, std_questions("respondent", respondent_ids),
                         False))
    if "key_informant" in spec.blocks:
        block_qs.append(("key_informant", std["key_informant"].title, None, std_questions("key_informant"), False))
    if b_present or stage_questions:
        from dataclasses import replace as _replace

        screen = [_replace(q, shown_if=side3_cond) for q in std_questions("outcome_screen")]
        stage = [_replace(q, shown_if=all_of(q.shown_if, Condition((Term(SCREEN_VARIABLE, "=", 1),))))
                 for q in stage_questions]
        block_qs.append(("outcome_screen", std["outcome_screen"].title, None, screen + stage, False))
    ordered_groups = list(dict.fromkeys(g for g, _ in matrices))
    for gkey in ordered_groups:
        for v in sorted({v for g, v in matrices if g == gkey}, key=lambda x: version_order.get(x, 99)):
            qs = matrices[(gkey, v)]
            if single_version:
                suffix = ""
            else:
                suffix = f" ({v.replace('_', ' ')} version)" if v != "joint" else " (all respondents)"
            routed = v != "joint" and not single_version
            block_qs.append((f"{gkey}_{VERSIONS[v][1]}", titles[gkey] + suffix, v if routed else None, qs, False))
    if "marker" in spec.blocks:
        mq = std["marker"]
        stmts = tuple(Statement(choice_id=k, text=q.text, item_id=q.id, role="marker")
                      for k, q in enumerate(mq.questions, start=1))
        block_qs.append(("marker", mq.title, None, [Question(qid="", tag="marker", kind="matrix",
                                                             text="How far do you agree with each statement?",
                                                             role="marker", scale=b.scale("agree7", False),
                                                             statements=stmts, randomize=spec.randomize_items)],
                         False))
    if "firmographics" in spec.blocks:
        block_qs.append(("firmographics", std["firmographics"].title, None, std_questions("firmographics"), False))

    # ---- attention checks --------------------------------------------------------------------------------------
    if spec.attention_checks:
        checks = [q for q in std["attention"].questions if q.role == "attention_check"]
        block_qs, missing_checks = _insert_checks(block_qs, checks, spec.attention_checks,
                                                  [v for v in wanted] or [None], set(role_versions))
        for v, k in missing_checks.items():
            warnings.append(f"version {v or 'all'}: only {k} of {spec.attention_checks} attention checks (no matrix "
                            "with an attention check's scale on its path)")

    # ---- ids ---------------------------------------------------------------------------------------------------
    sid = study.study.id
    for name, title, version, qs, rand in block_qs:
        numbered = tuple(_with_qid(q, b.next_qid()) for q in qs)
        blocks.append(Block(id=_hash_id("BL_", sid, name), name=name, title=title, version=version,
                            questions=numbered, randomize_questions=rand))

    # ---- flow --------------------------------------------------------------------------------------------------
    qid_of = {q.tag: q.qid for bl in blocks for q in bl.questions}
    side_labels = next((dict(q.choices or {}) for q in std["respondent"].questions if q.id == "side"), {})
    screen_out = []
    if dyadic and "side" in qid_of:
        served = {SIDE_CHOICES[v] for v in side_versions}
        if "joint" in wanted:
            served |= set(SIDE_CHOICES.values())
        if role_versions:
            served.add(3)
        screen_out = [(code, f"End survey: {label} (no version of this survey is for this side)")
                      for code, label in sorted(side_labels.items()) if code not in served]
    flow = _flow_with_branches(blocks, qid_of, side_versions, role_versions, screen_out, forms)

    text_fields = sorted({f for q in (q for bl in blocks for q in bl.questions)
                          for f in _placeholder_fields(q)})
    # invitation-link fields (prefixed so they never clash with the respondent questions of the same meaning)
    embedded = ["invite_side"] if side_versions else []
    if role_versions:
        embedded.append("invite_stakeholder_role")
    embedded.append("invite_organisation_id")
    if dyadic:
        embedded.append("invite_dyad_id")
    if role_versions:
        embedded.append("invite_network_id")
    embedded += [f for f in text_fields if f not in embedded]
    if forms:
        embedded.append(FORM_FIELD)
    name = spec.name or study.study.title
    if need_groups and "firmographics" not in spec.blocks:
        notes.append("the grouping questions are in the 'firmographics' block, which instrument.blocks leaves out: "
                     "those hypotheses need the group recorded another way (an embedded-data column)")
    inst = Instrument(name=name, survey_id=_hash_id("SV_", sid), blocks=tuple(blocks), flow=tuple(flow),
                      embedded_fields=tuple(embedded), versions=tuple(wanted), seed=study.seed, study=sid,
                      notes=tuple(notes), forms=forms, max_minutes=spec.max_minutes)

    # ---- time estimate, consent duration, warnings ----------------------------------------------------------------
    from .timing import estimate

    est = estimate(inst)
    longest = max(r["estimated_minutes"] for r in est["versions"].values())
    inst = _fill_minutes(inst, longest)
    unfilled = _unfilled_consent(inst)
    if unfilled:
        warnings.append("consent page: not filled in the study file (instrument.consent), shown as written: "
                        + ", ".join(f"{k} [{k.upper()}]" for k in unfilled))
    for v, rec in est["versions"].items():
        if spec.max_minutes is not None and rec["estimated_minutes"] > spec.max_minutes:
            how = ("even with the three-form design (longest form)" if forms else
                   "without planned missingness (instrument.planned_missing: three_form would shorten it)")
            warnings.append(f"version {v}: estimated {rec['estimated_minutes']:g} minutes, over instrument.max_minutes "
                            f"= {spec.max_minutes:g} {how}")
    if forms:
        need = study.cleaning.min_answered if study.cleaning is not None else 0.5
        worst = _three_form_min_share(reg, constructs, form_of)
        if worst is not None and need > worst[1] + 1e-9:
            warnings.append(f"three-form design: a respondent answers only {worst[1]:.2f} of {worst[0]}'s items, "
                            f"below cleaning.min_answered = {need:g}, so planned-missing respondents would get no "
                            "scale score for it")
    from dataclasses import replace

    return replace(inst, warnings=tuple(warnings))


def _three_form_min_share(reg: Registry, constructs: list[Construct], form_of: dict[str, str]
                          ) -> tuple[str, float] | None:
    """(construct, share) of the construct whose respondents answer the smallest share of its items in some form."""
    worst: tuple[str, float] | None = None
    for c in constructs:
        letters = [form_of[i.id] for i in reg.items_of(c.id) if i.id in form_of]
        if not letters or all(x == "X" for x in letters):
            continue
        share = (len(letters) - max(letters.count(x) for x in "ABC")) / len(letters)
        if worst is None or share < worst[1]:
            worst = (c.id, share)
    return worst


CONSENT_KEYS = ("purpose", "sponsor", "ethics_reference", "withdrawal_deadline", "lawful_basis", "storage",
                "retention", "contact", "data_protection_contact")


def _fill_consent(qs: list[Question], spec: InstrumentSection) -> list[Question]:
    """Consent texts with the study's instrument.consent values in place of [SPONSOR] etc."""
    from dataclasses import replace

    values = spec.consent.model_dump()
    out = []
    for q in qs:
        text = q.text
        for k, v in values.items():
            if v:
                text = text.replace(f"[{k.upper()}]", v.strip())
        out.append(replace(q, text=text))
    return out


def _unfilled_consent(inst: Instrument) -> list[str]:
    texts = [q.text for b in inst.blocks if b.name == "consent" for q in b.questions]
    return [k for k in CONSENT_KEYS if any(f"[{k.upper()}]" in t for t in texts)]


def _fill_minutes(inst: Instrument, minutes: float) -> Instrument:
    """The consent page's [MINUTES]: the longest version's estimate, rounded up to whole minutes."""
    import math
    from dataclasses import replace

    n = str(max(1, math.ceil(minutes - 1e-9)))
    blocks = tuple(replace(bl, questions=tuple(replace(q, text=q.text.replace("[MINUTES]", n))
                                               for q in bl.questions)) if bl.name == "consent" else bl
                   for bl in inst.blocks)
    return replace(inst, blocks=blocks)


def _with_qid(q: Question, qid: str) -> Question:
    from dataclasses import replace

    return replace(q, qid=qid)


def _placeholder_fields(q: Question) -> set[str]:
    texts = [q.text, *(s.text for s in q.statements)]
    return {PLACEHOLDERS[m] for t in texts for m in re.findall(r"\[(\w+)\]", t) if m in PLACEHOLDERS}


def _visible_to(q: Question, version: str | None, role_versions: set[str]) -> bool:
    """Whether respondents of ``version`` can see matrix ``q`` (joint questions hidden from side 3 are not on a
    stakeholder version's path)."""
    if version in role_versions and q.shown_if is not None:
        return not any(t.variable == "side" for t in q.shown_if.terms)
    return True


def _insert_checks(block_qs: list, checks: list, n: int, versions: list, role_versions: set[str] | None = None
                   ) -> tuple[list, dict]:
    """Insert instructed-response statements into matrices of their scale, spread over each version's path, so
    that every version's path holds n of them (different checks where there are enough). A check put into a
    block everyone sees counts for every version; it is put into a version's own block instead when it would
    give another version a check twice or more than n. Returns the new blocks and {version: checks placed} for
    versions that got fewer than n (no matrix of a check's scale on their path)."""
    from dataclasses import replace

    role_versions = role_versions or set()

    def hosts(v: str | None, scale: str, own_only: bool = False) -> list[tuple[int, int]]:
        out = []
        for bi, (_name, _title, version, qs, _r) in enumerate(block_qs):
            if own_only and version is None:
                continue
            if version is None or version == v:
                for qi, q in enumerate(qs):
                    if q.kind == "matrix" and q.scale is not None and q.scale.id == scale \
                            and _visible_to(q, v, role_versions):
                        out.append((bi, qi))
        return out

    placed: dict[tuple[int, int], list] = {}
    on_path: dict[str | None, list[str]] = {v: [] for v in versions}

    def pick(eligible: list, k: int) -> tuple[int, int]:
        return eligible[min(len(eligible) - 1, (k + 1) * len(eligible) // (n + 1))]

    for v in versions:
        for k in range(n):
            if len(on_path[v]) >= n:
                break
            rotation = [checks[(k + j) % len(checks)] for j in range(len(checks))]
            fresh = [c for c in rotation if c.id not in on_path[v]]
            for check in fresh + [c for c in rotation if c not in fresh]:
                eligible = hosts(v, check.scale)
                if not eligible:
                    continue
                host = pick(eligible, k)
                shared = block_qs[host[0]][2] is None
                if shared and any(check.id in on_path[u] or len(on_path[u]) >= n for u in versions if u != v):
                    own = hosts(v, check.scale, own_only=True)
                    if not own:
                        continue
                    host, shared = pick(own, k), False
                if any(c.id == check.id for c in placed.get(host, [])):
                    continue
                placed.setdefault(host, []).append(check)
                for u in (versions if shared else [v]):
                    on_path[u].append(check.id)
                break
    out = [list(x) for x in block_qs]
    counter = 0
    for (bi, qi), cs in sorted(placed.items()):
        q = out[bi][3][qi]
        new = list(q.statements)
        for check in cs:
            counter += 1
            stmt = Statement(choice_id=ATTENTION_CHOICE_BASE + counter, text=check.text, item_id=check.id,
                             role="attention_check", correct=check.correct)
            new.insert(min(len(new), 1 + len(new) // 2), stmt)
        qs = list(out[bi][3])
        qs[qi] = replace(q, statements=tuple(new))
        out[bi][3] = qs
    short = {v: len(on_path[v]) for v in versions if len(on_path[v]) < n}
    return [tuple(x) for x in out], short


_PRE_CONSTRUCT = ("consent", "respondent", "key_informant", "outcome_screen")


def _flow_with_branches(blocks: list[Block], qid_of: dict[str, str], side_versions: list[str],
                        role_versions: list[str], screen_out: list[tuple[int, str]] = (),
                        forms: dict[int, str] | None = None) -> list[tuple]:
    """Shared blocks in order; version blocks in branches (one branch per version) placed where their first
    block would have been. The survey ends after the consent block for those who do not agree, and after the
    respondent block for sides no version is for (``screen_out``); with the three-form design, the form is drawn
    at random just before the first construct block."""
    flow: list[tuple] = []
    emitted = False
    draw = bool(forms)
    version_blocks = [bl for bl in blocks if bl.version is not None]
    first_version_pos = next((k for k, bl in enumerate(blocks) if bl.version is not None), None)
    for k, bl in enumerate(blocks):
        if draw and bl.name not in _PRE_CONSTRUCT:
            flow.append(("randomize", FORM_FIELD, tuple(sorted(forms or {}))))
            draw = False
        if bl.version is not None:
            continue
        if first_version_pos is not None and k > first_version_pos and not emitted:
            flow.append(("branches", _branches(version_blocks, qid_of, side_versions, role_versions)))
            emitted = True
        flow.append(("block", bl.id))
        if bl.name == "consent" and "consent" in qid_of:
            flow.append(("end_if", qid_of["consent"], 2, "End survey without consent"))
        if bl.name == "respondent" and "side" in qid_of:
            for code, label in screen_out:
                flow.append(("end_if", qid_of["side"], code, label))
    if version_blocks and not emitted:
        flow.append(("branches", _branches(version_blocks, qid_of, side_versions, role_versions)))
    if draw:
        flow.append(("randomize", FORM_FIELD, tuple(sorted(forms or {}))))
    return flow


def _branches(version_blocks: list[Block], qid_of: dict[str, str], side_versions: list[str],
              role_versions: list[str]) -> tuple[Branch, ...]:
    out = []
    for v in [*side_versions, *role_versions]:
        ids = tuple(bl.id for bl in version_blocks if bl.version == v)
        if not ids:
            continue
        if v in SIDE_CHOICES and "side" in qid_of:
            out.append(Branch(qid=qid_of["side"], choice=SIDE_CHOICES[v], label=f"side = {v}", blocks=ids, version=v))
        elif v in STAKEHOLDER_CHOICES and "stakeholder_role" in qid_of:
            out.append(Branch(qid=qid_of["stakeholder_role"], choice=STAKEHOLDER_CHOICES[v],
                              label=f"stakeholder_role = {v}", blocks=ids, version=v))
    return tuple(out)
