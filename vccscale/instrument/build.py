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
  matrices that use their scale, spread evenly over each version's path (choice ids 901, 902, ...).
- "Don't know" is offered as an extra answer (its own code, listed as a missing code) on matrices whose items
  allow it, when the study's ``dont_know`` is true.
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
from .model import (ATTENTION_CHOICE_BASE, PLACEHOLDERS, VERSIONS, Block, Branch, Instrument, Question, ScaleSpec,
                    Statement)

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
        return ScaleSpec(s.id, dict(s.labels), s.dont_know_code if dk else None, s.dont_know_label if dk else None)


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


def build_instrument(reg: Registry, study: Study) -> Instrument:
    if study.instrument is None:
        raise StudyError("the study file has no 'instrument:' section", file=study.path)
    spec = study.instrument
    try:
        constructs = resolve_constructs(reg, spec)
    except StudyError as exc:
        raise StudyError(exc.message, file=study.path, field=exc.field) from None
    notes: list[str] = []
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
    b = _Builder(reg, study, spec)
    wanted = list(spec.versions)
    std = reg.blocks

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
            forms: dict[tuple[str, str | None], list[Item]] = {}
            for i in vitems:
                forms.setdefault((reg.item_scale(i).id, i.stem), []).append(i)
            for (sid, stem), its in forms.items():
                groups.setdefault((gkey, v), []).append((c, sid, stem, its))

    version_order = {v: k for k, v in enumerate(["joint", *wanted])}
    matrices: dict[tuple[str, str], list[Question]] = {}
    for (gkey, v), specs in groups.items():
        qs = []
        first_form: dict[str, str] = {}
        for c, sid, stem, its in specs:
            code = VERSIONS[v][1]
            tag = f"{c.id}_{code}"
            if c.id in first_form and first_form[c.id] != sid:
                tag = f"{tag}_{sid}"
            first_form.setdefault(c.id, sid)
            wkey = VERSIONS[v][0] if v != "joint" else "J"
            stmts = tuple(Statement(choice_id=int(i.id.rsplit("_", 1)[1]), text=i.texts()[wkey], item_id=i.id,
                                    construct=c.id, role="item", reverse=i.reverse) for i in its)
            scale = b.scale(sid, spec.dont_know and any(i.dont_know for i in its))
            if stem:
                text = reg.stems[stem].text
            else:
                inst = INSTRUCTIONS["stakeholder" if v in STAKEHOLDER_CHOICES else v]
                text = inst if sid == "agree7" else inst.split(". ")[0] + ". " + SCALE_INSTRUCTION.get(sid, "")
            rtype = reg.scales[sid].type
            if rtype != "likert" and len(stmts) == 1:
                # a single categorical item (b_bmi_stage) is a multiple-choice question, variable <tag>_<n>
                q = Question(qid="", tag=f"{tag}_{stmts[0].choice_id}", kind="single_choice", text=stmts[0].text,
                             role="item", version=v, scale=scale, statements=stmts, choices=dict(scale.labels))
            else:
                q = Question(qid="", tag=tag, kind="matrix", text=text, role="item", version=v, scale=scale,
                             statements=stmts, randomize=spec.randomize_items, dont_know=scale.dont_know_code
                             is not None)
            qs.append(q)
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
            kind = {"single_choice": "single_choice", "text_entry": "text_entry",
                    "numeric_entry": "numeric_entry"}.get(q.type, "descriptive")
            out.append(Question(qid="", tag=q.id, kind=kind, text=q.text.strip(), role=q.role,
                                choices=dict(q.choices or {}), required=q.required, embedded_data=q.embedded_data))
        return out

    side_versions = [v for v in wanted if v in SIDE_CHOICES]
    role_versions = [v for v in wanted if v in STAKEHOLDER_CHOICES]
    dyadic = bool(side_versions)
    # with a single routed version there is nothing to route: its blocks are shown to everyone
    single_version = len(side_versions) + len(role_versions) <= 1
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
        block_qs.append(("consent", std["consent"].title, None, std_questions("consent"), False))
    if "respondent" in spec.blocks:
        block_qs.append(("respondent", std["respondent"].title, None, std_questions("respondent", respondent_ids),
                         False))
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
        block_qs = _insert_checks(block_qs, checks, spec.attention_checks, [v for v in wanted] or [None])

    # ---- ids ---------------------------------------------------------------------------------------------------
    sid = study.study.id
    for name, title, version, qs, rand in block_qs:
        numbered = tuple(_with_qid(q, b.next_qid()) for q in qs)
        blocks.append(Block(id=_hash_id("BL_", sid, name), name=name, title=title, version=version,
                            questions=numbered, randomize_questions=rand))

    # ---- flow --------------------------------------------------------------------------------------------------
    qid_of = {q.tag: q.qid for bl in blocks for q in bl.questions}
    flow = _flow_with_branches(blocks, qid_of, side_versions, role_versions)

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
    name = spec.name or study.study.title
    if need_groups and "firmographics" not in spec.blocks:
        notes.append("the grouping questions are in the 'firmographics' block, which instrument.blocks leaves out: "
                     "those hypotheses need the group recorded another way (an embedded-data column)")
    return Instrument(name=name, survey_id=_hash_id("SV_", sid), blocks=tuple(blocks), flow=tuple(flow),
                      embedded_fields=tuple(embedded), versions=tuple(wanted), seed=study.seed, study=sid,
                      notes=tuple(notes))


