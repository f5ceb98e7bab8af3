"""What a stage of ``vccscale run`` reads and writes: :class:`StageContext`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..jsonsafe import jsonable

#: the column the pipeline adds to the long data when it clusters respondents (nesting.cluster)
CLUSTER = "vcc_cluster"

# Files a stage writes are rounded to the study's float digits; NaN/inf are written as null.


def clean_json(v: Any, digits: int) -> Any:
    """JSON-ready value with floats rounded to ``digits`` significant digits and NaN/inf as None
    (:func:`vccscale.jsonsafe.jsonable`)."""
    return jsonable(v, digits)


def write_json(path: Path, obj: Any, digits: int = 8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clean_json(obj, digits), indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                    encoding="utf-8")


def write_csv(path: Path, df: Any, digits: int) -> None:
    from ..csvsafe import write_csv as safe_csv

    path.parent.mkdir(parents=True, exist_ok=True)
    safe_csv(df, path, float_format=f"%.{digits}g", lineterminator="\n")


class Skip(Exception):
    """Raised by a stage that has nothing to do: the stage ends ``skipped`` with this reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def section(study: Any, name: str) -> Any:
    """The study's section ``name`` with its defaults when the study file leaves it out."""
    from .. import study as st

    classes = {"validation": st.ValidationSection, "items": st.ItemsSection, "reliability": st.ReliabilitySection,
               "efa": st.EFASection, "cfa": st.CFASection, "validity": st.ValiditySection,
               "invariance": st.InvarianceSection, "rsa": st.RSASection, "multilevel": st.MultilevelSection,
               "cleaning": st.CleaningSection, "nesting": st.NestingSection}
    v = getattr(study, name, None)
    return v if v is not None else classes[name]()


