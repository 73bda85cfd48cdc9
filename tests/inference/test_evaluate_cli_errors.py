"""scripts/evaluate_model.py on bad input: exit 2, one line ``error: ...`` naming the offending value or file,
and no results folder left behind (each case runs the script's main through isegm.errors.run_cli)."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from eval_fixtures import make_grabcut

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "evaluate_model.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("evaluate_model_cli_errors", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def env(tmp_path):
    """A valid set-up (config, GrabCut-layout data, checkpoint-shaped files); each case breaks one thing."""
    data = make_grabcut(tmp_path / "GrabCut", n=1, empty=False)
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "notes.pth").write_text("this is a text file, not a checkpoint\n")
    good = tmp_path / "weights" / "plain.pth"
    torch.save({"config": {"class": "isegm.model.is_hrnet_model.HRNetModel", "params": {}},
                "state_dict": {"w": torch.zeros(4096)}}, good)
    blob = good.read_bytes()
    (tmp_path / "weights" / "cut.pth").write_bytes(blob[: len(blob) // 2])
    torch.save({"config": {"class": "isegm.model.is_hrnet_model.HRNetModel", "params": {}}},
               tmp_path / "weights" / "nostate.pth")
    torch.save({"config": {"class": "evil.Net", "params": {}}, "state_dict": {}}, tmp_path / "weights" / "evil.pth")
    (tmp_path / "weights" / "folder.pth").mkdir()
    config = tmp_path / "config.yml"
    config.write_text(f"INTERACTIVE_MODELS_PATH: ./weights\nEXPS_PATH: ./exps\nGRABCUT_PATH: {data}\n")
    return tmp_path, config


def _run(script, env, capsys, argv):
    from isegm.errors import run_cli

    tmp_path, config = env
    logs = tmp_path / "logs"
    base = ["NoBRS", "--datasets", "GrabCut", "--no-progress", "--config-path", str(config),
            "--logs-path", str(logs)] + ([] if "--gpus" in argv else ["--cpu"])
    if not any(a in ("--checkpoint", "--exp-path") for a in argv):
        base += ["--checkpoint", str(tmp_path / "weights" / "notes.pth")]
    status = run_cli(script.main, base + argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert status == 2, captured
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert not logs.exists(), "a results folder was left behind"
    return lines[0]


CASES = [
    # (argv, text the error line must contain)
    (["--thresh", "1.5"], "1.5"),
    (["--target-iou", "2"], "2"),
    (["--n-clicks", "0"], "--n-clicks"),
    (["--max-samples", "0"], "--max-samples"),
    (["--datasets", "GrabCat"], "'GrabCat'; did you mean GrabCut?"),
    (["--eval-mode", "zoomy"], "'zoomy'"),
    (["--gpus", "first"], "--gpus 'first'"),
    (["--set", "UNKNOWN_KEY=1"], "unknown config key 'UNKNOWN_KEY'"),
    (["--set", "COCO_MVAL_PTH=x"], "'COCO_MVAL_PTH'; did you mean COCO_MVAL_PATH?"),
    (["--set", "GRABCUT_PATH"], "'GRABCUT_PATH' is not of the form KEY=VALUE"),
    (["--set", "GRABCUT_PATH=/no/such/GrabCut"], "/no/such/GrabCut"),
    (["--datasets", "Berkeley", "--set", "BERKELEY_PATH="], "BERKELEY_PATH"),
    (["--checkpoint", "WEIGHTS/notes.pth"], "not a PyTorch checkpoint (torch.save zip)"),
    (["--checkpoint", "WEIGHTS/cut.pth"], "cut.pth: truncated"),
    (["--checkpoint", "WEIGHTS/nostate.pth"], "nostate.pth: no 'state_dict'"),
    (["--checkpoint", "WEIGHTS/evil.pth"], "unknown model class 'evil.Net'"),
    (["--checkpoint", "WEIGHTS/missing.pth"], "missing.pth"),
    (["--checkpoint", "WEIGHTS/folder.pth"], "folder.pth is a folder"),
    (["--checkpoint", "nonexistent_prefix"], "nonexistent_prefix"),
    (["--config-path", "/no/such/config.yml"], "/no/such/config.yml"),
    (["--clicks-limit", "0"], "--clicks-limit 0"),
    (["--cf-n", "-1"], "argument --cf-n: -1 is out of range"),
    (["--cf-n", "two"], "argument --cf-n: 'two' is not an integer"),
    (["--acf"], "--acf needs --cf-n N with N >= 1"),
    (["--cf-n", "1", "--cf-clicks", "0"], "argument --cf-clicks: 0 is out of range"),
    (["--cf-clicks", "1"], "--cf-clicks needs --cf-n N with N >= 1"),
]


@pytest.mark.parametrize("argv,expected", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_input_is_one_error_line(script, env, capsys, argv, expected):
    tmp_path, _ = env
    argv = [a.replace("WEIGHTS", str(tmp_path / "weights")) for a in argv]
    line = _run(script, env, capsys, argv)
    assert expected in line, line


def test_standalone_script_prints_one_line(env):
    """The real process: exit status 2, nothing on stderr but the error line."""
    tmp_path, config = env
    result = subprocess.run([sys.executable, str(SCRIPT), "NoBRS", "--cpu", "--config-path", str(config),
                             "--checkpoint", str(tmp_path / "weights" / "notes.pth"), "--datasets", "GrabCut",
                             "--logs-path", str(tmp_path / "logs")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("error: checkpoint ") and "notes.pth" in result.stderr
    assert not (tmp_path / "logs").exists()
