"""scripts/benchmark.py --original: the side-by-side timing against the original RITM code parses the original's
table, compares per-click IoUs sample by sample and computes the SPC ratios it reports. The original is stood in
for by a small script that prints RITM's table and writes RITM's --save-ious pickle (the real checkout is not
part of the test environment)."""
import importlib.util
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from eval_fixtures import make_grabcut

REPO = Path(__file__).resolve().parents[2]

FAKE_ORIGINAL = textwrap.dedent('''
    import argparse, pickle, sys
    from pathlib import Path
    import numpy as np, yaml
    p = argparse.ArgumentParser()
    p.add_argument("mode"); p.add_argument("--checkpoint"); p.add_argument("--datasets")
    p.add_argument("--config-path"); p.add_argument("--logs-path"); p.add_argument("--save-ious", action="store_true")
    p.add_argument("--cpu", action="store_true")
    a = p.parse_args()
    folder = Path(yaml.safe_load(open(a.config_path))["GRABCUT_PATH"])
    n = len([f for f in (folder / "boundary_GT").iterdir() if f.name != "z_empty.png"])
    ious = [np.array([0.5, 0.95])] + [np.array(IOUS)] * (n - 1)
    out = Path(a.logs_path) / "ious"; out.mkdir(parents=True)
    pickle.dump(ious, open(out / "GrabCut_cvpr_NoBRS_20.pkl", "wb"))
    print("|  BRS Type   |  Dataset  | NoC@80% | NoC@85% | NoC@90% |>=20@85% |>=20@90% | SPC,s |  Time   |")
    print("|    NoBRS    |  GrabCut  |  1.00   |  2.00   |  3.00   |    0    |    0    | SPC_S | 0:00:01 |")
''')


@pytest.fixture
def bench_script():
    spec = importlib.util.spec_from_file_location("benchmark_script", REPO / "scripts" / "benchmark.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _our_run(tmp_path, dataset, checkpoint):
    """Our evaluator's per-click IoUs on the dataset (what --original compares against the original's)."""
    import subprocess
    import sys

    logs = tmp_path / "ours"
    subprocess.run([sys.executable, str(REPO / "scripts" / "evaluate_model.py"), "NoBRS", "--checkpoint",
                    str(checkpoint), "--datasets", "GrabCut", "--dataset-path", f"GrabCut={dataset}", "--cpu",
                    "--logs-path", str(logs), "--save-ious", "--no-progress"], check=True, capture_output=True)
    return min(logs.rglob("ious/*.npy"), key=lambda f: len(f.name))


def test_versus_original_reports_ratio_iou_differences_and_splits(tmp_path, bench_script, tiny_click_model, capsys):
    from isegm.model import save_is_model

    dataset = make_grabcut(tmp_path / "GrabCut", n=3)
    checkpoint = save_is_model(tiny_click_model(seed=1), tmp_path / "tiny.pth")
    ours = np.load(_our_run(tmp_path, dataset, checkpoint))
    same = ours[1][~np.isnan(ours[1])]
    assert np.array_equal(ours[1:], ours[[1, 1]], equal_nan=True)  # the fixture's samples 1 and 2 run alike

    original = tmp_path / "ritm"
    (original / "scripts").mkdir(parents=True)
    (original / "config.yml").write_text("GRABCUT_PATH: ./datasets/GrabCut\n")
    (original / "scripts" / "evaluate_model.py").write_text(
        FAKE_ORIGINAL.replace("IOUS", repr(same.tolist())).replace("SPC_S", "2.000"))
    out = tmp_path / "cmp.json"
    bench_script.main(["--original", str(original), "--checkpoint", str(checkpoint), "--dataset", "grabcut",
                    "--dataset-path", str(dataset), "--threads", "1", "--paths", "exact,bnfold+cl", "--rounds", "1",
                    "--json", str(out)])
    result = json.loads(out.read_text())
    assert result["samples"] == 3 and set(result["paths"]) == {"original", "exact", "bnfold+cl"}
    assert result["paths"]["original"]["ratio"] == 1.0 and result["paths"]["original"]["noc90"] == 3.0
    for label in ("exact", "bnfold+cl"):
        row = result["paths"][label]
        assert row["ratio"] == pytest.approx(row["spc_s"][0] / 2.0)
        assert row["samples_split"] == 1  # sample 0 differs from the fake original, samples 1 and 2 equal it
        assert row["max_iou_diff"] > 0
    assert "original RITM fp32 SPC 2.000 s" in capsys.readouterr().out


def test_versus_original_refuses_bad_input_in_one_line(tmp_path, bench_script):
    with pytest.raises(SystemExit, match="expected a RITM checkout"):
        bench_script.main(["--original", str(tmp_path), "--checkpoint", "x.pth"])
    with pytest.raises(SystemExit, match="unknown tag 'fp8'"):
        bench_script._path_flags("fp8+cl", "cpu")
    with pytest.raises(SystemExit, match="no such ONNX file"):
        bench_script._path_flags(str(tmp_path / "m.onnx"), "cpu")
    assert bench_script._path_flags("bf16+bnfold", "cpu") == ["--precision", "bf16", "--fold-bn"]
    assert bench_script._path_flags("bf16+cl+compile", "cpu") == ["--precision", "bf16", "--channels-last", "--compile"]
