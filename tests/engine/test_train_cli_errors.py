"""train.py refuses bad input with one line ``error: ...`` naming the value or file, exit status 2,
no traceback, and leaves no run folder behind. All in-process through ``run_cli(train.main, argv)``
(fast: every case is refused before a model is built, or right after)."""
from pathlib import Path

import pytest

import train
from isegm.errors import run_cli


@pytest.fixture
def setup(tmp_path):
    from tests.engine.test_train import make_tiny_run
    script, cfg = make_tiny_run(tmp_path, 4, "batch_size=2, epochs=1")
    (tmp_path / "text.pth").write_text("not a checkpoint\n")
    (tmp_path / "empty.pth").write_bytes(b"")
    (tmp_path / "syntax.py").write_text("RECIPE = (\n")
    (tmp_path / "norecipe.py").write_text("x = 1\n")
    (tmp_path / "suem.py").write_text("from models.base import COCOMVAL_CPU, replace\n"
                                      "RECIPE = replace(COCOMVAL_CPU, copy_paste_prob=1.5)\n")
    (tmp_path / "preset.py").write_text("from models.base import COCOMVAL_CPU, replace\n"
                                        "RECIPE = replace(COCOMVAL_CPU, augment_preset='sdb')\n")
    (tmp_path / "stuff.py").write_text("from models.base import COCOMVAL_CPU, replace\n"
                                       "RECIPE = replace(COCOMVAL_CPU, stuff_prob=0.3)\n")
    return tmp_path, script, cfg


def _run_folders(tmp_path):
    exps = tmp_path / "exps"
    return sorted(p for p in exps.rglob("*") if p.is_dir() and p.name[:3].isdigit()) if exps.exists() else []


CASES = [  # (id, extra argv or replacement script, text the message must contain)
    ("weights-text", ["--weights", "{tmp}/text.pth"], "text.pth"),
    ("weights-truncated", ["--weights", "{tmp}/empty.pth"], "empty.pth"),
    ("weights-missing", ["--weights", "{tmp}/nothere.pth"], "nothere.pth"),
    ("script-missing", {"script": "{tmp}/missing.py"}, "missing.py"),
    ("script-syntax", {"script": "{tmp}/syntax.py"}, "syntax.py"),
    ("script-norecipe", {"script": "{tmp}/norecipe.py"}, "norecipe.py"),
    ("batch-size-0", ["--batch-size", "0"], "--batch-size"),
    ("epochs-0", ["--epochs", "0"], "--epochs"),
    ("workers-neg", ["--workers", "-1"], "--workers"),
    ("gpus-bad", ["--gpus", "a,b"], "a,b"),
    ("resume-exp-missing", ["--resume-exp", "077"], "077"),
    ("start-epoch-neg", ["--start-epoch", "-1"], "--start-epoch"),
    ("amp-bad", ["--amp", "fp8"], "fp8"),
    ("max-batches-0", ["--max-batches", "0"], "--max-batches"),
    ("ngpus-removed", ["--ngpus", "2"], "--ngpus"),
    ("suem-prob", {"script": "{tmp}/suem.py"}, "copy_paste_prob"),
    ("augment-preset-typo", {"script": "{tmp}/preset.py"}, "augment_preset='sdb'"),
    ("stuff-without-stuff", {"script": "{tmp}/stuff.py"}, "has no stuff regions"),
]


@pytest.mark.parametrize("case_id,extra,needle", CASES, ids=[c[0] for c in CASES])
def test_bad_input_one_line_exit_2(setup, capsys, case_id, extra, needle):
    tmp_path, script, cfg = setup
    fmt = lambda s: s.format(tmp=tmp_path)  # noqa: E731
    if isinstance(extra, dict):
        argv = [fmt(extra["script"]), "--cpu", "--workers", "0", "--config-path", str(cfg)]
    else:
        argv = [str(script), "--cpu", "--workers", "0", "--config-path", str(cfg)] + [fmt(a) for a in extra]
    status = run_cli(train.main, argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2, (case_id, err)
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert needle in err[0], (needle, err[0])
    assert "Traceback" not in err[0]
    assert _run_folders(tmp_path) == [], _run_folders(tmp_path)


def test_resume_prefix_missing_names_the_checkpoint(setup, capsys):
    tmp_path, script, cfg = setup
    run = tmp_path / "exps" / "tiny" / "tiny_itermask" / "000"
    (run / "checkpoints").mkdir(parents=True)
    argv = [str(script), "--cpu", "--config-path", str(cfg), "--resume-exp", "000", "--resume-prefix", "042"]
    assert run_cli(train.main, argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "042" in err[0], err


def test_failed_start_removes_its_run_folder(setup, capsys):
    """A start that fails after the run folder exists (here: the dataset folder is missing) removes it."""
    tmp_path, script, cfg = setup
    cfg.write_text(f"EXPS_PATH: {tmp_path / 'exps'}\nCOCO_MVAL_PATH: {tmp_path / 'no_data'}\n")
    status = run_cli(train.main, [str(script), "--cpu", "--workers", "0", "--config-path", str(cfg)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and err[-1].startswith("error: ") and "no_data" in err[-1], err
    assert _run_folders(tmp_path) == []
    assert list((tmp_path / "exps").rglob("*")) == []  # nor the empty <group>/<script> folders above it


def test_debug_shows_the_traceback(setup):
    tmp_path, script, cfg = setup
    from isegm.errors import UserError
    with pytest.raises(UserError, match="text.pth"):
        run_cli(train.main, [str(script), "--cpu", "--config-path", str(cfg), "--weights",
                             str(tmp_path / "text.pth"), "--debug"])
