"""``python -m isegm.web``: every bad input is one ``error:`` line and exit status 2 before the model loads or
anything listens; the token rule of the host; a real start that serves the page and the API."""
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest


pytest.importorskip("fastapi", reason="the web server needs fastapi (pip install -r requirements.txt)")
from isegm.web import cli as web_cli  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_main(capsys, argv):
    status = web_cli.main(argv)
    err = capsys.readouterr().err
    return status, err


def test_bad_input_is_one_line_exit_2(folders, tiny_checkpoint, tmp_path, capsys):
    images, out = folders
    ok = ["--checkpoint", str(tiny_checkpoint), "--cpu", "--port", str(free_port())]
    empty = tmp_path / "empty"
    empty.mkdir()
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    blank_ckpt = tmp_path / "blank.pth"
    blank_ckpt.write_bytes(b"")
    text_ckpt = tmp_path / "text.pth"
    text_ckpt.write_text("not a checkpoint")
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    cases = [
        (["--out", str(out)] + ok, "--images"),
        (["--images", str(tmp_path / "nope"), "--out", str(out)] + ok, "no such folder"),
        (["--images", str(a_file), "--out", str(out)] + ok, "is a file, expected a folder of images"),
        (["--images", str(empty), "--out", str(out)] + ok, "has no image files"),
        (["--images", str(images), "--out", str(a_file)] + ok, "is a file, expected a folder"),
        (["--images", str(images), "--out", str(images)] + ok, "is the --images folder"),
        (["--images", str(images), "--out", str(out), "--port", "0"], "--port"),
        (["--images", str(images), "--out", str(out), "--port", "70000"], "out of range"),
        (["--images", str(images), "--out", str(out), "--port", str(busy.getsockname()[1]),
          "--checkpoint", str(tiny_checkpoint)], "cannot listen"),
        (["--images", str(images), "--out", str(out), "--host", "no-such-host.invalid"] + ok, "--host"),
        (["--images", str(images), "--out", str(out), "--port", str(free_port()),
          "--checkpoint", str(tmp_path / "missing.pth")], "missing.pth"),
        (["--images", str(images), "--out", str(out), "--port", str(free_port()),
          "--checkpoint", str(blank_ckpt)], "is empty"),
        (["--images", str(images), "--out", str(out), "--port", str(free_port()), "--cpu",
          "--checkpoint", str(text_ckpt)], "cannot load model"),
        (["--images", str(images), "--out", str(out), "--classes", "a,,b"] + ok, "empty name"),
        (["--images", str(images), "--out", str(out), "--threshold", "1"] + ok, "--threshold"),
        (["--images", str(images), "--out", str(out), "--overlap", "newest"] + ok, "--overlap"),
        (["--images", str(images), "--out", str(out), "--cpu", "--gpu", "0"] + ok[:2], "not allowed with"),
        (["--images", str(images), "--out", str(out), "--max-upload-mb", "0"] + ok, "--max-upload-mb"),
    ]
    try:
        for argv, expected in cases:
            status, err = run_main(capsys, argv)
            assert status == 2, (argv, err)
            assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, (argv, err)
            assert expected in err, (argv, err)
    finally:
        busy.close()
    assert not out.exists(), "a refused start must not write anything"


def test_token_only_off_loopback(folders, tiny_checkpoint):
    images, out = folders
    base = ["--images", str(images), "--out", str(out), "--checkpoint", str(tiny_checkpoint), "--cpu"]
    local = web_cli.prepare_web(base + ["--port", str(free_port())], load_model=False)
    assert local.token is None and local.url == f"http://127.0.0.1:{local.port}/"
    forced = web_cli.prepare_web(base + ["--port", str(free_port()), "--require-token"], load_model=False)
    assert forced.token and forced.url.endswith(f"?token={forced.token}")
    anyhost = web_cli.prepare_web(base + ["--port", str(free_port()), "--host", "0.0.0.0"], load_model=False)
    assert anyhost.token and len(anyhost.token) >= 32 and anyhost.token != forced.token
    assert anyhost.url == f"http://{socket.gethostname()}:{anyhost.port}/?token={anyhost.token}"
    assert web_cli.is_loopback("127.0.0.5") and web_cli.is_loopback("::1") and web_cli.is_loopback("localhost")
    assert not web_cli.is_loopback("0.0.0.0") and not web_cli.is_loopback("192.168.1.4")


def test_module_starts_and_serves(folders, tiny_checkpoint, tmp_path):
    images, out = folders
    port = free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "isegm.web", "--images", str(images), "--out", str(out),
                             "--checkpoint", str(tiny_checkpoint), "--cpu", "--port", str(port),
                             "--limit-longest-size", "64", "--host", "127.0.0.1", "--require-token"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"open (http://127\.0\.0\.1:\d+/\?token=(\S+))", line)
        assert match, line
        url, token = match.group(1), match.group(2)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/info?token={token}", timeout=5) as r:
                    info = r.read().decode()
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
                time.sleep(0.2)
        assert '"checkpoint":"tiny_hrnet18s.pth"' in info
        with urllib.request.urlopen(url, timeout=5) as r:
            assert b"<canvas" in r.read()
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/images", timeout=5)
        assert exc.value.code == 401
    finally:
        proc.terminate()
        proc.wait(20)


def test_missing_web_stack_is_one_line(folders, tiny_checkpoint, capsys, monkeypatch):
    images, out = folders
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # `import uvicorn` now raises ImportError
    status, err = run_main(capsys, ["--images", str(images), "--out", str(out), "--checkpoint",
                                    str(tiny_checkpoint), "--cpu", "--port", str(free_port())])
    assert status == 2 and err.strip() == ("error: the web view needs uvicorn: python3 -m pip install -r "
                                           "requirements.txt")
