"""The browser annotation server through FastAPI's TestClient (no browser): every endpoint with good and bad
input, path safety, the token and Host checks, two tabs on one image, a killed server resumed from its
autosave, and scripts/annotate.py replaying a web session bit for bit.

The app is built by the CLI's own path (:func:`isegm.web.cli.prepare_web`) on a seeded random HRNet-18s at a
64 px network input, so a click costs ~0.1 s on one CPU thread; the concurrency tests use a gated fake
predictor instead, to hold a prediction open."""
import importlib.util
import json
import os
import socket
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from web_fakes import scene, write_image
from isegm.annotation import AnnotationSession, load_session

fastapi = pytest.importorskip("fastapi", reason="the web server needs fastapi (pip install -r requirements.txt)")
from fastapi.testclient import TestClient  # noqa: E402

from isegm.web.cli import prepare_web  # noqa: E402
from isegm.web.server import JSON_LIMIT, create_app  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(images, out, checkpoint, *extra):
    argv = ["--images", str(images), "--out", str(out), "--checkpoint", str(checkpoint), "--cpu",
            "--limit-longest-size", "64", "--port", str(free_port()), *extra]
    return prepare_web(argv)


class Tab:
    """One browser tab: remembers the revision it shows, like app.js."""

    def __init__(self, client, name):
        self.client, self.name, self.rev, self.state = client, name, None, None

    def open(self, resume=None):
        r = self.client.post("/api/open", json={"name": self.name, "resume": resume})
        assert r.status_code == 200, r.text
        if "state" in r.json():
            self._take(r.json()["state"])
        return r.json()

    def _take(self, state):
        self.state, self.rev = state, state["revision"]

    def post(self, path, expect=200, **fields):
        r = self.client.post(path, json={"name": self.name, "rev": self.rev, **fields})
        assert r.status_code == expect, (path, r.status_code, r.text)
        body = r.json()
        if "state" in body and r.status_code == 200:
            self._take(body["state"])
        return body

    def layer(self):
        r = self.client.get("/api/layer.png", params={"name": self.name})
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        bgra = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_UNCHANGED)
        return bgra


@pytest.fixture
def web(folders, tiny_checkpoint):
    images, out = folders
    setup = build(images, out, tiny_checkpoint, "--classes", "disc,square")
    with TestClient(setup.app, base_url="http://127.0.0.1") as client:
        yield client, images, out, tiny_checkpoint


def _annotate_two_objects(tab):
    """Object 1 'disc' from two clicks; object 2 'square' from a box and one click. Returns the clicks."""
    tab.post("/api/click", y=36, x=30, positive=True)
    tab.post("/api/click", y=60, x=80, positive=False)
    assert len(tab.state["clicks"]) == 2 and tab.state["last_prediction_ms"] is not None
    tab.post("/api/finish", label="disc")
    assert [o["label"] for o in tab.state["objects"]] == ["disc"] and tab.state["next_id"] == 2
    tab.post("/api/label", label="square")
    tab.post("/api/box", box=[8, 56, 46, 92])
    assert tab.state["box"] == [8, 56, 46, 92]
    tab.post("/api/click", y=27, x=74, positive=True)
    body = tab.post("/api/finish")
    if body.get("finished") != 2:
        pytest.fail(f"object 2 not finished: {body}")
    return tab.state


