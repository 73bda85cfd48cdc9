"""A long comparison stopped part way continues from its kept samples and ends as one uninterrupted run would."""
import json

import pytest
import torch

from isegm.data.registry import get_eval_dataset
from isegm.errors import UserError
from isegm.inference import evaluation
from isegm.inference.compare import compare_models, parse_model_args
from isegm.inference.evaluation import StochasticSpec
from isegm.inference.sample_store import SampleStore

from test_compare import make_images_dir

CPU = torch.device("cpu")
SPEC = StochasticSpec(sigma=3.0, repeats=2, seed=1)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = make_images_dir(tmp_path_factory.mktemp("store") / "data", n=3)
    return {"ImagesDir": get_eval_dataset("ImagesDir", root)}


def _run(datasets, out, **kwargs):
    kwargs.setdefault("stochastic", SPEC)
    return compare_models(parse_model_args(["gc=grabcut"]), datasets, CPU, out, n_clicks=4, progress=False, **kwargs)


def _without_times(run):
    return [{k: v for k, v in r.items() if k != "times"} for r in run.records]


def _table_without_spc(table):
    return [row.split("|")[:11] + row.split("|")[12:] for row in table.splitlines()]


def test_stopped_run_resumes_to_the_uninterrupted_result(datasets, tmp_path, monkeypatch):
    whole = _run(datasets, tmp_path / "whole")
    store = tmp_path / "part" / "runs" / "gc@ImagesDir.jsonl"
    _run(datasets, tmp_path / "part", max_samples=1)          # stopped after one sample ...
    with open(store, "a") as f:                               # ... and killed while writing the second
        f.write('{"index": 1, "record": {"ind')
    calls = []
    real = evaluation.evaluate_dataset
    monkeypatch.setattr(evaluation, "evaluate_dataset", lambda *a, **k: calls.append(k["shard"]) or real(*a, **k))
    resumed = _run(datasets, tmp_path / "part", resume=True)
    assert [shard.indices(3) for shard in calls] == [[1], [2]], "only the samples the store lacked run"
    a, b = whole["runs"][0], resumed["runs"][0]
    assert _without_times(a) == _without_times(b)
    assert all((x == y).all() for x, y in zip(a.all_ious, b.all_ious)) and len(a.all_ious) == 3
    assert a.stochastic["NoC@90"]["per_repeat"] == b.stochastic["NoC@90"]["per_repeat"]
    assert _table_without_spc(whole["table"]) == _table_without_spc(resumed["table"])
    lines = store.read_text().splitlines()
    assert len(lines) == 4 and [json.loads(x)["index"] for x in lines[1:]] == [0, 1, 2]


def test_kept_samples_are_never_reused_or_overwritten_unasked(datasets, tmp_path):
    _run(datasets, tmp_path / "o", max_samples=1)
    store = tmp_path / "o" / "runs" / "gc@ImagesDir.jsonl"
    before = store.read_bytes()
    with pytest.raises(UserError, match=r"gc@ImagesDir.jsonl holds samples of an earlier run: pass --resume"):
        _run(datasets, tmp_path / "o")
    with pytest.raises(UserError, match=r"other settings \(n_clicks: stored 4, now 5\)"):
        compare_models(parse_model_args(["gc=grabcut"]), datasets, CPU, tmp_path / "o", n_clicks=5,
                       progress=False, stochastic=SPEC, resume=True)
    with pytest.raises(UserError, match=r"stochastic: stored \{'sigma': 3.0"):
        _run(datasets, tmp_path / "o", stochastic=None, resume=True)
    assert store.read_bytes() == before


def test_a_model_added_to_a_finished_comparison_runs_alone(datasets, tmp_path, monkeypatch):
    from eval_fixtures import make_random_checkpoint

    _run(datasets, tmp_path / "o", stochastic=None)
    checkpoint = make_random_checkpoint(tmp_path / "rand_hrnet.pth")
    calls = []
    real = evaluation.evaluate_dataset
    monkeypatch.setattr(evaluation, "evaluate_dataset", lambda *a, **k: calls.append(type(a[1]).__name__) or real(*a, **k))
    out = compare_models(parse_model_args(["gc=grabcut", f"net=ritm:{checkpoint}"]), datasets, CPU, tmp_path / "o",
                         n_clicks=4, progress=False, resume=True)
    assert len(calls) == 3 and "GrabCutPredictor" not in calls
    assert [r.model for r in out["runs"]] == ["gc", "net"] and all(len(r.all_ious) == 3 for r in out["runs"])


def test_broken_store_is_refused_naming_the_line(tmp_path):
    path = tmp_path / "s.jsonl"
    SampleStore(path, {"a": 1})
    with open(path, "a") as f:
        f.write("not json\n")
    with pytest.raises(UserError, match=r"s.jsonl: line 2 is not a finished sample"):
        SampleStore(path, {"a": 1}, resume=True)
    path.write_text("[]\n")
    with pytest.raises(UserError, match="not a sample store"):
        SampleStore(path, {"a": 1}, resume=True)
