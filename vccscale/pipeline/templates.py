"""``vccscale init``: a new study folder with a commented study file."""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import StudyError
from . import STAGES

STUDY_TEMPLATE = """\
# vccscale study file: one YAML document drives every stage of `vccscale run study.yaml`.
# Every key is documented in docs/study-file.md of the vccscale repository (and `python -c "import vccscale.study;
# help(vccscale.study)"`). Relative paths are relative to this file. Unknown keys are errors that name the line.

study:
  id: {id}                      # letters, digits, _ and -; names the output folder
  title: {title}
  seed: {seed}                  # master seed: EFA/CFA split, parallel analysis, bootstraps, power

# What the instrument measures (vccscale instrument build study.yaml --out build)
instrument:
  families: [A]                 # A, B, C, D (and/or constructs: [a_drv_*, x_vcc_customer])
  versions: [provider, customer]  # family C: stakeholder versions, e.g. [staff, partner_manager]
  blocks: [consent, respondent, key_informant, attention, marker, firmographics]
  # max_minutes: 20             # warn when a version's estimated time (build/summary.json) is longer
  # planned_missing: three_form # each respondent answers 3 of the 4 item blocks X, A, B, C (Graham et al. 2006)
  # consent:                    # fills the consent page; keys left out show as [SPONSOR] etc., and build warns
  #   purpose: We study how ... (one or two sentences on what the study is for)
  #   sponsor: the University of ..., with funding from ...
  #   ethics_reference: ... Research Ethics Committee, ref. ...
  #   withdrawal_deadline: 30 June 2027
  #   lawful_basis: a task in the public interest (Article 6(1)(e))
  #   storage: on the university's secure servers in the EU
  #   retention: ten years after the end of the project, then deleted
  #   contact: Dr ..., ...@...
  #   data_protection_contact: the Data Protection Officer, dpo@...

# The responses: a Qualtrics export and the codebook written by `vccscale instrument build`
data:
  export: data/export.csv       # csv, tsv, sav or zip; a pilot: vccscale simulate --study study.yaml --n 600 ...
  codebook: build/codebook.json
  identifiers: drop             # drop | hash | keep (IP address, names, e-mail, location)

# Screening rules, in this order; each can be switched off with enabled: false (defaults: docs/study-file.md)
cleaning:
  speeders: {{fraction_of_median: 0.3}}
  attention: {{max_failed: 0}}
  min_answered: 0.5             # share of a scale's items needed for a scale score
  missing_data: fiml            # fiml | listwise: missing answers in every latent-variable model

# Measurement: which constructs, which estimator; every stage below has `enabled` and its own settings
validation:
  constructs: []                # empty = every reflective construct of the codebook; or ids / patterns
  estimator: ML                 # ML | MLR (robust to non-normal answers)
efa:
  half: true                    # EFA on a random half, CFA on the other (seeded by study.seed)
  scope: auto                   # auto | all | groups (one EFA per construct group when n is too small for all)
cfa:
  scope: auto                   # auto | full | groups | construct: the largest model the data carry
  min_cases_per_parameter: 5    # the rule behind `auto` (Bentler & Chou 1987)
invariance:
  enabled: true                 # across perspectives (provider / customer) when the data hold several
  levels: [configural, metric, scalar]
rsa:
  enabled: true                 # response surfaces of congruence hypotheses, when chosen
multilevel:
  enabled: true                 # ICC(1), ICC(2), rwg(j) by organisation
  group_column: organisation_id

nesting:
  cluster: auto                 # cluster-robust SEs by multilevel.group_column (none: respondents independent)
  min_clusters: 20

# Hypothesis tests
models:
  hypotheses: [A]               # ids (H1), family letters (A) or all
  estimator: ML                 # ML | MLR
  adjust: holm                  # holm | bh | none
  alpha: 0.05
  bootstrap: 1000               # percentile bootstrap CIs of indirect effects (0 = delta-method CIs only)

# Monte Carlo power (optional)
power:
  enabled: false
  # model: power_model.lavaan   # population model in lavaan syntax
  # n: [100, 200, 400]
  # reps: 200
  # targets: ["y~x"]

# Output folder (default: output/<study id> next to this file)
output:
  figures: [png, svg]
"""

README_TEMPLATE = """\
# {title}

A vccscale study. Steps:

1. Edit `study.yaml`: choose the constructs (`instrument:`), hypotheses (`models:`) and settings. Every key is
   described in `docs/study-file.md` of vccscale.
2. Build the instrument: `vccscale instrument build study.yaml --out build` and import `build/survey.qsf`
   into Qualtrics.
3. Before fielding, run a pilot on simulated answers that follow your hypotheses:
   `vccscale simulate --study study.yaml --n 600 --seed 1 --out data/export.csv`, then step 5.
4. Export the responses from Qualtrics (CSV, numeric values) into `data/export.csv`.
5. Run everything: `vccscale run study.yaml` (results in `output/{id}/`, open `report.html`).
   `--only STAGE` reruns one stage, `--from STAGE` reruns from a stage onward; unchanged stages are cached.
   Stages: {stages}.
"""


def init_study(name: str, parent_dir: str | Path = ".") -> Path:
    """Scaffold NAME/ with study.yaml (commented), README.md and an empty data/ folder; refuses to overwrite.
    Returns the study folder."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", name):
        raise StudyError(f"study name {name!r}: use letters, digits, _ and -, starting with a letter", field="name")
    d = Path(parent_dir) / name
    if d.exists():
        raise StudyError("already exists; choose another name or remove it first", file=d)
    (d / "data").mkdir(parents=True)
    (d / "data" / ".gitkeep").write_text("", encoding="utf-8")
    title = name.replace("_", " ").replace("-", " ").capitalize()
    (d / "study.yaml").write_text(STUDY_TEMPLATE.format(id=name, title=title, seed=20260101), encoding="utf-8")
    (d / "README.md").write_text(README_TEMPLATE.format(title=title, id=name, stages=", ".join(STAGES)),
                                 encoding="utf-8")
    return d
