"""The web view's stroke tool, refiner switch and suggestion overlay through FastAPI's TestClient, on fake
predictors whose masks tell which model answered (:class:`web_fakes.RadiusPredictor`); the page's script is
checked for syntax and for element ids that index.html lacks, and its mouse handlers are driven in node on a stub
DOM (``page_harness.js``: what a drag or a press sends, through zoom and pan; skipped without node);
``--refiner-checkpoint`` through the real CLI path."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from web_fakes import RadiusPredictor, scene

from isegm.annotation import AnnotationSession
from isegm.annotation import render

fastapi = pytest.importorskip("fastapi", reason="the web server needs fastapi (pip install -r requirements.txt)")
from fastapi.testclient import TestClient  # noqa: E402

from isegm.web.server import create_app  # noqa: E402

STATIC = Path(__file__).resolve().parents[2] / "isegm" / "web" / "static"
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

CLICK_RADIUS, REFINER_RADIUS = 4, 11


def external_mask():
    mask = np.zeros((72, 96), np.uint8)
    mask[10:40, 10:50] = 255
    return mask


def make_session(refiner=True):
    return AnnotationSession(RadiusPredictor(CLICK_RADIUS), settings={"checkpoint": {"path": "fake.pth"}},
                             refiner=RadiusPredictor(REFINER_RADIUS) if refiner else None)


def alone(radius, mask=None, stroke=None, clicks=()):
    """The current mask a session with only RadiusPredictor(radius) gives for: external mask, stroke, clicks."""
    session = AnnotationSession(RadiusPredictor(radius))
    session.set_image(scene(), "scene.png")
    if mask is not None:
        session.set_external_mask(mask)
    if stroke is not None:
        session.add_stroke(*stroke)
    for click in clicks:
        session.add_click(*click)
    return session.current_mask()


class Tab:
    def __init__(self, client, name="scene.png"):
        self.client, self.name, self.rev, self.state = client, name, None, None

    def open(self):
        r = self.client.post("/api/open", json={"name": self.name, "resume": False})
        assert r.status_code == 200, r.text
        self.take(r.json()["state"])

    def take(self, state):
        self.state, self.rev = state, state["revision"]

    def post(self, path, expect=200, **fields):
        r = self.client.post(path, json={"name": self.name, "rev": self.rev, **fields})
        assert r.status_code == expect, (path, r.status_code, r.text)
        if r.status_code == 200:
            self.take(r.json()["state"])
        return r.json()

    def upload_mask(self, mask):
        r = self.client.post("/api/mask", params={"name": self.name, "rev": self.rev},
                             content=cv2.imencode(".png", mask)[1].tobytes(), headers={"Content-Type": "image/png"})
        assert r.status_code == 200, r.text
        self.take(r.json()["state"])

    def mask(self):
        """The page's mask layer as (H, W) bool (alpha > 0): with no finished object, the current object."""
        r = self.client.get("/api/layer.png", params={"name": self.name, "rev": self.rev})
        assert r.status_code == 200
        return cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_UNCHANGED)[..., 3] > 0

    def view(self, **params):
        r = self.client.get("/api/view.png", params={"name": self.name, **params})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "image/png"
        bgr = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), r.headers["x-isegm-suggestion"]


@pytest.fixture
def served(folders):
    images, out = folders
    sessions = []

    def factory():
        sessions.append(make_session())
        return sessions[-1]

    with TestClient(create_app(images, out, factory), base_url="http://127.0.0.1") as client:
        yield client, sessions


# ---------------------------------------------------------------------- strokes
STROKE = [[50, 20], [50, 44], [60, 60]]


def test_stroke_state_lists_the_stroke_and_its_clicks(served):
    client, _ = served
    tab = Tab(client)
    tab.open()
    assert tab.state["strokes"] == []
    tab.post("/api/stroke", points=STROKE, width=4.5, positive=True)
    (stroke,) = tab.state["strokes"]
    assert stroke["points"] == [[50.0, 20.0], [50.0, 44.0], [60.0, 60.0]] and stroke["width"] == 4.5
    assert stroke["positive"] is True and stroke["first_click"] == 0
    assert stroke["n_clicks"] == len(tab.state["clicks"]) >= 2
    assert tab.mask().tolist() == alone(CLICK_RADIUS, stroke=(STROKE, 4.5, True)).tolist()
    tab.post("/api/click", y=10, x=80, positive=True)
    tab.post("/api/stroke", points=[[55, 30], [55, 40]], width=2, positive=False)
    assert [s["positive"] for s in tab.state["strokes"]] == [True, False]
    assert tab.state["strokes"][1]["first_click"] == stroke["n_clicks"] + 1
    tab.post("/api/undo")
    assert len(tab.state["strokes"]) == 1


