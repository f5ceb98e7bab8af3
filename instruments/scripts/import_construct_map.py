"""Derive the initial construct registry from the design reference ``construct-map.md`` (section 2 tables).

This is how ``instruments/constructs/*.yaml`` was first written (vccscale 0.1). The YAML files are the source of
truth from then on and may be edited by hand; re-running this script overwrites them, so compare with
``git diff`` before committing. Usage::

    python instruments/scripts/import_construct_map.py ../shared/design/construct-map.md instruments/constructs

Parsing rules (what the table columns become):

- role: the construct map's role text is kept in ``role_text``; ``role`` lists the vocabulary terms it contains
  (driver, antecedent, mediator, moderator, condition, outcome, level); "RSA predictor X/Y" is an antecedent with
  an ``rsa`` axis; "first-order (parent P)" takes its parent's role; "(2nd-order)" sets ``order: second``.
- level and wording: terms outside parentheses; parenthetical notes are kept in ``*_text``. "(P perception
  optional)" adds an optional wording; "S (staff)" / "S (managers)" restrict the stakeholder roles.
- measurement: construct-map section 5.1 (reflective; formative for the B activity parents, the T2 motives
  (MIMIC, 2 global items), the twelve c_v* outcomes (MIMIC, 3 global items) and d_compelling_events (index);
  observed for b_bmi_stage; structural for lvl_*).
- provenance: split on ";" and "," outside parentheses; a leading seed code (S000-S004) carries over to the
  following locators; ``(loc: "...")`` phrases become ``loc``, other parentheticals ``note``.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROLE_TERMS = ("driver", "antecedent", "mediator", "moderator", "condition", "outcome", "level")
LEVEL_TERMS = ("micro", "meso", "macro", "dyad", "individual", "organisation", "network")
FAMILY_FILES = {"A": "family_a.yaml", "B": "family_b.yaml", "C": "family_c.yaml", "D": "family_d.yaml",
                "X": "shared_x.yaml"}
HEADERS = {
    "A": "Family A: drivers of resource-integrating practices, their alignment with the customer's value-creating "
         "process, co-created value or co-destruction (seed S002; construct-map 1.A and 2.1).",
    "B": "Family B: value creation (VC) and value capture (VK) activities and their alignment across three business-"
         "model-innovation phases (seed S001; construct-map 1.B and 2.2).",
    "C": "Family C: antecedents, co-creation mechanisms and four VCC dimensions at micro, meso and macro level in "
         "value networks of social purpose organisations (seed S000; construct-map 1.C and 2.3).",
    "D": "Family D: interaction capabilities, co-creation practices and sustained purposeful engagement (seeds S003, "
         "S004; construct-map 1.D and 2.4).",
    "X": "Shared constructs used by two or more families (construct-map 2.5).",
    "lvl": "Structural entries (not latent): the nesting levels and phases that designs record (construct-map 2.6).",
}
VCC_OUTCOME = re.compile(r"^c_v(prop|cre|del|cap)_(micro|meso|macro)$")


def split_top(text: str, seps: str) -> list[str]:
    """Split on any char of ``seps`` that is outside parentheses, brackets and double quotes."""
    out, depth, quote, cur = [], 0, False, []
    for ch in text:
        if ch == '"':
            quote = not quote
        elif not quote and ch in "([":
            depth += 1
        elif not quote and ch in ")]":
            depth -= 1
        if ch in seps and depth == 0 and not quote:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return [x for x in out if x]


def strip_parens(text: str) -> tuple[str, list[str]]:
    notes = re.findall(r"\(([^()]*(?:\([^()]*\)[^()]*)*)\)", text)
    bare = re.sub(r"\([^()]*(?:\([^()]*\)[^()]*)*\)", " ", text)
    return bare, notes


def terms_in(text: str, vocab: tuple[str, ...]) -> list[str]:
    found = []
    for m in re.finditer(r"[a-z]+", text.lower()):
        if m.group(0) in vocab and m.group(0) not in found:
            found.append(m.group(0))
    return found


def parse_provenance(text: str) -> list[dict]:
    out, seed = [], None
    for seg in split_top(text, ";"):
        m = re.match(r"^(S\d{3})\s+(.*)$", seg)
        if m:
            seed, seg = m.group(1), m.group(2)
        if seed is None:
            raise ValueError(f"provenance without seed code: {text!r}")
        for loc in split_top(seg, ","):
            where, notes = strip_parens(loc)
            entry: dict = {"seed": seed, "where": " ".join(where.split())}
            phrases: list[str] = []
            rest: list[str] = []
            for note in notes:
                if "loc:" in note:
                    before, after = note.split("loc:", 1)
                    phrases += re.findall(r'"([^"]+)"', after)
                    if before.strip(" ,;"):
                        rest.append(before.strip(" ,;"))
                else:
                    rest.append(note)
            if phrases:
                entry["loc"] = phrases[0] if len(phrases) == 1 else phrases
            if rest:
                entry["note"] = "; ".join(rest)
            out.append(entry)
    return out


def parse_facets(text: str) -> tuple[list[str], list[str], list[str]]:
    """Returns (facets, lower_order, global_facets)."""
    text = text.strip()
    lower: list[str] = []
    globals_: list[str] = []
    if text.startswith("lower-order:"):
        body = text[len("lower-order:"):]
        lo_part, _, glob_part = body.partition("; optional global items:")
        lower = [x.strip() for x in lo_part.split(",") if x.strip()]
        if glob_part:
            globals_ = [x.strip(" ;") for x in re.split(r"\(\d+\)", glob_part) if x.strip(" ;")]
        return [], lower, globals_
    parts = [x.strip(" ;") for x in re.split(r"\(\d+\)", text) if x.strip(" ;")]
    return parts, lower, globals_


def parse_wording(text: str) -> tuple[list[str], list[str], list[str] | None]:
    codes, optional, roles = [], [], None
    if text.strip() in ("-", ""):
        return codes, optional, roles
    for seg in split_top(text, ";"):
        bare, notes = strip_parens(seg)
        code = bare.strip()
        if code not in ("P+C", "P", "C", "J", "S"):
            raise ValueError(f"unknown wording code {code!r} in {text!r}")
        codes.append(code)
        for note in notes:
            m = re.match(r"^([PC]) perception", note)
            if m:
                optional.append(m.group(1))
            if code == "S" and note == "staff":
                roles = ["staff"]
            if code == "S" and note == "managers":
                roles = ["partner_manager"]
    return codes, optional, roles


def parse_tables(md: str) -> list[dict]:
    section2 = md.split("## 2. Construct tables", 1)[1].split("## 3. Hypotheses", 1)[0]
    rows = []
    for block in re.split(r"\n#### |\n### ", section2):
        if "#### 2.3.6" in block or block.startswith("2.3.6") or block.startswith("2.3.7") or block.startswith("2.7"):
            continue
        for line in block.splitlines():
            if not line.startswith("| ") or line.startswith("| id ") or line.startswith("|---"):
                continue
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            if len(cells) != 9 or not re.match(r"^[a-z][a-z0-9_]*$", cells[0]):
                continue
            rows.append(dict(zip(("id", "name", "fam", "role", "level", "definition", "provenance", "facets",
                                  "wording"), cells)))
    return rows


def to_construct(row: dict, parents_role: dict[str, list[str]]) -> dict:
    cid = row["id"]
    # construct-map 1.A: display names say "resource-integrating", never the abbreviation "RI"
    c: dict = {"id": cid, "name": row["name"].replace("RI practices", "resource-integrating practices")}
    fams = re.findall(r"\b([ABCD])\b", row["fam"])
    if cid.startswith("x_") or len(fams) > 1:
        c["family"] = "X"
        c["families"] = fams
        c["family_text"] = row["fam"]
    else:
        c["family"] = fams[0]
    role_text = row["role"]
    order = None
    parent = None
    rsa = None
    m = re.match(r"^first-order \(parent (\w+)\)$", role_text)
    if m:
        order, parent = "first", m.group(1)
        role = None  # resolved from the parent
    else:
        bare, _ = strip_parens(role_text)
        role = terms_in(bare, ROLE_TERMS)
        if "2nd-order" in role_text:
            order = "second"
        m2 = re.match(r"^RSA predictor ([XY]), phase (\d)", role_text)
        if m2:
            role = ["antecedent"]
            rsa = {"axis": m2.group(1), "phase": int(m2.group(2))}
    c["role"] = role
    c["role_text"] = role_text
    if order:
        c["order"] = order
    if parent:
        c["parent"] = parent
    level_bare, _ = strip_parens(row["level"])
    c["level"] = terms_in(level_bare, LEVEL_TERMS)
    c["level_text"] = row["level"]
    codes, optional, roles = parse_wording(row["wording"])
    c["wording"] = codes
    if optional:
        c["wording_optional"] = optional
    c["wording_text"] = row["wording"]
    if roles:
        c["stakeholder_roles"] = roles
    c["definition"] = row["definition"]
    if cid.startswith("lvl_"):
        c["identifiers"] = [x.strip() for x in row["facets"].split(";")]
        facets, lower, globals_ = [], [], []
    elif cid == "b_bmi_stage":
        facets, lower, globals_ = [row["facets"]], [], []
    else:
        facets, lower, globals_ = parse_facets(row["facets"])
    if facets:
        c["facets"] = facets
    if lower:
        c["lower_order"] = lower
    # measurement (construct-map 5.1)
    if cid.startswith("lvl_"):
        c["measurement"], c["latent"] = "structural", False
    elif cid == "b_bmi_stage":
        c["measurement"], c["latent"] = "observed", False
    elif rsa:
        c["measurement"], c["identification"] = "formative", "composite"
    elif cid.startswith("c_mot_"):
        c["measurement"], c["identification"], c["global_items"] = "formative", "mimic", 2
    elif VCC_OUTCOME.match(cid):
        c["measurement"], c["identification"], c["global_items"] = "formative", "mimic", 3
    elif cid == "d_compelling_events":
        c["measurement"], c["identification"] = "formative", "index"
    else:
        c["measurement"] = "reflective"
    if globals_:
        c["global_facets"] = globals_
    if rsa:
        c["rsa"] = rsa
    c["provenance"] = parse_provenance(row["provenance"])
    return c


def _with_order_first(c: dict) -> dict:
    """Insert order: first / parent after role_text, keeping the key order readable."""
    out: dict = {}
    for k, v in c.items():
        if k in ("order", "parent"):
            continue
        out[k] = v
        if k == "role_text":
            out["order"] = "first"
            out["parent"] = c["parent"]
    return out


class _Dumper(yaml.SafeDumper):
    """Short lists of words and provenance entries in flow style, the rest in block style."""


def _repr_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = all(isinstance(x, str) for x in data) and sum(len(x) + 2 for x in data) < 70 and all(
        len(x) < 40 for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _repr_dict(dumper: yaml.SafeDumper, data: dict) -> yaml.Node:
    flow = set(data) <= {"seed", "where", "loc", "note", "axis", "phase", "partner"}
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow)


_Dumper.add_representer(list, _repr_list)
_Dumper.add_representer(dict, _repr_dict)


def main(map_path: str, out_dir: str) -> None:
    md = Path(map_path).read_text(encoding="utf-8")
    rows = parse_tables(md)
    constructs = [to_construct(r, {}) for r in rows]
    by_id = {c["id"]: c for c in constructs}
    for c in constructs:  # first-order constructs take their parent's role
        if c["role"] is None:
            c["role"] = by_id[c["parent"]]["role"]
    for c in constructs:  # lower-order constructs of a 2nd-order one are its first-order facets
        for child in c.get("lower_order", []):
            by_id[child].setdefault("parent", c["id"])
            if by_id[child].get("order") != "first":
                by_id[child] = _with_order_first(by_id[child])
    constructs = [by_id[c["id"]] for c in constructs]
    # RSA partners: VC (X) and VK (Y) of the same phase
    for c in constructs:
        if "rsa" in c:
            other = "Y" if c["rsa"]["axis"] == "X" else "X"
            partner = [d for d in constructs if "rsa" in d and d["rsa"]["phase"] == c["rsa"]["phase"]
                       and d["rsa"]["axis"] == other]
            c["rsa"]["partner"] = partner[0]["id"]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    groups: dict[str, list[dict]] = {}
    for c in constructs:
        key = "lvl" if c["id"].startswith("lvl_") else ("X" if c["id"].startswith("x_") else c["family"])
        groups.setdefault(key, []).append(c)
    for key, items in groups.items():
        fname = FAMILY_FILES.get(key, "structural.yaml")
        header = (f"# {HEADERS[key]}\n# Derived from the design reference construct-map.md by "
                  "instruments/scripts/import_construct_map.py; edited by hand since. Definitions are vccscale's "
                  "paraphrases.\n# Schema: vccscale.registry.Construct. Ids are stable: never rename; deprecate "
                  "and add a new id.\n")
        body = yaml.dump({"constructs": items}, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=118)
        (out / fname).write_text(header + body, encoding="utf-8")
        print(f"{fname}: {len(items)} constructs")


if __name__ == "__main__":
    main(*sys.argv[1:3])
