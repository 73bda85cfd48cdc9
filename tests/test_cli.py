"""Console entry points run the checkout's scripts with the user's arguments."""
import shutil
import subprocess

import pytest

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("command, expected", [
    ("isegm-evaluate", "NoBRS"), ("isegm-train", "--resume-exp"), ("isegm-annotate", "--clicks"), ("isegm-demo", "--overwrite"),
    ("isegm-web", "--images"),
])
def test_entry_point_runs_the_script(command, expected):
    exe = shutil.which(command)
    if exe is None:
        pytest.skip(f"{command} is not installed (pip install -e . installs the entry points)")
    result = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout


def test_entry_point_errors_are_one_line(tmp_path):
    exe = shutil.which("isegm-evaluate")
    if exe is None:
        pytest.skip("isegm-evaluate is not installed (pip install -e . installs the entry points)")
    result = subprocess.run([exe, "NoBRS", "--checkpoint", str(tmp_path / "missing.pth"), "--datasets", "GrabCut", "--cpu"],
                            capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert result.returncode == 2
    assert result.stderr.startswith("error:") and "missing.pth" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