def test_bad_strokes_are_refused_with_one_line(served):
    client, _ = served
    tab = Tab(client)
    tab.open()
    cases = [
        ({"points": [[10, 10]], "width": 3}, "at least 2 points"),
        ({"points": [], "width": 3}, "at least 2 points"),
        ({"points": [[10, 10], [10, 20]], "width": 0}, "width must be a number of pixels > 0"),
        ({"points": [[10, 10], [10, 20]], "width": -2}, "width must be a number of pixels > 0"),
        ({"points": [[10, 10], [72, 20]], "width": 3}, "outside the 72x96 (HxW) image"),
        ({"points": [[10, 10], [10, -1]], "width": 3}, "outside the 72x96 (HxW) image"),
        ({"points": [[10, 10], [10, 20, 30]], "width": 3}, "'points' must be a list of [y, x] numbers"),
        ({"points": [[10, 10], [True, 20]], "width": 3}, "'points' must be a list of [y, x] numbers"),
        ({"points": [[10, 10], [10, 20]], "width": "3"}, "'width' must be a finite number"),
    ]
    for fields, message in cases:
        body = tab.post("/api/stroke", expect=400, positive=True, **fields)
        assert message in body["detail"], (fields, body)
        assert "\n" not in body["detail"]
    assert "'positive'" in tab.post("/api/stroke", expect=400, points=STROKE, width=3)["detail"]
    tab.post("/api/box", box=[40, 10, 70, 50])
    assert "outside the box" in tab.post("/api/stroke", expect=400, points=STROKE, width=3, positive=True)["detail"]
    state = client.get("/api/state", params={"name": "scene.png"}).json()
    assert state["clicks"] == [] and state["strokes"] == [] and state["revision"] == 1


# ---------------------------------------------------------------------- the refiner switch
def test_refiner_switch_picks_the_model_of_an_external_mask_object(served):
    client, sessions = served
    tab = Tab(client)
    tab.open()
    (session,) = sessions
    assert tab.state["has_refiner"] and tab.state["refiner_enabled"] and not tab.state["refining"]
    stroke = ([[50, 60], [50, 80]], 3.0, True)
    tab.upload_mask(external_mask())
    assert tab.state["refining"]
    tab.post("/api/stroke", points=stroke[0], width=stroke[1], positive=stroke[2])
    by_refiner = alone(REFINER_RADIUS, external_mask(), stroke)
    by_click_model = alone(CLICK_RADIUS, external_mask(), stroke)
    assert not np.array_equal(by_refiner, by_click_model), "the fakes must give different masks"
    np.testing.assert_array_equal(tab.mask(), by_refiner)
    assert session.refiner.calls == 1 and session._predictor.click_model.calls == 0

    body = tab.post("/api/refiner", enabled=False)
    assert body["repredicted"] is True
    assert not tab.state["refiner_enabled"] and not tab.state["refining"] and tab.state["has_refiner"]
    np.testing.assert_array_equal(tab.mask(), by_click_model)
    tab.post("/api/click", y=20, x=80, positive=True)
    np.testing.assert_array_equal(tab.mask(), alone(CLICK_RADIUS, external_mask(), stroke, [(20, 80, True)]))

    assert tab.post("/api/refiner", enabled=True)["repredicted"] is True
    assert tab.state["refining"]
    np.testing.assert_array_equal(tab.mask(), alone(REFINER_RADIUS, external_mask(), stroke, [(20, 80, True)]))
    # no external mask: the click model, whatever the switch says
    tab.post("/api/reset")
    assert not tab.state["refining"] and tab.state["refiner_enabled"]
    tab.post("/api/stroke", points=stroke[0], width=stroke[1], positive=stroke[2])
    np.testing.assert_array_equal(tab.mask(), alone(CLICK_RADIUS, None, stroke))
    assert tab.post("/api/refiner", enabled=False)["repredicted"] is False
    # bad bodies, a stale page
    assert "'enabled' must be true or false" in tab.post("/api/refiner", expect=400, enabled="no")["detail"]
    assert "'enabled'" in tab.post("/api/refiner", expect=400)["detail"]
    r = client.post("/api/refiner", json={"name": "scene.png", "rev": tab.rev - 1, "enabled": True})
    assert r.status_code == 409 and r.json()["code"] == "stale"