class StageContext:
    """Everything a stage needs: study (with its sections' defaults), registry, output folder, the cleaned data in
    analysis form (loaded once, from the output folder so that ``--only`` works on a previous run)."""

    def __init__(self, study: Any, registry: Any, out: Path, progress: bool = True) -> None:
        self.study = study
        self.show_progress = progress
        self.registry = registry
        self.out = out
        self.digits = study.output.float_digits if study.output else 8
        self.formats = list(study.output.figures) if study.output else ["png", "svg"]
        self.seed = study.seed if study.seed is not None else 0
        self._cache: dict[str, Any] = {}
        from ..report.results import RunResults

        self.results = RunResults(out)  # what this run's stages produced, handed to the report

    def section(self, name: str) -> Any:
        return section(self.study, name)

    def forget(self, name: str) -> None:
        """Drop the cached copy of upstream data ``name`` (e.g. "clean" after the clean stage rewrote it)."""
        self._cache.pop(name, None)

    # -- upstream data ---------------------------------------------------------------------------------------
    def _dataset(self, name: str, stage: str):
        if name not in self._cache:
            from ..io.dataset import load_dataset

            p = self.out / "data" / f"{name}.parquet"
            if not p.exists():
                raise DataError(f"no {name} data in the output folder: run the {stage} stage first "
                                f"(vccscale run STUDY --from {stage})", file=self.out)
            self._cache[name] = attach_codebook(load_dataset(p), self.study)
        return self._cache[name]

    def imported(self):
        return self._dataset("imported", "import")

    def cleaned(self):
        return self._dataset("clean", "clean")

    def long(self):
        """Clean data stacked by item id (one row per respondent version), items rescored (reverse keys, missing
        codes), sorted by response id and perspective."""
        if "long" not in self._cache:
            from ..clean.scoring import rescored_long

            lf = rescored_long(self.cleaned())
            lf = lf.sort_values(["response_id", "perspective"], kind="mergesort").reset_index(drop=True)
            col, note = self._nesting(lf)
            if col is not None:
                ids = lf[col].astype("string")
                lone = ids.isna()
                lf = lf.copy()  # (a frame built column by column: one block before adding the cluster column)
                lf[CLUSTER] = ids.where(~lone, "single:" + lf["response_id"].astype(str))
            self._cache["nesting"] = (CLUSTER if col is not None else None, col, note)
            self._cache["long"] = lf
        return self._cache["long"]

    def _nesting(self, lf) -> tuple[str | None, str]:
        """(cluster column or None, the sentence that says why)."""
        sec = self.section("nesting")
        want = sec.cluster
        if want == "none":
            return None, "respondents analysed as independent (nesting.cluster: none)"
        col = self.section("multilevel").group_column if want == "auto" else want
        if col not in lf.columns:
            if want != "auto":
                raise DataError(f"nesting.cluster: the data have no column {col!r}", column=col)
            return None, (f"respondents analysed as independent: the data have no {col!r} column "
                          "(multilevel.group_column) to cluster them by")
        k = int(lf[col].nunique(dropna=True))
        lone = int(lf[col].isna().sum())
        if k < sec.min_clusters:
            return None, (f"respondents analysed as independent: {k} {col} cluster(s), fewer than "
                          f"nesting.min_clusters = {sec.min_clusters} (cluster-robust standard errors need many "
                          "clusters); standard errors may be too small if answers depend on the organisation")
        return col, (f"cluster-robust standard errors and tests by {col} ({k} clusters"
                     + (f"; {lone} row(s) without an id count as clusters of their own" if lone else "")
                     + "; lavaan cluster =, estimator MLR)")

    def cluster(self) -> str | None:
        """The cluster column every latent-variable model uses (None: respondents independent)."""
        self.long()
        return self._cache["nesting"][0]

    def cluster_source(self) -> str | None:
        """The data column respondents are clustered by (None: independent)."""
        self.long()
        return self._cache["nesting"][1] if self._cache["nesting"][0] is not None else None

    def nesting_note(self) -> str:
        self.long()
        return self._cache["nesting"][2]

    def estimator(self, configured: str, ordinal_ok: bool = False) -> str:
        """The estimator of the latent-variable models: MLR when clustered (cluster-robust SEs, scaled test);
        WLSMV (ordered indicators) where the stage fits it (``ordinal_ok``: the CFA stage), else ML / MLR."""
        if configured == "WLSMV":
            if ordinal_ok:
                return "WLSMV"
            configured = "ML"
        return "MLR" if self.cluster() is not None else configured

    def missing(self) -> str:
        """fiml | listwise: the missing-data treatment of every latent-variable model of the run."""
        return self.section("cleaning").missing_data

    def min_answered(self) -> float:
        return self.section("cleaning").min_answered

    def blocks(self) -> dict[str, list[str]]:
        """Construct -> item ids of the validated constructs (reflective, at least two items in the data)."""
        if "blocks" not in self._cache:
            ds = self.cleaned()
            cols = set(self.long().columns)
            pats = self.section("validation").constructs
            chosen = {c for p in pats for c in self.registry.expand(p)} if pats else None
            blocks: dict[str, list[str]] = {}
            for r in ds.codebook.rows:
                if r.role != "item" or not r.item_id or not r.construct or r.item_id not in cols:
                    continue
                if (r.indicator or "reflective") != "reflective":
                    continue
                if chosen is not None and r.construct not in chosen:
                    continue
                lst = blocks.setdefault(r.construct, [])
                if r.item_id not in lst:
                    lst.append(r.item_id)
            lf = self.long()
            blocks = {c: sorted(v) for c, v in sorted(blocks.items())
                      if len(v) >= 2 and lf[sorted(v)].notna().any(axis=1).any()}
            self._cache["blocks"] = blocks
        return self._cache["blocks"]

    def groups(self) -> list[tuple[str, list[str]]]:
        """Construct groups (family, role, versions answering): the parts of EFAs and CFAs by group."""
        if "groups" not in self._cache:
            from ..validate.measurement import construct_groups

            user = self.section("cfa").groups
            if user:
                blocks = self.blocks()
                groups = [(name, [c for p in pats for c in self.registry.expand(p) if c in blocks])
                          for name, pats in user.items()]
                self._cache["groups"] = [(n, cs) for n, cs in groups if cs]
            else:
                self._cache["groups"] = construct_groups(self.blocks(), self.long(), self.registry)
        return self._cache["groups"]

    def split(self) -> tuple[Any, Any]:
        """(EFA half, CFA half) of the long frame: respondents split at random with the study seed (``efa.half``),
        or the whole frame twice."""
        import numpy as np

        lf = self.long()
        if not self.section("efa").half:
            return lf, lf
        ids = np.array(sorted(lf["response_id"].astype(str).unique()))
        rng = np.random.default_rng([self.seed, 1])
        perm = rng.permutation(len(ids))
        first = set(ids[perm[: len(ids) // 2]])
        mask = lf["response_id"].astype(str).isin(first)
        return lf[mask].reset_index(drop=True), lf[~mask].reset_index(drop=True)

    def name(self, cid: str) -> str:
        """A construct's readable name (its id when the registry does not know it)."""
        c = self.registry.constructs.get(cid)
        return c.name if c is not None else cid

    def measurement(self):
        """The CFA stage's :class:`vccscale.validate.measurement.MeasurementResult` (from data/measurement.json)."""
        if "measurement" not in self._cache:
            from ..validate.measurement import MeasurementResult

            p = self.out / "data" / "measurement.json"
            if not p.exists():
                return None
            self._cache["measurement"] = MeasurementResult.from_dict(json.loads(p.read_text(encoding="utf-8")))
        return self._cache["measurement"]

    # -- outputs --------------------------------------------------------------------------------------------
    def csv(self, name: str, df: Any) -> str:
        write_csv(self.out / "tables" / f"{name}.csv", df, self.digits)
        self.results.record_table(name, df, self.digits)
        return f"tables/{name}.csv"

    def json(self, name: str, obj: Any) -> str:
        write_json(self.out / "data" / f"{name}.json", obj, self.digits)
        self.results.record_data(name, obj, self.digits)
        return f"data/{name}.json"

    def figure(self, fig: Any, name: str) -> list[str]:
        """Save ``fig`` in every requested format with the report's deterministic saver; returns contract paths."""
        import matplotlib.pyplot as plt

        from ..report.figures import save_figure

        base = self.out / "figures" / name
        base.parent.mkdir(parents=True, exist_ok=True)
        written = []
        for fmt in sorted(self.formats):
            p = save_figure(fig, base.with_suffix("." + fmt), dpi=120)
            self.results.record_figure(name, p)
            written.append(f"figures/{p.name}")
        plt.close(fig)
        return written

    def progress(self, what: str):
        """A progress callback (done, total, label) that prints to stderr at most every few seconds."""
        import sys
        import time

        state = {"t": time.time()}

        def cb(done: int, total: int, label: str = "") -> None:
            if not self.show_progress:
                return
            now = time.time()
            if done == total or now - state["t"] > 3:
                state["t"] = now
                print(f"    {what}: {done}/{total}" + (f" ({label})" if label else ""), file=sys.stderr, flush=True)
        return cb


def attach_codebook(ds: Any, study: Any) -> Any:
    if ds.codebook is None and study.data and study.data.codebook:
        import dataclasses

        from ..instrument.codebook import Codebook

        ds = dataclasses.replace(ds, codebook=Codebook.read(study.resolve(study.data.codebook)))
    return ds
