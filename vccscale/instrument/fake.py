"""Synthetic Qualtrics exports of an instrument, for testing the importer, the cleaning stage and the models.

:func:`fake_export` writes a current-format numeric export (qualtrics-formats.md sections 2-5): three header
rows (row 1 the codebook variables, row 2 their labels, row 3 ``{"ImportId":...}`` with ``"timeZone":"Z"`` on
the three date columns), RFC 4180 quoting only where needed (so row 3 is always quoted), CRLF record ends,
UTF-8 without BOM, empty cells for everything not shown or not answered.

The data follow a simple population model: one latent score per construct per respondent, all construct
correlations 0.3, marker items on their own factor correlated 0.1 with every construct, standardised
loadings 0.75, responses cut into the item's scale points with a bell-shaped distribution whose mean lies
slightly above the midpoint, reverse-keyed items mirrored. Careless response types (straightliners,
random responders, speeders), MCAR missing cells, closed partial responses, survey previews and duplicate
submissions can be injected; ``truth`` writes which response is which, so detection can be scored.

Everything random comes from one ``numpy.random.default_rng(seed)``; the same arguments give a
byte-identical file. IP addresses come from the documentation range 192.0.2.0/24 (RFC 5737); firm names,
ids and locations are synthetic, so no file written here holds personal data.
"""
from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..csvsafe import escape_row
from ..errors import DataError
from .codebook import Codebook, CodebookRow
from .model import DATE_COLUMNS, METADATA_COLUMNS, PLACEHOLDERS, VERSION_BY_CODE

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["fake_export", "STAKEHOLDER_CODES"]

# answers to the standard "stakeholder_role" question (instruments/items/blocks.yaml)
STAKEHOLDER_CODES: dict[str, int] = {"staff": 1, "partner_manager": 2, "funder": 3, "employer": 4,
                                     "service_user": 5}
SIDE_CODES: dict[str, int] = {"provider": 1, "customer": 2}

LOADING = 0.75
CONSTRUCT_R = 0.3
MARKER_R = 0.1
ATTENTION_SLIP = 0.02
PARTIAL_SHARE = 0.03
SECONDS_PER_ITEM = 6.0
SPEED_SD = 0.35            # sd of log(duration) around SECONDS_PER_ITEM per answered item
SPEEDER_FACTOR = 0.3       # speeders' durations stay below this share of the median duration
MEAN_SHIFT = 0.35          # latent responses are shifted up so the item mean lies slightly above the midpoint
MONTH_START = datetime(2026, 11, 1)
START_WINDOW = 27 * 86400  # starts fall in 1-27 November 2026, so every date (incl. partials) stays in November
PARTIAL_CLOSE = 86400      # closed partials are recorded a day after their last activity
ID_CHARS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"))
TEXT_ANSWERS = ("No comment", "Good cooperation overall", "Communication could be faster",
                "We meet every month", "Nothing to add", "Works well for us")
NUMERIC_TYPES = ("numeric", "integer", "number", "count", "numeric_entry")
DATE_IMPORT_IDS = ("startDate", "endDate", "recordedDate")
_MATRIX_VERSION = re.compile(r"_([a-z]{1,2})_\d+$")

# column kinds
META, EMBED, LATENT, CHOICE, NUMERIC, TEXT, CONSENT, ORG, DYAD, EMPTY = (
    "meta", "embed", "latent", "choice", "numeric", "text", "consent", "org", "dyad", "empty")
CARELESS = ("straightliner", "random", "speeder")


@dataclass
class _Col:
    index: int
    row: CodebookRow
    kind: str
    version: str | None = None        # perspective that sees the column; None = everyone
    points: tuple[int, ...] = ()      # valid answer codes (missing codes excluded), ascending
    factor: int | None = None         # latent factor index (LATENT columns of role item/marker)


@dataclass
class _Resp:
    kind: str                          # attentive, straightliner, random, speeder, partial, preview
    side: int
    stakeholder: str | None = None
    dyad: str = ""
    org: str = ""
    names: dict[str, str] = field(default_factory=dict)   # placeholder embedded fields
    cells: list[str] = field(default_factory=list)
    duration: int = 0
    progress: int = 100
    response_id: str = ""
    start: int = 0                     # seconds after MONTH_START
    ip: str = ""
    lat: str = ""
    lon: str = ""
    duplicate_of: str | None = None
    answered: int = 0
    missing_cells: int = 0
    given: dict | None = None          # item id -> answer from a population model (fake_export answers=)