def test_refiner_switch_without_a_refiner_is_refused(folders):
    images, out = folders
    with TestClient(create_app(images, out, lambda: make_session(refiner=False)), base_url="http://127.0.0.1") as c:
        tab = Tab(c)
        tab.open()
        assert not tab.state["has_refiner"] and not tab.state["refiner_enabled"]
        body = tab.post("/api/refiner", expect=400, enabled=True)
        assert "no refiner loaded" in body["detail"] and body["code"] == "refused"
        assert tab.post("/api/refiner", enabled=False)["repredicted"] is False


# ---------------------------------------------------------------------- the suggestion overlay
def test_view_png_draws_the_suggestion_overlay_only_when_asked(served):
    client, sessions = served
    tab = Tab(client)
    tab.open()
    plain, hint = tab.view()
    assert (plain == scene()).all() and hint == "none", "nothing annotated: the image itself"
    tab.post("/api/click", y=36, x=30, positive=True)
    view = sessions[0].view_state()
    expected_plain, _ = render.draw_view(view, alpha=0.5)
    off, hint = tab.view(suggest=0)
    assert hint == "none"
    np.testing.assert_array_equal(off, expected_plain)
    np.testing.assert_array_equal(tab.view()[0], off)
    on, hint = tab.view(suggest=1)
    expected_on, click = render.draw_suggestion_overlay(expected_plain, view.prob)
    assert click is not None and hint == f"{click.y},{click.x},{'positive' if click.is_positive else 'negative'}"
    assert not np.array_equal(on, off)
    np.testing.assert_array_equal(on, expected_on)
    # the alpha of the blend is the page's slider
    half, _ = tab.view(suggest=0, alpha=0.5)
    opaque, _ = tab.view(suggest=0, alpha=1)
    assert not np.array_equal(half, opaque)
    np.testing.assert_array_equal(opaque, render.draw_view(view, alpha=1.0)[0])
    for params, message in (({"suggest": "maybe"}, "'suggest' must be 1 or 0"),
                            ({"alpha": "2"}, "'alpha' must be a number in [0, 1]"),
                            ({"alpha": "nan"}, "'alpha' must be a number in [0, 1]")):
        r = client.get("/api/view.png", params={"name": "scene.png", **params})
        assert r.status_code == 400 and message in r.json()["detail"], params
    r = client.get("/api/view.png", params={"name": "other.jpg"})
    assert r.status_code == 409 and r.json()["code"] == "not_open"


