"""vccscale run (vccscale.pipeline): stages, output contract, byte-identical reruns, caching, --only/--from,
study-file checks before any work, init_study."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vccscale.errors import StudyError
from vccscale.pipeline import STAGES, init_study, run_study

FIXTURE = Path(__file__).parent / "fixtures" / "pipeline"


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("study")
    for f in ("study.yaml", "export.csv", "codebook.json"):
        shutil.copy(FIXTURE / f, d / f)
    return d


@pytest.fixture(scope="module")
def first_run(study_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("run1")
    return run_study(study_dir / "study.yaml", out=out, progress=False)


def _files(out: Path) -> dict[str, bytes]:
    res = {}
    for p in sorted(out.rglob("*")):
        if p.is_file() and ".cache" not in p.parts:
            rel = p.relative_to(out).as_posix()
            data = p.read_bytes()
            if rel == "manifest.json":
                m = json.loads(data)
                for k in ("started", "finished", "run_seconds"):
                    m.pop(k)
                data = json.dumps(m, sort_keys=True).encode()
            elif rel.startswith("stages/"):
                m = json.loads(data)
                m.pop("seconds")
                data = json.dumps(m, sort_keys=True).encode()
            res[rel] = data
    return res


def test_contract_files(first_run):
    out = first_run.out
    assert first_run.failed == []
    for s in STAGES:
        rec = json.loads((out / "stages" / f"{s}.json").read_text())
        assert {"stage", "status", "seconds", "inputs_hash", "summary", "notes"} <= set(rec)
        # every stage ends ok or skipped with a reason
        assert rec["status"] == "ok" or (rec["status"] == "skipped" and rec["notes"] and rec["notes"][0]), s
    for t in ("consort", "audit_log", "sample", "item_analysis", "reliability", "efa_groups", "efa_loadings",
              "cfa_fit", "cfa_constructs", "cfa_loadings", "latent_correlations", "fornell_larcker", "htmt",
              "common_method", "invariance", "hypotheses", "hypothesis_parameters", "hypothesis_models",
              "multilevel"):
        assert (out / "tables" / f"{t}.csv").exists(), t
    for d in ("measurement", "efa", "invariance", "hypotheses", "sample"):
        assert (out / "data" / f"{d}.json").exists(), d
    assert (out / "figures" / "efa_scree.svg").exists() and (out / "figures" / "efa_scree.png").exists()
    head = lambda t: (out / "tables" / f"{t}.csv").read_text().splitlines()[0]
    assert head("consort") == "step,rule,excluded,remaining"
    assert head("item_analysis") == ("construct,perspective,item,n,mean,sd,skew,kurtosis,floor_pct,ceiling_pct,"
                                     "r_drop,alpha_if_deleted")
    assert head("reliability").startswith("construct,name,n,n_items,mean,sd,alpha,alpha_ci_lower,alpha_ci_upper,"
                                          "omega,cr,ave,")
    assert head("efa_loadings") == "group,item,construct,factor,loading,primary,h2"
    assert head("cfa_fit").startswith("model,constructs,n,npar,ratio,estimator,missing,status,problems,chisq")
    assert head("latent_correlations") == "a,b,r,se,pvalue,n,source,status,problems"
    assert head("htmt") == "a,b,htmt,n,note"
    assert head("invariance").startswith("model,constructs,level,n,chisq,df,pvalue,cfi,rmsea,srmr,compare")
    assert head("hypotheses").startswith("id,family,statement,test,decision,short_reason,reason,pvalue,"
                                         "pvalue_adjusted,exploratory,flags,n,estimator,missing")
    assert head("multilevel").startswith("construct,name,n,n_groups,icc1,icc2,design_effect")
    hyp = (out / "tables" / "hypotheses.csv").read_text()
    assert "H2," in hyp and "H3," in hyp
    m = json.loads((out / "manifest.json").read_text())
    assert {"vccscale", "python", "packages", "platform", "study_file", "study_hash", "registry_hash", "inputs",
            "seeds", "started", "finished", "run_seconds", "stages"} <= set(m)
    assert m["seeds"]["study"] == 20261124 and m["seeds"]["efa_split"] == 20261124
    assert set(m["inputs"]) == {"export.csv", "codebook.json"}
    assert m["report"]["written"] is True
    power = json.loads((out / "stages" / "power.json").read_text())
    assert power["status"] == "skipped" and "power.enabled" in power["notes"][0]


@pytest.mark.slow  # 2 s or more on the 2-core development machine (the quick suite: -m 'not slow')
def test_byte_identical_across_runs(first_run, study_dir, tmp_path):
    second = run_study(study_dir / "study.yaml", out=tmp_path / "run2", progress=False)
    a, b = _files(first_run.out), _files(second.out)
    assert sorted(a) == sorted(b)
    diff = [k for k in a if a[k] != b[k]]
    assert diff == []


@pytest.mark.slow  # 2.5 s or more on the 2-core development machine (the quick suite: -m 'not slow')
def test_cache_and_models_change(study_dir, tmp_path):
    out = tmp_path / "out"
    r1 = run_study(study_dir / "study.yaml", out=out, progress=False)
    assert set(r1.ran) >= {"import", "clean", "hypotheses"}
    r2 = run_study(study_dir / "study.yaml", out=out, progress=False)
    assert r2.ran == []
    assert all(r.cached for r in r2.stages.values())
    assert json.loads((out / "stages" / "import.json").read_text())["cached"] is True
    # change only the models section: hypotheses (and rsa, which reads models) rerun, nothing else
    d2 = tmp_path / "study2"
    shutil.copytree(study_dir, d2)
    y = (d2 / "study.yaml").read_text().replace("hypotheses: [H2, H3]", "hypotheses: [H3]")
    (d2 / "study.yaml").write_text(y)
    r3 = run_study(d2 / "study.yaml", out=out, progress=False)
    assert {"hypotheses"} <= set(r3.ran) <= {"hypotheses", "rsa"}
    assert r3.stages["import"].cached and r3.stages["clean"].cached
    assert "H2," not in (out / "tables" / "hypotheses.csv").read_text()


@pytest.mark.slow  # 2.5 s or more on the 2-core development machine (the quick suite: -m 'not slow')
def test_only_and_from(first_run, study_dir, tmp_path):
    out = tmp_path / "o"
    shutil.copytree(first_run.out, out)
    r = run_study(study_dir / "study.yaml", out=out, only="validity", progress=False)
    assert list(r.stages) == ["validity"] and not r.stages["validity"].cached
    assert r.stages["validity"].status == "ok"
    r = run_study(study_dir / "study.yaml", out=out, from_stage="hypotheses", progress=False)
    assert set(r.ran) == {"hypotheses", "multilevel"}  # rsa and power are skipped (not applicable) here
    assert r.stages["clean"].cached and not r.stages["hypotheses"].cached
    # --only on an empty folder: upstream results are missing -> the stage fails with a clear message
    r = run_study(study_dir / "study.yaml", out=tmp_path / "empty", only="items", progress=False)
    assert r.stages["items"].status == "failed"
    with pytest.raises(StudyError, match="unknown stage 'nope'"):
        run_study(study_dir / "study.yaml", out=tmp_path / "x", only="nope", progress=False)
    with pytest.raises(StudyError, match="--from"):
        run_study(study_dir / "study.yaml", out=tmp_path / "x", from_stage="nope", progress=False)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("old,new,field", [
    ("constructs: [a_drv_joint_marketing,", "constructs: [a_drv_no_such_thing,", "validation.constructs.0"),
    ("export: export.csv", "export: missing.csv", "data.export"),
    ("  bootstrap: 0", "  bootstrap: 0\ncleaning:\n  speeders: {fraction_of_median: 3}", "speeders"),
    ("hypotheses: [H2, H3]", "hypotheses: [H2, H999]", "models.hypotheses.1"),
])
def test_bad_study_fails_before_work(study_dir, tmp_path, old, new, field):
    d = tmp_path / "bad"
    shutil.copytree(study_dir, d)
    y = (d / "study.yaml").read_text()
    assert old in y
    (d / "study.yaml").write_text(y.replace(old, new))
    out = tmp_path / "out"
    with pytest.raises(StudyError) as exc:
        run_study(d / "study.yaml", out=out, progress=False)
    assert field in str(exc.value)
    assert not out.exists()


def test_init_study(tmp_path):
    d = init_study("my_study", tmp_path)
    assert (d / "study.yaml").exists() and (d / "README.md").exists() and (d / "data").is_dir()
    from vccscale.study import load_study

    s = load_study(d / "study.yaml")
    assert s.study.id == "my_study" and s.efa.half and s.cfa.scope == "auto" and not s.power.enabled
    assert "# " in (d / "study.yaml").read_text()
    with pytest.raises(StudyError, match="already exists"):
        init_study("my_study", tmp_path)


@pytest.mark.slow  # 2.5 s or more on the 2-core development machine (the quick suite: -m 'not slow')
def test_wlsmv_measurement_models(study_dir, tmp_path):
    """validation.estimator: WLSMV fits the CFA stage's measurement models with ordered indicators (pairwise
    polychorics; lavaan parity of that estimator in tests/test_wlsmv.py), says so in the stage notes and summary,
    and the later stages still run (invariance by ML)."""
    import pandas as pd

    d = tmp_path / "study"
    shutil.copytree(study_dir, d)
    text = (d / "study.yaml").read_text().replace("validation:\n", "validation:\n  estimator: WLSMV\n")
    (d / "study.yaml").write_text(text)
    res = run_study(d / "study.yaml", out=tmp_path / "out", progress=False)
    assert not res.failed, {k: v.notes for k, v in res.stages.items() if v.status == "failed"}
    cfa = json.loads((tmp_path / "out" / "stages" / "cfa.json").read_text())
    assert cfa["status"] == "ok" and cfa["summary"]["estimator"] == "WLSMV"
    assert cfa["summary"]["missing"] == "pairwise"
    assert any("ordered indicators" in n for n in cfa["notes"])
    meas = json.loads((tmp_path / "out" / "data" / "measurement.json").read_text())
    assert meas["estimator"] == "WLSMV"
    fit_rows = pd.read_csv(tmp_path / "out" / "tables" / "cfa_fit.csv")
    assert (fit_rows["estimator"] == "WLSMV").all() and fit_rows["chisq.scaled"].notna().all()
    # reliability: ordinal alpha and categorical omega from the CFA stage's ordinal models (their lavaan/semTools
    # parity: tests/test_wlsmv.py); alpha of the polychorics is above alpha of the raw answers here (7 points)
    rel = pd.read_csv(tmp_path / "out" / "tables" / "reliability.csv")
    ok = rel[rel["status"] == "ok"]
    assert len(ok) and ok["ordinal_alpha"].notna().all() and ok["ordinal_omega"].notna().all()
    assert ((ok["ordinal_alpha"] > 0) & (ok["ordinal_alpha"] < 1)).all()
    assert (ok["ordinal_alpha"] >= ok["alpha"] - 0.02).mean() > 0.8
    # invariance by WLSMV: Wu & Estabrook's levels with the scaled-shifted difference test
    inv = json.loads((tmp_path / "out" / "stages" / "invariance.json").read_text())
    assert inv["status"] == "ok" and inv["summary"]["estimator"] == "WLSMV" and inv["summary"]["missing"] == "pairwise"
    tab = pd.read_csv(tmp_path / "out" / "tables" / "invariance.csv")
    assert set(tab["level"]) <= {"configural", "thresholds", "thresholds_loadings"}
    assert "thresholds" in set(tab["level"])
    step = tab[tab["level"] == "thresholds"].iloc[0]
    assert step["compare"] == "thresholds vs configural" and step["df_diff"] > 0 and 0 <= step["pvalue_diff"] <= 1
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Wu &amp; Estabrook" in html or "Wu & Estabrook" in html