def _count(share: float, n: int) -> int:
    return int(math.floor(share * n + 0.5))


def _check_args(n, seed, shares: dict[str, float], previews, duplicates) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise DataError(f"n must be a positive integer, not {n!r}", field="n")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DataError(f"seed must be a non-negative integer, not {seed!r}", field="seed")
    for name, v in shares.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v < 1.0:
            raise DataError(f"{name} must be a share in [0, 1), not {v!r}", field=name)
    careless = sum(_count(shares[k], n) for k in ("straightliners", "random_responders", "speeders"))
    if careless > n:
        raise DataError(f"straightliners + random_responders + speeders ({careless}) exceed n ({n})",
                        field="straightliners")
    if shares["speeders"] >= 0.5:
        raise DataError("speeders must be fewer than half of the respondents (their durations are defined "
                        "relative to the median)", field="speeders")
    for name, v in (("previews", previews), ("duplicates", duplicates)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise DataError(f"{name} must be a non-negative integer, not {v!r}", field=name)
    if duplicates > n:
        raise DataError(f"cannot duplicate {duplicates} of {n} responses", field="duplicates")


# ---------------------------------------------------------------------------------------------------------------
# columns
# ---------------------------------------------------------------------------------------------------------------
def _points(r: CodebookRow) -> tuple[int, ...]:
    miss = set(r.missing_codes)
    if r.value_labels:
        pts = [c for c in r.value_labels if c not in miss]
        if r.scale_min is not None and r.scale_max is not None:
            inside = [c for c in pts if r.scale_min <= c <= r.scale_max]
            pts = inside or pts
        return tuple(sorted(pts))
    if r.scale_min is not None and r.scale_max is not None and r.scale_max >= r.scale_min:
        return tuple(c for c in range(r.scale_min, r.scale_max + 1) if c not in miss)
    return ()


def _classify(cb: Codebook, version_column: str) -> tuple[list[_Col], list[str]]:
    """Kind, version and scale points of every column; the latent factors (constructs, then the marker)."""
    meta_ids = {iid for _, iid, _, _ in METADATA_COLUMNS}
    meta_names = {v for v, _, _, _ in METADATA_COLUMNS}
    # perspective of a matrix, so attention checks inside a version's matrix inherit it
    q_version: dict[str, str] = {}
    for r in cb.rows:
        if r.role == "item" and r.perspective and r.question_id:
            q_version.setdefault(r.question_id, r.perspective)
    factors: list[str] = []
    fidx: dict[str, int] = {}
    cols: list[_Col] = []
    marker_key = "\0marker"
    for i, r in enumerate(cb.rows):
        pts = _points(r)
        version = r.perspective or (q_version.get(r.question_id) if r.question_id else None)
        if version is None and r.role in ("attention_check", "marker"):
            m = _MATRIX_VERSION.search(r.variable)
            if m and m.group(1) in VERSION_BY_CODE:
                version = VERSION_BY_CODE[m.group(1)]
        if version == "joint":
            version = None
        col = _Col(i, r, EMPTY, version, pts)
        if r.role == "metadata" or (r.import_id in meta_ids and r.variable in meta_names):
            col.kind = META
        elif r.role == "embedded_data":
            col.kind = EMBED
        elif r.role in ("consent", "screener"):  # screeners answered with their first code (Yes): see fake_export
            col.kind = CONSENT
        elif r.role == "organisation_id":
            col.kind = ORG
        elif r.role == "relationship_id":
            col.kind = DYAD
        elif r.role in ("item", "marker", "attention_check") and len(pts) >= 2:
            col.kind = LATENT
            if r.role != "attention_check":
                key = marker_key if r.role == "marker" else (r.construct or f"\0item:{r.variable}")
                if key not in fidx:
                    fidx[key] = len(factors)
                    factors.append(key)
                col.factor = fidx[key]
        elif pts and r.type not in NUMERIC_TYPES:
            col.kind = CHOICE
        elif r.type in NUMERIC_TYPES:
            col.kind = NUMERIC
        elif r.type == "text" or r.role in ("question", "firmographic", "respondent_role"):
            col.kind = TEXT
        if r.role == "respondent_role" and r.variable in (version_column, "stakeholder_role"):
            col.kind = "side" if r.variable == version_column else "stakeholder"
        cols.append(col)
    return cols, factors


def _factor_cov(factors: list[str]) -> np.ndarray:
    k = len(factors)
    cov = np.full((k, k), CONSTRUCT_R)
    for j, name in enumerate(factors):
        if name == "\0marker":
            cov[j, :] = cov[:, j] = MARKER_R
    np.fill_diagonal(cov, 1.0)
    return cov


def _latent_to_code(x: float, k: int) -> int:
    """Cut a standard-normal response into k categories: equal-width bins on the latent scale with sd about
    k/5 scale points, shifted up so the mean sits slightly above the midpoint (7 points: mean ~4.3, sd ~1.4).
    Returns the position 0..k-1."""
    pos = (k - 1) / 2 + MEAN_SHIFT + x * max(k / 5.0, 0.5)
    return min(max(int(math.floor(pos + 0.5)), 0), k - 1)


# ---------------------------------------------------------------------------------------------------------------
# the export
# ---------------------------------------------------------------------------------------------------------------
def fake_export(codebook: Codebook, n: int, seed: int, out: str | Path, *, straightliners: float = 0.0,
                random_responders: float = 0.0, speeders: float = 0.0, missing: float = 0.0, previews: int = 0,
                duplicates: int = 0, version_column: str = "side", truth: str | Path | None = None,
                partials: float = PARTIAL_SHARE, answers: "pd.DataFrame | None" = None,
                organisations: "list[str] | None" = None) -> dict:
    """Write ``n`` synthetic responses to the instrument ``codebook`` describes as a Qualtrics numeric export.

    Careless types are shares of ``n`` (rounded half up), drawn as disjoint respondent sets; ``partials``
    (default 3%) of the remaining attentive respondents become closed timeouts (Finished 0, Progress
    20-90, later questions empty). ``missing`` empties each item/marker cell of attentive respondents
    independently (MCAR; attention checks stay answered). ``previews`` (Status 1) and ``duplicates`` (copies
    of complete responses with a new ResponseId) are extra rows beyond ``n``. Rows are ordered by
    RecordedDate, as Qualtrics orders them.

    ``answers`` (optional): a DataFrame with one row per respondent (at least ``n`` rows) and item-id columns,
    e.g. ``vccscale.simulate.simulate_data(model, n, ordinal={"points": 7})`` over an instrument's item ids: row
    k gives respondent k's answers to those items in whichever version the respondent gets (rounded and clipped to
    the item's scale; taken as raw answers, so a reverse-keyed item's direction is the population model's). Items
    without a column keep the built-in one-factor-per-construct answers; careless respondents stay careless.

    ``organisations`` (optional): one organisation id per respondent (at least ``n`` entries; respondent k is row k
    of ``answers``; with provider and customer versions, even k are providers and odd k customers), replacing the
    built-in organisations of 3-6 respondents, so a caller that adds organisation-level variance to ``answers``
    controls the nesting. An organisation should hold respondents of one side only. Default: unchanged.

    Display logic (codebook ``shown_if``) is not applied: every question of a respondent's version is answered, and
    screeners (role ``screener``) are answered with their first code (Yes), so the screened blocks are consistent
    with their answers; the three-form ``form`` column gets a random form but no item is left out for it.

    Returns ``{"n", "seed", "rows", "counts": {type: number}, "missing_cells", "path", "truth"}``.
    """
    shares = {"straightliners": straightliners, "random_responders": random_responders, "speeders": speeders,
              "missing": missing, "partials": partials}
    _check_args(n, seed, shares, previews, duplicates)
    if not isinstance(codebook, Codebook) or len(codebook) == 0:
        raise DataError("fake_export needs a non-empty Codebook", field="codebook")
    n, seed, previews, duplicates = int(n), int(seed), int(previews), int(duplicates)
    rng = np.random.default_rng(seed)
    cols, factors = _classify(codebook, version_column)

    # -- respondent versions -------------------------------------------------------------------------------
    perspectives = [c.version for c in cols if c.version is not None and c.kind == LATENT]
    sides_present = [s for s in ("provider", "customer") if s in perspectives]
    roles_present = [r for r in STAKEHOLDER_CODES if r in perspectives]
    if len(sides_present) == 1:
        side_cycle = [SIDE_CODES[sides_present[0]]]
    else:
        side_cycle = [1, 2]
    dyadic = len(side_cycle) == 2

    resps: list[_Resp] = []
    for i in range(n):
        resps.append(_Resp(kind="attentive", side=side_cycle[i % len(side_cycle)]))
    if roles_present:
        for r, k in zip(resps, rng.integers(0, len(roles_present), size=n)):
            r.stakeholder = roles_present[int(k)]

    # -- dyads, organisations, placeholder names ------------------------------------------------------------
    if organisations is not None:
        if isinstance(organisations, (str, bytes)) or len(organisations) < n:
            raise DataError(f"organisations needs one organisation id per respondent ({n})", field="organisations")
        orgs = [str(o) for o in list(organisations)[:n]]
        if any(not o or o in ("nan", "None") for o in orgs):
            raise DataError("organisations: every respondent needs a non-empty organisation id",
                            field="organisations")
    else:
        orgs = None
    _assign_groups(resps, dyadic, bool(sides_present), rng, orgs)

    # -- response types ----------------------------------------------------------------------------------
    order = rng.permutation(n)
    pos = 0
    counts = {"attentive": 0, "straightliner": 0, "random": 0, "speeder": 0, "partial": 0, "preview": previews,
              "duplicate": duplicates}
    for kind, share in (("straightliner", straightliners), ("random", random_responders), ("speeder", speeders)):
        k = _count(share, n)
        for j in order[pos:pos + k]:
            resps[int(j)].kind = kind
        pos += k
        counts[kind] = k
    k = min(_count(partials, n), n - pos)
    for j in order[pos:pos + k]:
        resps[int(j)].kind = "partial"
    counts["partial"] = k
    counts["attentive"] = n - pos - k

    # previews: extra rows, random answers, no invitation data
    for _ in range(previews):
        p = _Resp(kind="preview", side=side_cycle[int(rng.integers(0, len(side_cycle)))])
        if roles_present:
            p.stakeholder = roles_present[int(rng.integers(0, len(roles_present)))]
        resps.append(p)

    # -- answers -------------------------------------------------------------------------------------------
    total = len(resps)
    if factors:
        scores = rng.multivariate_normal(np.zeros(len(factors)), _factor_cov(factors), size=total,
                                         method="cholesky")
    else:
        scores = np.zeros((total, 0))
    if answers is not None:
        if len(answers) < n:
            raise DataError(f"answers has {len(answers)} rows; {n} respondents need one row each", field="answers")
        known = {c.row.item_id for c in cols if c.kind == LATENT and c.row.item_id}
        if not known & set(answers.columns):
            raise DataError("answers shares no item-id column with the codebook", field="answers")
        records = answers.reset_index(drop=True).to_dict(orient="records")
        for k, r in enumerate(x for x in resps if x.kind != "preview"):
            r.given = records[k]
    for i, r in enumerate(resps):
        _answer(r, scores[i], cols, version_column, rng, missing)

    # -- timing, ids, network metadata -----------------------------------------------------------------------
    _timing(resps, rng)
    ids: set[str] = set()
    for r in resps:
        r.response_id = _new_id(rng, ids)
    ips = _ips(rng, n)
    for r, ip in zip(resps[:n], ips):
        r.ip = ip
        r.lat = f"{rng.uniform(36.0, 60.0):.4f}"
        r.lon = f"{rng.uniform(-9.0, 25.0):.4f}"

    # -- duplicates: copies of complete responses, submitted again a little later -------------------------
    complete = [r for r in resps[:n] if r.progress == 100]
    if duplicates > len(complete):
        raise DataError(f"cannot duplicate {duplicates} responses: only {len(complete)} complete ones",
                        field="duplicates")
    for j in rng.choice(len(complete), size=duplicates, replace=False) if duplicates else []:
        src = complete[int(j)]
        d = _Resp(kind="duplicate", side=src.side, stakeholder=src.stakeholder, dyad=src.dyad, org=src.org,
                  names=dict(src.names), cells=list(src.cells), duration=src.duration, progress=100,
                  start=min(src.start + src.duration + int(rng.integers(60, 7200)), START_WINDOW),
                  ip=src.ip, lat=src.lat, lon=src.lon, duplicate_of=src.response_id, answered=src.answered)
        d.response_id = _new_id(rng, ids)
        resps.append(d)

    # -- metadata cells and the file ------------------------------------------------------------------------
    for r in resps:
        _fill_metadata(r, cols)
    resps.sort(key=lambda r: (_recorded(r), r.start, r.response_id))
    out = Path(out)
    _write(out, codebook, resps)
    if truth is not None:
        _write_truth(Path(truth), resps)
    return {"n": n, "seed": seed, "rows": len(resps), "counts": counts,
            "missing_cells": sum(r.missing_cells for r in resps if r.kind != "duplicate"),
            "path": str(out), "truth": str(truth) if truth is not None else None}


def _assign_groups(resps: list[_Resp], dyadic: bool, sided: bool, rng: np.random.Generator,
                   orgs: list[str] | None = None) -> None:
    """Dyad ids (one provider and one customer respondent each when ``dyadic``), organisations of 3-6
    respondents per side (or the caller's ``orgs``, one id per respondent), placeholder firm names ("Provider 07"; "Organisation 07" when the instrument has no
    provider/customer versions) and networks of about four organisations."""
    for i, r in enumerate(resps):
        r.dyad = f"D{(i // 2 if dyadic else i) + 1:03d}"
    label = {1: "Provider", 2: "Customer"} if sided else {1: "Organisation", 2: "Organisation"}
    numbers: dict[str, int] = {}

    def new_name(side: int) -> str:
        numbers[label[side]] = numbers.get(label[side], 0) + 1
        return f"{label[side]} {numbers[label[side]]:02d}"

    # organisations per side, 3-6 respondents each (a last group under 3 joins the one before it)
    org_name: dict[str, str] = {}
    if orgs is not None:
        for r, oid in zip(resps, orgs):
            r.org = oid
            if oid not in org_name:
                org_name[oid] = new_name(r.side)
    for side in (sorted({r.side for r in resps}) if orgs is None else []):
        members = [r for r in resps if r.side == side]
        sizes: list[int] = []
        left = len(members)
        while left > 0:
            size = int(rng.integers(3, 7))
            sizes.append(min(size, left))
            left -= size
        if len(sizes) > 1 and sizes[-1] < 3:
            last = sizes.pop()
            sizes[-1] += last
        at = 0
        for size in sizes:
            oid = f"ORG{len(org_name) + 1:03d}"
            org_name[oid] = new_name(side)
            for r in members[at:at + size]:
                r.org = oid
            at += size
    network = {oid: k // 4 + 1 for k, oid in enumerate(org_name)}
    by_dyad: dict[str, list[_Resp]] = {}
    for r in resps:
        by_dyad.setdefault(r.dyad, []).append(r)
    for members in by_dyad.values():
        named = {m.side: org_name[m.org] for m in members}
        for side in (1, 2):
            if side not in named:  # the partner organisation did not answer: a name without respondents
                named[side] = new_name(side)
        for m in members:
            net = network[m.org]
            m.names = {"provider_name": named[1], "customer_name": named[2], "partner_name": named[3 - m.side],
                       "organisation_name": org_name[m.org], "network_name": f"Network {net:02d}",
                       "network_id": f"NET{net:02d}"}


def _sees(col: _Col, r: _Resp) -> bool:
    v = col.version
    if v is None:
        return True
    if v in SIDE_CODES:
        return SIDE_CODES[v] == r.side
    if v in STAKEHOLDER_CODES:
        return r.stakeholder == v
    return True


def _answer(r: _Resp, f: np.ndarray, cols: list[_Col], version_column: str, rng: np.random.Generator,
            missing: float) -> None:
    careless = r.kind in CARELESS or r.kind == "preview"
    attentive = r.kind in ("attentive", "partial")
    visible = [c for c in cols if c.kind not in (META, EMBED, EMPTY) and _sees(c, r)]
    latent_cols = [c for c in visible if c.kind == LATENT]
    straight_code, straight_pos = 0, 0
    if r.kind == "straightliner" and latent_cols:
        # one code of the first scale, given to every Likert column of the version (the same position on
        # a scale that lacks that code)
        first = latent_cols[0].points
        straight_pos = int(rng.integers(0, len(first)))
        straight_code = first[straight_pos]
    cells = [""] * len(cols)
    e_sd = math.sqrt(1.0 - LOADING ** 2)
    for c in visible:
        row = c.row
        if c.kind == LATENT:
            pts = c.points
            if r.kind == "straightliner":
                val = straight_code if straight_code in pts else pts[min(straight_pos, len(pts) - 1)]
            elif careless:
                val = pts[int(rng.integers(0, len(pts)))]
            elif row.role == "attention_check" and row.correct_answer is not None:
                val = row.correct_answer
                if rng.random() < ATTENTION_SLIP:
                    others = [p for p in pts if p != row.correct_answer] or list(pts)
                    val = others[int(rng.integers(0, len(others)))]
            elif row.role == "attention_check":
                val = pts[int(rng.integers(0, len(pts)))]
            elif r.given is not None and row.item_id in r.given and r.given[row.item_id] == r.given[row.item_id]:
                val = min(max(int(round(float(r.given[row.item_id]))), min(pts)), max(pts))
            else:
                x = LOADING * float(f[c.factor]) + e_sd * float(rng.standard_normal())
                p = _latent_to_code(x, len(pts))
                if row.reverse:
                    p = len(pts) - 1 - p
                val = pts[p]
            cells[c.index] = str(val)
        elif c.kind == "side":
            cells[c.index] = str(r.side)
        elif c.kind == "stakeholder":
            if r.stakeholder is not None:
                cells[c.index] = str(STAKEHOLDER_CODES[r.stakeholder])
            elif c.points:
                cells[c.index] = str(c.points[int(rng.integers(0, len(c.points)))])
        elif c.kind == CONSENT:
            cells[c.index] = "1" if (not c.points or 1 in c.points) else str(c.points[0])
        elif c.kind == ORG:
            cells[c.index] = r.org
        elif c.kind == DYAD:
            cells[c.index] = r.dyad
        elif c.kind == CHOICE:
            cells[c.index] = str(c.points[int(rng.integers(0, len(c.points)))])
        elif c.kind == NUMERIC:
            cells[c.index] = str(int(min(40, round(math.exp(rng.normal(1.6, 0.7))))))
        elif c.kind == TEXT:
            if rng.random() < 0.3:
                cells[c.index] = TEXT_ANSWERS[int(rng.integers(0, len(TEXT_ANSWERS)))]
    # embedded data (from the invitation link; previews have none except the routing field)
    for c in cols:
        if c.kind != EMBED:
            continue
        name = c.row.variable.removeprefix("invite_")  # invitation-link fields (instrument builder)
        if name == version_column:
            cells[c.index] = str(r.side)
        elif name == "stakeholder_role":
            cells[c.index] = str(STAKEHOLDER_CODES[r.stakeholder]) if r.stakeholder else ""
        elif name == "organisation_id":
            cells[c.index] = r.org
        elif name in ("dyad_id", "relationship_id"):
            cells[c.index] = r.dyad
        elif name in PLACEHOLDERS.values() or name == "network_id":
            cells[c.index] = r.names.get(name, "")
    # closed partials: questions after the break-off point stay empty
    if r.kind == "partial":
        r.progress = int(rng.integers(20, 91))
        keep = max(1, math.ceil(len(visible) * r.progress / 100))
        for c in visible[keep:]:
            cells[c.index] = ""
    # MCAR missing item cells of attentive respondents
    if attentive and missing > 0:
        for c in latent_cols:
            if c.row.role in ("item", "marker") and cells[c.index] != "" and rng.random() < missing:
                cells[c.index] = ""
                r.missing_cells += 1
    r.cells = cells
    r.answered = sum(1 for c in visible if cells[c.index] != "")


def _timing(resps: list[_Resp], rng: np.random.Generator) -> None:
    speed = {"straightliner": 0.7, "random": 0.8}
    for r in resps:
        r.duration = max(5, int(round(max(r.answered, 1) * SECONDS_PER_ITEM * speed.get(r.kind, 1.0)
                                      * math.exp(rng.normal(0.0, SPEED_SD)))))
    normal = [r for r in resps if r.kind != "speeder"]
    if normal:
        m0 = float(np.median([r.duration for r in normal]))
        floor = math.ceil(0.35 * m0)
        for r in normal:
            r.duration = max(r.duration, floor)
        for r in resps:
            if r.kind == "speeder":
                r.duration = max(1, int(m0 * rng.uniform(0.08, 0.25)))
        # the median of all rows falls when speeders join; keep speeders under 0.3 x that median too
        med = float(np.median([r.duration for r in resps]))
        for r in resps:
            if r.kind == "speeder":
                r.duration = max(1, min(r.duration, math.floor(SPEEDER_FACTOR * med) - 1))
    for r in resps:
        r.start = int(rng.integers(0, START_WINDOW))


def _new_id(rng: np.random.Generator, taken: set[str]) -> str:
    while True:
        rid = "R_" + "".join(rng.choice(ID_CHARS, size=15))
        if rid not in taken:
            taken.add(rid)
            return rid


def _ips(rng: np.random.Generator, n: int) -> list[str]:
    """Addresses of 192.0.2.0/24 (RFC 5737), distinct while the range lasts."""
    hosts: list[int] = []
    while len(hosts) < n:
        hosts.extend(int(h) for h in rng.permutation(np.arange(1, 255)))
    return [f"192.0.2.{h}" for h in hosts[:n]]


def _stamp(seconds: int) -> str:
    return (MONTH_START + timedelta(seconds=int(seconds))).strftime("%Y-%m-%d %H:%M:%S")


def _recorded(r: _Resp) -> int:
    end = r.start + r.duration
    return end + PARTIAL_CLOSE if r.progress < 100 else end


def _fill_metadata(r: _Resp, cols: list[_Col]) -> None:
    finished = r.progress == 100
    values = {
        "startDate": _stamp(r.start),
        "endDate": _stamp(r.start + r.duration),
        "status": "1" if r.kind == "preview" else "0",
        "ipAddress": r.ip,
        "progress": str(r.progress),
        "duration": str(r.duration),
        "finished": "1" if finished else "0",
        "recordedDate": _stamp(_recorded(r)),
        "_recordId": r.response_id,
        "locationLatitude": r.lat,
        "locationLongitude": r.lon,
        "distributionChannel": "preview" if r.kind == "preview" else "anonymous",
        "userLanguage": "EN",
    }
    by_name = {v: iid for v, iid, _, _ in METADATA_COLUMNS}
    for c in cols:
        if c.kind == META:
            iid = c.row.import_id if c.row.import_id in values else by_name.get(c.row.variable, "")
            r.cells[c.index] = values.get(iid, "")


def _header3(row: CodebookRow) -> str:
    obj = {"ImportId": row.import_id}
    if row.import_id in DATE_IMPORT_IDS or (row.role == "metadata" and row.variable in DATE_COLUMNS):
        obj["timeZone"] = "Z"
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _write(out: Path, cb: Codebook, resps: list[_Resp]) -> None:
    try:
        with open(out, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
            w.writerow(escape_row(cb.variables))
            w.writerow(escape_row(r.label for r in cb.rows))
            w.writerow(escape_row(_header3(r) for r in cb.rows))
            for r in resps:
                w.writerow(escape_row(r.cells))
    except OSError as exc:
        raise DataError(f"cannot write the export: {exc.strerror or exc}", file=out) from None


def _write_truth(path: Path, resps: list[_Resp]) -> None:
    try:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["ResponseId", "type", "side", "organisation_id", "dyad_id", "stakeholder_role"])
            for r in resps:
                kind = f"duplicate_of:{r.duplicate_of}" if r.kind == "duplicate" else r.kind
                w.writerow(escape_row([r.response_id, kind, r.side, r.org, r.dyad, r.stakeholder or ""]))
    except OSError as exc:
        raise DataError(f"cannot write the truth file: {exc.strerror or exc}", file=path) from None