# ---------------------------------------------------------------------- the page
def test_page_script_parses_and_names_only_elements_of_the_page():
    script = (STATIC / "app.js").read_text()
    page = (STATIC / "index.html").read_text()
    ids = set(re.findall(r'id="([^"]+)"', page))
    used = set(re.findall(r'\$\("([^"]+)"\)', script))
    assert used and used <= ids, f"app.js uses ids missing from index.html: {sorted(used - ids)}"
    for needed in ("tool-click", "tool-stroke", "stroke-width", "refiner", "suggest"):
        assert needed in ids, needed
    if NODE is None:
        pytest.skip("node is not installed: app.js not parsed")
    r = subprocess.run([NODE, "--check", str(STATIC / "app.js")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


NODE = shutil.which("node") or shutil.which("nodejs")
HARNESS = Path(__file__).resolve().parent / "page_harness.js"
# the harness's canvas lies at (10, 20) on the screen; the scenarios zoom 4x and pan by (30, 40) CSS px
VIEW = {"width_px": 96, "height_px": 72, "scale": 4.0, "ox": 30.0, "oy": 40.0}


def screen(y, x, view=VIEW):
    """Client (x, y) of the inside of image pixel (y, x) in the harness's view."""
    return 10 + view["ox"] + (x + 0.4) * view["scale"], 20 + view["oy"] + (y + 0.4) * view["scale"]


def drive(events, tool="stroke", width=5, **view):
    """The POSTs app.js sends for mouse ``events`` [(down | move | up, clientX, clientY, button, shift)]."""
    if NODE is None:
        pytest.skip("node is not installed: the page script is not driven")
    scenario = {**VIEW, **view, "tool": tool, "width": width, "events": events}
    r = subprocess.run([NODE, str(HARNESS), str(STATIC / "app.js"), json.dumps(scenario)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [p for p in json.loads(r.stdout.strip().splitlines()[-1])["posted"]]


def drag(pixels, button=0, shift=False):
    (y0, x0), rest = pixels[0], pixels[1:]
    events = [("down", *screen(y0, x0), button, shift)]
    events += [("move", *screen(y, x), button, shift) for y, x in rest]
    return events + [("up", *screen(*pixels[-1]), button, shift)]


def test_page_sends_a_drag_as_a_stroke_in_image_pixels():
    line = [(50, x) for x in range(20, 45, 2)] + [(50, 44), (51, 44)]  # a repeated pixel is sent once
    (post,) = drive(drag(line), width=7)
    assert post["path"] == "api/stroke"
    assert post["body"] == {"name": "scene.png", "rev": 3, "width": 7, "positive": True,
                            "points": [[50, x] for x in range(20, 45, 2)] + [[51, 44]]}
    (post,) = drive(drag(line, button=2))                       # right drag: erase
    assert post["path"] == "api/stroke" and post["body"]["positive"] is False
    (post,) = drive(drag(line, shift=True))                     # Shift + left drag: erase
    assert post["body"]["positive"] is False
    # zoomed out and panned elsewhere: the same pixels
    view = {"scale": 0.5, "ox": -3.0, "oy": 7.0}
    pixels = [(10, 4), (10, 40), (30, 60)]
    events = [("down", *screen(10, 4, {**VIEW, **view}), 0, False)] + \
             [("move", *screen(y, x, {**VIEW, **view}), 0, False) for y, x in pixels[1:]] + \
             [("up", *screen(30, 60, {**VIEW, **view}), 0, False)]
    (post,) = drive(events, **view)
    assert post["body"]["points"] == [list(p) for p in pixels]


def test_page_sends_a_press_as_a_click_and_never_a_short_stroke():
    (post,) = drive([("down", *screen(12, 34), 0, False), ("up", *screen(12, 34), 0, False)])
    assert post == {"path": "api/click", "body": {"name": "scene.png", "rev": 3, "y": 12, "x": 34, "positive": True}}
    (post,) = drive([("down", *screen(12, 34), 2, False), ("up", *screen(12, 34), 2, False)])
    assert post["path"] == "api/click" and post["body"]["positive"] is False
    # a drag that stays inside one pixel (40x zoom): one pixel, a click, not a stroke
    zoom = {"scale": 40.0, "ox": 0.0, "oy": 0.0}
    a, b = screen(5, 5, {**VIEW, **zoom}), screen(5, 5, {**VIEW, **zoom})
    events = [("down", *a, 0, False), ("move", a[0] + 12, a[1] + 8, 0, False), ("up", b[0] + 12, b[1] + 8, 0, False)]
    (post,) = drive(events, **zoom)
    assert post["path"] == "api/click" and (post["body"]["y"], post["body"]["x"]) == (5, 5)
    # a drag wholly off the image sends nothing
    assert drive([("down", 12, 25, 0, False), ("move", 30, 25, 0, False), ("up", 35, 25, 0, False)]) == []
    # the click tool still draws boxes with a left drag
    (post,) = drive(drag([(10, 10), (30, 40)]), tool="click")
    assert post["path"] == "api/box" and post["body"]["box"] == [10, 10, 31, 41]


# ---------------------------------------------------------------------- python -m isegm.web --refiner-checkpoint
def test_cli_refiner_checkpoint(folders, tiny_checkpoint, tmp_path, capsys):
    import socket

    from isegm.web import cli as web_cli
    from isegm.web.cli import prepare_web

    images, out = folders

    def argv(*extra):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        return ["--images", str(images), "--out", str(out), "--checkpoint", str(tiny_checkpoint), "--cpu",
                "--limit-longest-size", "64", "--port", str(port), *extra]

    missing = tmp_path / "absent.pth"
    text = tmp_path / "text.pth"
    text.write_text("not a checkpoint\n")
    for path, message in ((missing, f"--refiner-checkpoint {missing}: no such checkpoint file"),
                          (text, f"cannot load model from --refiner-checkpoint {text}")):
        assert web_cli.main(argv("--refiner-checkpoint", str(path))) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not out.exists()

    setup = prepare_web(argv("--refiner-checkpoint", str(tiny_checkpoint)))
    with TestClient(setup.app, base_url="http://127.0.0.1") as client:
        assert client.get("/api/info").json()["model"]["refiner"] == tiny_checkpoint.name
        tab = Tab(client)
        tab.open()
        assert tab.state["has_refiner"] and tab.state["refiner_enabled"]
        tab.post("/api/refiner", enabled=False)
        assert not tab.state["refiner_enabled"]
    with TestClient(prepare_web(argv()).app, base_url="http://127.0.0.1") as client:
        assert "refiner" not in client.get("/api/info").json()["model"]
        tab = Tab(client)
        tab.open()
        assert not tab.state["has_refiner"]