def _with_qid(q: Question, qid: str) -> Question:
    from dataclasses import replace

    return replace(q, qid=qid)


def _placeholder_fields(q: Question) -> set[str]:
    texts = [q.text, *(s.text for s in q.statements)]
    return {PLACEHOLDERS[m] for t in texts for m in re.findall(r"\[(\w+)\]", t) if m in PLACEHOLDERS}


def _insert_checks(block_qs: list, checks: list, n: int, versions: list) -> list:
    """Insert n instructed-response statements into matrices of their scale, spread over each version's path."""
    from dataclasses import replace

    # hosts per version: matrices seen by that version (shared blocks count for every version)
    hosts: dict[str | None, list[tuple[int, int]]] = {}
    for bi, (_name, _title, version, qs, _r) in enumerate(block_qs):
        for qi, q in enumerate(qs):
            if q.kind == "matrix" and q.scale is not None:
                for v in versions:
                    if version is None or version == v:
                        hosts.setdefault(v, []).append((bi, qi))
    placed: dict[tuple[int, int], list[int]] = {}
    for v in versions:
        path = hosts.get(v, [])
        for k in range(n):
            check = checks[k % len(checks)]
            eligible = [h for h in path if block_qs[h[0]][3][h[1]].scale.id == check.scale]
            if not eligible:
                continue
            host = eligible[min(len(eligible) - 1, (k + 1) * len(eligible) // (n + 1))]
            if k in placed.get(host, []):
                continue
            # skip if this check number already sits on this version's path
            if any(k in placed.get(h, []) for h in path):
                continue
            placed.setdefault(host, []).append(k)
    out = [list(x) for x in block_qs]
    counter = 0
    for (bi, qi), ks in sorted(placed.items()):
        q = out[bi][3][qi]
        new = list(q.statements)
        for k in ks:
            counter += 1
            check = checks[k % len(checks)]
            stmt = Statement(choice_id=ATTENTION_CHOICE_BASE + counter, text=check.text, item_id=check.id,
                             role="attention_check", correct=check.correct)
            new.insert(min(len(new), 1 + len(new) // 2), stmt)
        qs = list(out[bi][3])
        qs[qi] = replace(q, statements=tuple(new))
        out[bi][3] = qs
    return [tuple(x) for x in out]


def _flow_with_branches(blocks: list[Block], qid_of: dict[str, str],
                        side_versions: list[str], role_versions: list[str]) -> list[tuple]:
    """Shared blocks in order; version blocks in branches (one branch per version) placed where their first
    block would have been."""
    flow: list[tuple] = []
    pending: dict[str, list[str]] = {}
    emitted = False
    version_blocks = [bl for bl in blocks if bl.version is not None]
    first_version_pos = next((k for k, bl in enumerate(blocks) if bl.version is not None), None)
    for k, bl in enumerate(blocks):
        if bl.version is not None:
            pending.setdefault(bl.version, []).append(bl.id)
            continue
        if first_version_pos is not None and k > first_version_pos and not emitted:
            flow.append(("branches", _branches(version_blocks, qid_of, side_versions, role_versions)))
            emitted = True
        flow.append(("block", bl.id))
        if bl.name == "consent" and "consent" in qid_of:
            flow.append(("end_if", qid_of["consent"], 2))
    if version_blocks and not emitted:
        flow.append(("branches", _branches(version_blocks, qid_of, side_versions, role_versions)))
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