# ---------------------------------------------------------------------- the page and the listing
def test_page_info_and_image_list(web):
    client, images, out, _ = web
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text and "static/app.js" in page.text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/style.css").status_code == 200
    info = client.get("/api/info").json()
    assert info["classes"] == ["disc", "square"] and info["model"]["device"] == "cpu"
    assert info["model"]["checkpoint"] == "tiny_hrnet18s.pth" and info["token_required"] is False
    listing = client.get("/api/images").json()["images"]
    assert [(i["name"], i["status"], i["open"]) for i in listing] == [("other.jpg", "not started", False),
                                                                      ("scene.png", "not started", False)]
    r = client.get("/api/image", params={"name": "scene.png"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    shown = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    assert (cv2.cvtColor(shown, cv2.COLOR_BGR2RGB) == scene()).all(), "the page shows the pixels the model sees"
    assert client.get("/api/image", params={"name": "missing.png"}).status_code == 404
    assert not out.exists(), "listing and viewing must not write anything"


# ---------------------------------------------------------------------- one full session, the files and the replay
def test_session_endpoints_files_and_replay_bit_for_bit(web, tmp_path):
    client, images, out, checkpoint = web
    tab = Tab(client, "scene.png")
    opened = tab.open()
    assert opened["outcome"] == "loaded" and tab.rev == 0 and tab.state["label"] == "disc"
    assert tab.state["width"] == 96 and tab.state["height"] == 72 and tab.state["clicks"] == []

    tab.post("/api/click", y=36, x=30, positive=True)
    layer = tab.layer()
    assert layer.shape == (72, 96, 4)
    alpha = layer[..., 3]
    assert set(np.unique(alpha)) <= {0, 254, 255} and (alpha > 0).any()
    next_bgr = tab.state["next_color"][::-1]
    assert (layer[alpha > 0][:, :3] == next_bgr).all(), "the current object is drawn in its next-id colour"
    assert tab.state["revision"] == 1

    tab.post("/api/click", y=10, x=10, positive=False)
    assert tab.post("/api/undo")["undone"] == "action" and len(tab.state["clicks"]) == 1
    tab.post("/api/click", y=60, x=80, positive=False)
    tab.post("/api/threshold", threshold=0.45)
    assert tab.state["threshold"] == 0.45
    tab.post("/api/threshold", threshold=0.5)
    tab.post("/api/finish", label="disc", isthing=True)
    tab.post("/api/reset")  # nothing to reset: still a change request that succeeds
    tab.post("/api/label", label="square")
    tab.post("/api/box", box=[8, 56, 46, 92])
    tab.post("/api/click", y=27, x=74, positive=True)
    tab.post("/api/box", box=None)
    assert tab.state["box"] is None
    tab.post("/api/box", box=[8, 56, 46, 92])
    tab.post("/api/finish")
    assert [o["label"] for o in tab.state["objects"]] == ["disc", "square"]
    # undo with no action left reopens the last object, undo again on its box, redo by finishing
    assert tab.post("/api/undo")["undone"] == "reopen" and tab.state["label"] == "square"
    tab.post("/api/finish")
    # an unfinished third object: kept in the autosave, not in the outputs
    tab.post("/api/click", y=65, x=10, positive=True)
    assert tab.state["has_current"] and tab.state["unsaved"]
    inst_layer = tab.layer()
    ids = {tuple(o["color"][::-1]) for o in tab.state["objects"]}
    assert ids <= {tuple(p) for p in inst_layer[inst_layer[..., 3] > 0][:, :3]}

    saved = tab.post("/api/save", overwrite=False)
    assert "the unfinished object is not included" in saved["message"]
    assert sorted(saved["saved"]) == sorted(["scene_instances.png", "scene_colors.png", "scene_overlay.png",
                                             "scene.json", "scene_semantic.png", "scene_panoptic.png",
                                             "scene_panoptic.json"])
    assert not tab.state["unsaved"] and tab.state["status"] == "in progress"  # the third object is open
    inst = cv2.imread(str(out / "scene_instances.png"), cv2.IMREAD_UNCHANGED)
    assert inst.dtype == np.uint16 and set(np.unique(inst)) == {0, 1, 2}
    coco = json.loads((out / "scene.json").read_text())
    assert [a["label"] for a in coco["annotations"]] == ["disc", "square"]
    assert [(c["y"], c["x"], c["positive"]) for c in coco["annotations"][0]["clicks"]] == [(36, 30, True),
                                                                                          (60, 80, False)]
    assert coco["annotations"][1]["restrict_box"] == [8, 56, 46, 92]
    assert [c["name"] for c in coco["categories"]] == ["disc", "square"]
    auto = load_session(out / "scene.autosave.json")
    assert len(auto["objects"]) == 2 and len(auto["current"]["clicks"]) == 1

    # saving again: the existing files are named and kept unless overwrite
    before = (out / "scene.json").read_bytes()
    again = tab.post("/api/save", expect=409, overwrite=False)
    assert again["code"] == "exists" and "scene.json" in again["existing"]
    assert (out / "scene.json").read_bytes() == before
    tab.post("/api/save", overwrite=True)
    listing = {i["name"]: i["status"] for i in client.get("/api/images").json()["images"]}
    assert listing == {"scene.png": "in progress", "other.jpg": "not started"}
    tab.post("/api/reset")
    tab.post("/api/save", overwrite=True)
    listing = {i["name"]: i["status"] for i in client.get("/api/images").json()["images"]}
    assert listing["scene.png"] == "saved"

    # scripts/annotate.py replays the web session to the same files, bit for bit
    spec = importlib.util.spec_from_file_location("annotate_script", REPO / "scripts" / "annotate.py")
    annotate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(annotate)
    replay = tmp_path / "replay"
    assert annotate.main(["--image", str(images / "scene.png"), "--clicks", str(out / "scene.json"),
                          "--checkpoint", str(checkpoint), "--out", str(replay), "--cpu"]) == 0
    for suffix in ("_instances.png", "_colors.png", "_overlay.png", "_semantic.png", "_panoptic.png"):
        assert (replay / f"scene{suffix}").read_bytes() == (out / f"scene{suffix}").read_bytes(), suffix
    replayed = json.loads((replay / "scene.json").read_text())
    for a, b in zip(coco["annotations"], replayed["annotations"]):
        assert a["rle"] == b["rle"] and a["clicks"] == b["clicks"] and a["threshold"] == b["threshold"]


def test_refused_actions_and_bad_bodies(web):
    client, images, out, _ = web
    tab = Tab(client, "scene.png")
    tab.open()
    post = client.post
    # bodies
    r = post("/api/click", content=b"y=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415 and "application/json" in r.json()["detail"]
    r = post("/api/click", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["detail"]
    assert post("/api/click", json=[1, 2]).status_code == 400
    assert "'rev'" in tab.client.post("/api/click", json={"name": "scene.png", "y": 1, "x": 1,
                                                          "positive": True}).json()["detail"]
    assert "'y' must be an integer" in tab.post("/api/click", expect=400, y=True, x=3, positive=True)["detail"]
    assert "'positive'" in tab.post("/api/click", expect=400, y=3, x=3, positive=1)["detail"]
    # the session's own refusals, one line each, with the state unchanged
    body = tab.post("/api/click", expect=400, y=72, x=5, positive=True)
    assert "outside the 96x72 image" in body["detail"] and body["code"] == "refused"
    assert body["state"]["revision"] == 0
    assert "nothing to finish" in tab.post("/api/finish", expect=400)["detail"]
    assert "smaller than 4x4" in tab.post("/api/box", expect=400, box=[0, 0, 2, 2])["detail"]
    assert "[y0, x0, y1, x1]" in tab.post("/api/box", expect=400, box=[0, 0, 2])["detail"]
    assert "threshold must be in (0, 1)" in tab.post("/api/threshold", expect=400, threshold=1.5)["detail"]
    assert "finite number" in tab.post("/api/threshold", expect=400, threshold="0.5")["detail"]
    assert "must not be empty" in tab.post("/api/label", expect=400, label="  ")["detail"]
    assert "at most 200" in tab.post("/api/label", expect=400, label="x" * 201)["detail"]
    assert "nothing to save" in tab.post("/api/save", expect=400)["detail"]
    tab.post("/api/box", box=[8, 56, 46, 92])
    assert "outside the box" in tab.post("/api/click", expect=400, y=60, x=10, positive=True)["detail"]
    assert tab.rev == 1
    # a change for an image that is not open
    r = post("/api/click", json={"name": "other.jpg", "rev": 0, "y": 1, "x": 1, "positive": True})
    assert r.status_code == 409 and r.json()["code"] == "not_open"
    assert client.get("/api/state", params={"name": "other.jpg"}).status_code == 409
    assert client.get("/api/layer.png", params={"name": "other.jpg"}).status_code == 409
    assert not (out / "other.autosave.json").exists()


def test_external_mask_upload(web):
    client, images, out, _ = web
    tab = Tab(client, "scene.png")
    tab.open()

    def upload(data, rev=None, content_type="image/png"):
        return client.post("/api/mask", params={"name": "scene.png", "rev": tab.rev if rev is None else rev},
                           content=data, headers={"Content-Type": content_type})

    mask = np.zeros((72, 96), np.uint8)
    mask[40:70, 5:40] = 255
    png = cv2.imencode(".png", mask)[1].tobytes()
    r = upload(png)
    assert r.status_code == 200, r.text
    tab._take(r.json()["state"])
    assert tab.state["has_current"] and tab.state["clicks"] == []
    assert (tab.layer()[..., 3] > 0).sum() == 30 * 35
    wrong = cv2.imencode(".png", np.zeros((10, 12), np.uint8))[1].tobytes()
    r = upload(wrong)
    assert r.status_code == 400 and "12x10 (WxH) but the image is 96x72" in r.json()["detail"]
    # the size in the PNG header is checked before anything is decoded (a tiny file claiming 30000 x 30000)
    bomb = png[:16] + (30000).to_bytes(4, "big") + (30000).to_bytes(4, "big") + png[24:60]
    r = upload(bomb)
    assert r.status_code == 400 and "30000x30000 (WxH) but the image is 96x72" in r.json()["detail"]
    r = upload(cv2.imencode(".jpg", np.zeros((72, 96), np.uint8))[1].tobytes())
    assert r.status_code == 400 and "must be a PNG" in r.json()["detail"]
    r = upload(cv2.imencode(".png", np.zeros((72, 96), np.uint8))[1].tobytes())
    assert r.status_code == 400 and "no foreground" in r.json()["detail"]
    assert upload(png, content_type="application/octet-stream").status_code == 415
    assert upload(png, rev=0).status_code == 409  # stale: the page showed revision 0
    r = client.post("/api/mask", params={"name": "scene.png"}, content=png, headers={"Content-Type": "image/png"})
    assert r.status_code == 400 and "'rev'" in r.json()["detail"]
    tab.post("/api/click", y=50, x=20, positive=True)
    tab.post("/api/finish", label="patch")
    tab.post("/api/save")
    coco = json.loads((out / "scene.json").read_text())
    assert coco["annotations"][0]["init_mask"] is not None


# ---------------------------------------------------------------------- path safety
def test_path_safety_reads(web, tmp_path):
    client, images, out, _ = web
    secret = write_image(tmp_path / "secret.png", scene(seed=9))
    os.symlink(secret, images / "link_out.png")
    write_image(images / ".hidden.png", scene())
    os.symlink(images / "scene.png", images / "link_in.png")
    listed = [i["name"] for i in client.get("/api/images").json()["images"]]
    assert listed == ["link_in.png", "other.jpg", "scene.png"]
    bad = {"../secret.png": 400, str(secret): 400, "/etc/passwd": 400, "link_out.png": 403, ".hidden.png": 400,
           "..": 400, "a\\..\\secret.png": 400, "scene.png\0.png": 400, "C:secret.png": 400, "notes.txt": 404,
           "": 400, "sub/scene.png": 400}
    for name, status in bad.items():
        r = client.get("/api/image", params={"name": name})
        assert r.status_code == status, (name, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/json")
        r = client.post("/api/open", json={"name": name})
        assert r.status_code == status, (name, r.status_code, r.text)
    assert "outside --images" in client.get("/api/image", params={"name": "link_out.png"}).json()["detail"]
    assert client.get("/api/image", params={"name": "link_in.png"}).status_code == 200
    r = client.post("/api/open", json={"name": 5})
    assert r.status_code == 400 and "'name' must be a string" in r.json()["detail"]
    assert client.get("/api/image").status_code == 400
    # URL-level traversal never reaches a file either
    assert client.get("/static/../paths.py").status_code == 404
    assert client.get("/static/%2e%2e/paths.py").status_code == 404
    assert not out.exists()


def test_external_mask_upload_uses_the_mask_reading_rules(web):
    client, images, out, _ = web
    tab = Tab(client, "scene.png")
    tab.open()

    def upload(data):
        return client.post("/api/mask", params={"name": "scene.png", "rev": tab.rev}, content=data,
                           headers={"Content-Type": "image/png"})

    # the rules of isegm.io.read_binary_mask: a colour mask's brightest channel, alpha ignored
    rgba = np.zeros((72, 96, 4), np.uint8)
    rgba[10:30, 20:50] = (0, 0, 200, 0)
    rgba[..., 3][rgba[..., 2] == 0] = 255
    r = upload(cv2.imencode(".png", rgba)[1].tobytes())
    assert r.status_code == 200, r.text
    tab._take(r.json()["state"])
    assert (tab.layer()[..., 3] > 0).sum() == 20 * 30
    # a PNG whose header is right (the size matches) but whose data cannot be decoded: refused, named
    good = cv2.imencode(".png", np.zeros((72, 96), np.uint8))[1].tobytes()
    r = upload(good[:33] + b"\0" * 40)
    assert r.status_code == 400 and "cannot decode the uploaded external mask PNG" in r.json()["detail"]


def test_path_safety_writes_and_limits(web, tmp_path):
    client, images, out, _ = web
    tab = Tab(client, "scene.png")
    tab.open()
    # oversized bodies: by Content-Length and by streaming without one
    r = client.post("/api/mask", params={"name": "scene.png", "rev": 0}, content=b"\0" * (33 * 2 ** 20),
                    headers={"Content-Type": "image/png"})
    assert r.status_code == 413 and "over the limit" in r.json()["detail"]

    def chunks():
        for _ in range(40):
            yield b"\0" * 2 ** 20
    r = client.post("/api/mask", params={"name": "scene.png", "rev": 0}, content=chunks(),
                    headers={"Content-Type": "image/png"})
    assert r.status_code == 413
    r = client.post("/api/label", json={"name": "scene.png", "rev": 0, "label": "x" * JSON_LIMIT})
    assert r.status_code == 413
    assert tab.rev == 0 and client.get("/api/state", params={"name": "scene.png"}).json()["revision"] == 0

    # a link planted in --out is never written through
    tab.post("/api/click", y=36, x=30, positive=True)
    tab.post("/api/finish")
    target = tmp_path / "elsewhere.json"
    target.write_text("keep me")
    out.mkdir(exist_ok=True)
    os.symlink(target, out / "scene.json")
    body = tab.post("/api/save", expect=403)
    assert "symbolic link" in body["detail"]
    assert target.read_text() == "keep me"
    assert not (out / "scene_instances.png").exists()
    (out / "scene.json").unlink()
    tab.post("/api/save")
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(["scene.autosave.json", "scene.json", "scene_colors.png", "scene_instances.png",
                              "scene_overlay.png", "scene_panoptic.json", "scene_panoptic.png",
                              "scene_semantic.png"])
    assert sorted(p.name for p in images.iterdir()) == ["notes.txt", "other.jpg", "scene.png"]
    # an autosave that is a link is not read
    os.symlink(target, out / "other.autosave.json")
    r = client.post("/api/open", json={"name": "other.jpg", "resume": True})
    assert r.status_code == 403 and "symbolic link" in r.json()["detail"]


def test_same_stem_refused(web):
    client, images, out, _ = web
    write_image(images / "scene.jpg", scene())
    r = client.post("/api/open", json={"name": "scene.png"})
    assert r.status_code == 409 and r.json()["code"] == "stem" and "scene.jpg" in r.json()["detail"]


# ---------------------------------------------------------------------- token and Host
def test_token_and_host_checks(folders, tiny_checkpoint):
    images, out = folders
    setup = build(images, out, tiny_checkpoint, "--require-token")
    token = setup.token
    assert token and setup.url.endswith(f"/?token={token}") and setup.url.startswith("http://127.0.0.1:")
    with TestClient(setup.app, base_url="http://127.0.0.1") as client:
        for path in ("/", "/api/info", "/api/images", "/static/app.js"):
            r = client.get(path)
            assert r.status_code == 401 and "token" in r.json()["detail"], path
        assert client.get("/api/info", headers={"X-Isegm-Token": token + "x"}).status_code == 401
        assert client.get("/api/info", params={"token": "wrong"}).status_code == 401
        assert client.post("/api/open", json={"name": "scene.png"}).status_code == 401
        assert client.get("/api/info", headers={"X-Isegm-Token": token}).status_code == 200
        page = client.get("/", params={"token": token})
        assert page.status_code == 200 and "isegm_token" in page.headers["set-cookie"]
        assert "httponly" in page.headers["set-cookie"].lower()
        assert client.get("/api/images").status_code == 200  # the cookie from the page carries it
        client.cookies.clear()
        assert client.get("/api/images").status_code == 401
        client.cookies.set("isegm_token", "left-by-an-earlier-server")
        assert client.get("/", params={"token": token}).status_code == 200
        assert client.get("/api/images").status_code == 200  # the fresh cookie replaced the stale one
        r = client.get("/api/info", headers={"X-Isegm-Token": token, "Host": "evil.example:8000"})
        assert r.status_code == 400 and "refused Host" in r.json()["detail"]
        assert client.get("/api/info", headers={"X-Isegm-Token": token, "Host": "localhost:8000"}).status_code == 200
        assert client.get("/api/info", headers={"X-Isegm-Token": token, "Host": "[::1]:8000"}).status_code == 200


# ---------------------------------------------------------------------- a killed server resumes
def test_killed_server_resumes_from_autosave(folders, tiny_checkpoint):
    images, out = folders
    setup = build(images, out, tiny_checkpoint)
    with TestClient(setup.app, base_url="http://127.0.0.1") as client:
        tab = Tab(client, "scene.png")
        tab.open()
        state = _annotate_two_objects(tab)
        tab.post("/api/label", label="third")
        tab.post("/api/click", y=65, x=10, positive=True)
        before_layer = tab.layer()
        before = tab.state
    del setup, client  # the server dies without saving: only the autosave is left
    assert not (out / "scene.json").exists() and (out / "scene.autosave.json").is_file()

    setup2 = build(images, out, tiny_checkpoint)
    with TestClient(setup2.app, base_url="http://127.0.0.1") as client:
        status = {i["name"]: i["status"] for i in client.get("/api/images").json()["images"]}
        assert status["scene.png"] == "in progress"
        tab = Tab(client, "scene.png")
        ask = tab.open()
        assert ask["ask_resume"] is True and ask["autosave"] == "scene.autosave.json"
        assert tab.open(resume=True)["outcome"] == "resumed"
        after = tab.state
        for key in ("objects", "clicks", "box", "label", "threshold", "next_id"):
            assert after[key] == before[key], key
        assert [o["label"] for o in after["objects"]] == ["disc", "square"]
        assert (tab.layer() == before_layer).all(), "resumed masks differ from the killed server's"
        assert after["objects"] == state["objects"]
        tab.post("/api/finish")
        tab.post("/api/save")
        assert len(json.loads((out / "scene.json").read_text())["annotations"]) == 3


def test_autosave_resumes_across_the_web_and_the_tk_session(folders, tiny_checkpoint):
    """The Tk view resumes with ``session.restore(load_session(autosave))`` on a session built like
    prepare_demo's; a web autosave restores there, and a session autosaved that way opens in the web view."""
    import torch

    from isegm.annotation import runtime
    images, out = folders
    setup = build(images, out, tiny_checkpoint)
    with TestClient(setup.app, base_url="http://127.0.0.1") as client:
        tab = Tab(client, "scene.png")
        tab.open()
        tab.post("/api/click", y=36, x=30, positive=True)
        tab.post("/api/finish", label="disc")
        web_objects = tab.state["objects"]
    device = torch.device("cpu")
    params = runtime.default_predictor_params(64)
    saved = load_session(out / "scene.autosave.json")
    inference = runtime.recorded_inference(saved["settings"])  # the web view ran on the fastest path
    assert inference == runtime.inference_path("fastest", device)
    predictor = runtime.build_predictor(runtime.load_net(tiny_checkpoint, device, inference), device, params)
    tk_side = AnnotationSession(predictor, settings=runtime.session_settings(tiny_checkpoint, device, params,
                                                                             inference=inference))
    tk_side.set_image(scene(), "scene.png")
    tk_side.restore(saved)
    assert [(i, label, area) for i, label, area in tk_side.view_state().objects] == \
           [(o["id"], o["label"], o["area"]) for o in web_objects]
    # the Tk side continues and autosaves; the web view resumes that
    tk_side.autosave_path = out / "other.autosave.json"
    tk_side.set_image(cv2.cvtColor(cv2.imread(str(images / "other.jpg")), cv2.COLOR_BGR2RGB), "other.jpg")
    tk_side.set_label("blob")
    tk_side.add_click(20, 20, True)
    tk_side.finish_object()
    tk_area = tk_side.view_state().objects[0][2]
    with TestClient(build(images, out, tiny_checkpoint).app, base_url="http://127.0.0.1") as client:
        tab = Tab(client, "other.jpg")
        assert tab.open(resume=True)["outcome"] == "resumed"
        assert [(o["label"], o["area"]) for o in tab.state["objects"]] == [("blob", tk_area)]


def test_unreadable_autosave_is_moved_aside(web):
    client, images, out, _ = web
    out.mkdir()
    (out / "scene.autosave.json").write_text("{broken")
    tab = Tab(client, "scene.png")
    body = tab.open(resume=True)
    assert body["outcome"] == "loaded" and "moved to scene.autosave.json.bak" in body["warning"]
    assert (out / "scene.autosave.json.bak").read_text() == "{broken"
    assert not (out / "scene.autosave.json").exists()


# ---------------------------------------------------------------------- two tabs, busy sessions, memory
def test_two_tabs_cannot_interleave_edits(web):
    client, images, out, _ = web
    a, b = Tab(client, "scene.png"), Tab(client, "scene.png")
    assert a.open()["outcome"] == "loaded"
    assert b.open()["outcome"] == "joined" and b.rev == 0
    a.post("/api/click", y=36, x=30, positive=True)
    stale = b.post("/api/click", expect=409, y=60, x=80, positive=False)
    assert stale["code"] == "stale" and "another tab" in stale["detail"]
    assert stale["state"]["revision"] == 1 and len(stale["state"]["clicks"]) == 1
    b._take(stale["state"])
    b.post("/api/click", y=60, x=80, positive=False)
    assert b.rev == 2
    assert a.post("/api/finish", expect=409)["code"] == "stale"
    assert client.get("/api/state", params={"name": "scene.png"}).json()["clicks"] == b.state["clicks"]


class GatedPredictor:
    """Predictor-like fake whose predictions wait for ``gate`` (a disc of radius 8 around the last click)."""

    def __init__(self, gate, started):
        self.gate, self.started, self.shape = gate, started, None
        self.threads = []

    def set_input_image(self, image):
        self.shape = image.shape[:2]

    def get_prediction(self, clicker, prev_mask=None):
        self.threads.append(threading.current_thread().name)
        self.started.set()
        assert self.gate.wait(20)
        y, x = clicker.get_clicks()[-1].coords
        yy, xx = np.mgrid[:self.shape[0], :self.shape[1]]
        return (np.hypot(yy - y, xx - x) <= 8).astype(np.float32) * 0.9

    def get_states(self):
        return None

    def set_states(self, states):
        pass


def test_busy_image_refuses_a_second_change_and_predicts_off_the_request_thread(folders):
    images, out = folders
    gate, started = threading.Event(), threading.Event()
    predictors = []

    def make_session():
        predictors.append(GatedPredictor(gate, started))
        return AnnotationSession(predictors[-1], settings={"checkpoint": {"path": "fake.pth"}})

    app = create_app(images, out, make_session, max_sessions=1)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        tab = Tab(client, "scene.png")
        tab.open()
        results = {}
        slow = threading.Thread(target=lambda: results.update(
            r=client.post("/api/click", json={"name": "scene.png", "rev": 0, "y": 30, "x": 30, "positive": True})))
        slow.start()
        assert started.wait(10)
        # while the prediction runs, the server still answers, and refuses another change of this image
        assert client.get("/api/info").status_code == 200
        r = client.post("/api/click", json={"name": "scene.png", "rev": 0, "y": 5, "x": 5, "positive": True})
        assert r.status_code == 409 and r.json()["code"] == "busy" and "busy" in r.json()["detail"]
        assert client.post("/api/close", json={"name": "scene.png"}).status_code == 409
        gate.set()
        slow.join(20)
        assert results["r"].status_code == 200 and results["r"].json()["state"]["revision"] == 1
        assert predictors[0].threads == ["isegm-predict_0"]
        # max_sessions=1: opening another image closes this one (its autosave keeps it)
        Tab(client, "other.jpg").open()
        r = client.get("/api/state", params={"name": "scene.png"})
        assert r.status_code == 409 and r.json()["code"] == "not_open"
        status = {i["name"]: (i["status"], i["open"]) for i in client.get("/api/images").json()["images"]}
        assert status == {"scene.png": ("in progress", False), "other.jpg": ("not started", True)}
        assert client.post("/api/close", json={"name": "other.jpg"}).json() == {"closed": True}
        assert client.post("/api/close", json={"name": "other.jpg"}).json() == {"closed": False}
        assert tab.open(resume=True)["outcome"] == "resumed" and len(tab.state["clicks"]) == 1


class FailingPredictor(GatedPredictor):
    """Fails its second prediction like a device error would."""

    def get_prediction(self, clicker, prev_mask=None):
        if len(clicker.get_clicks()) == 2:
            raise RuntimeError("CUDA error: out of memory\nmore lines")
        return super().get_prediction(clicker, prev_mask)


def test_a_failing_prediction_is_one_line_500_and_the_session_survives(folders):
    images, out = folders
    gate = threading.Event()
    gate.set()
    app = create_app(images, out, lambda: AnnotationSession(FailingPredictor(gate, threading.Event()),
                                                            settings={"checkpoint": {"path": "fake.pth"}}))
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        tab = Tab(client, "scene.png")
        tab.open()
        tab.post("/api/click", y=30, x=30, positive=True)
        body = tab.post("/api/click", expect=500, y=40, x=40, positive=True)
        assert body["detail"] == "internal error: RuntimeError: CUDA error: out of memory (see the server log)"
        state = client.get("/api/state", params={"name": "scene.png"}).json()
        assert state["revision"] == 1 and len(state["clicks"]) == 1
        tab.post("/api/finish")
        assert tab.state["objects"][0]["area"] > 0


def test_stroke_endpoint_adds_one_step_and_refuses_bad_strokes(web):
    client, _, out, _ = web
    tab = Tab(client, "scene.png")
    tab.open()
    assert "'points'" in tab.post("/api/stroke", expect=400, points="10,10", width=3, positive=True)["detail"]
    assert "at least 2" in tab.post("/api/stroke", expect=400, points=[[10, 10]], width=3, positive=True)["detail"]
    assert "width" in tab.post("/api/stroke", expect=400, points=[[10, 10], [10, 20]], width=0, positive=True)["detail"]
    assert "outside" in tab.post("/api/stroke", expect=400, points=[[10, 10], [80, 20]], width=3,
                                 positive=True)["detail"]
    assert tab.rev == 0
    tab.post("/api/stroke", points=[[36, 20], [36, 40]], width=3, positive=True)
    assert tab.rev == 1 and len(tab.state["clicks"]) == 5  # 20 px at the default 5 px spacing
    tab.post("/api/undo")
    assert tab.state["clicks"] == []
