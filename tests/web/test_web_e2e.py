"""End to end in a real headless Chromium: the page served by uvicorn, driven with Selenium: open an image, type
a class label, two clicks (and a right click undone with Ctrl+Z), Space, Ctrl+S, a box drag and a click on a
second object, wheel zoom; then the saved files are checked, replayed with scripts/annotate.py bit for bit, and
a screenshot is taken.

Skips with a message where Selenium or Chromium (Debian's ``chromium`` + ``chromium-driver``, which ``.ci/run``
installs) cannot start. The model is the shipped checkpoint when present, else the tests' seeded random one.
The image is Berkeley's 124084.jpg from ../shared when present, else a generated scene.
Set ``ISEGM_UPDATE_SCREENSHOT=1`` to also write the screenshot to ``docs/web_screenshot.png`` (README).
"""
import importlib.util
import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from web_fakes import scene, write_image

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "weights" / "hrnet18s_cocomval_itermask.pth"
BERKELEY_IMAGE = REPO.parent / "shared" / "datasets" / "Berkeley" / "images" / "124084.jpg"
SCREENSHOT_ASSET = REPO / "docs" / "web_screenshot.png"
CHROMIUM = os.environ.get("ISEGM_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ISEGM_CHROMEDRIVER", "/usr/bin/chromedriver")
TIMEOUT = 60.0

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test needs selenium (pip)")
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (Path(path).is_file() or shutil.which(path)):
            pytest.skip(f"the browser test needs {path} (apt-get install chromium chromium-driver; missing {package})")
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800",
                "--force-device-scale-factor=1", "--disable-gpu"):
        options.add_argument(arg)
    try:
        return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except WebDriverException as exc:
        pytest.skip(f"headless Chromium cannot start: {str(exc).strip().splitlines()[0]}")


class Server:
    """uvicorn serving ``app`` on a free loopback port, in a thread."""

    def __init__(self, app):
        import uvicorn

        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        end = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < end, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(20)


class Page:
    def __init__(self, driver):
        self.driver = driver

    def state(self):
        return self.driver.execute_script("return window.isegm && window.isegm.snapshot();")

    def wait(self, cond, what, timeout=TIMEOUT):
        end = time.monotonic() + timeout
        st = None
        while time.monotonic() < end:
            st = self.state()
            if st and not st["busy"] and st["layer_rev"] == st["revision"] and cond(st):
                return st
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; last state: {st}")

    def screen_xy(self, st, y, x):
        left, top = st["canvas"][:2]
        return (int(round(left + st["ox"] + (x + 0.5) * st["scale"])),
                int(round(top + st["oy"] + (y + 0.5) * st["scale"])))

    def to_image(self, st, sx, sy):
        left, top = st["canvas"][:2]
        return (int(np.floor((sy - top - st["oy"]) / st["scale"])), int(np.floor((sx - left - st["ox"]) / st["scale"])))

    def click(self, st, y, x):
        from selenium.webdriver.common.actions.action_builder import ActionBuilder

        sx, sy = self.screen_xy(st, y, x)
        actions = ActionBuilder(self.driver)
        actions.pointer_action.move_to_location(sx, sy)
        actions.pointer_action.click()
        actions.perform()
        return self.to_image(st, sx, sy)

    def right_click(self, st, y, x):
        from selenium.webdriver.common.actions.action_builder import ActionBuilder

        sx, sy = self.screen_xy(st, y, x)
        actions = ActionBuilder(self.driver)
        actions.pointer_action.move_to_location(sx, sy)
        actions.pointer_action.context_click()
        actions.perform()

    def drag(self, st, a, b):
        from selenium.webdriver.common.actions.action_builder import ActionBuilder

        (ax, ay), (bx, by) = self.screen_xy(st, *a), self.screen_xy(st, *b)
        actions = ActionBuilder(self.driver)
        actions.pointer_action.move_to_location(ax, ay)
        actions.pointer_action.pointer_down()
        actions.pointer_action.move_to_location(ax + 10, ay + 10)
        actions.pointer_action.move_to_location(bx, by)
        actions.pointer_action.pointer_up()
        actions.perform()

    def wheel(self, st, y, x, delta_y):
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.actions.wheel_input import ScrollOrigin

        sx, sy = self.screen_xy(st, y, x)
        ActionChains(self.driver).scroll_from_origin(ScrollOrigin.from_viewport(sx, sy), 0, delta_y).perform()

    def keys(self, *keys, ctrl=False):
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        chain = ActionChains(self.driver)
        if ctrl:
            chain = chain.key_down(Keys.CONTROL)
        chain = chain.send_keys(*keys)
        if ctrl:
            chain = chain.key_up(Keys.CONTROL)
        chain.perform()


def test_browser_end_to_end(tmp_path, tiny_checkpoint):
    pytest.importorskip("fastapi", reason="the web server needs fastapi")
    pytest.importorskip("uvicorn", reason="the web server needs uvicorn")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from isegm.web.cli import prepare_web

    images = tmp_path / "images"
    images.mkdir()
    if BERKELEY_IMAGE.is_file():
        shutil.copy(BERKELEY_IMAGE, images / BERKELEY_IMAGE.name)
        name, clicks_at = BERKELEY_IMAGE.name, [(180, 310), (100, 350)]
        box_at, second_at = ((4, 395), (70, 478)), (25, 440)
        stroke_at = ((20, 420), (45, 455))
    else:
        big = cv2.resize(scene(), (480, 360), interpolation=cv2.INTER_NEAREST)
        write_image(images / "scene.png", big)
        name, clicks_at = "scene.png", [(180, 150), (150, 170)]
        box_at, second_at = ((40, 280), (180, 460)), (130, 370)
        stroke_at = ((100, 330), (150, 400))
    checkpoint = SHIPPED if SHIPPED.is_file() else tiny_checkpoint
    out = tmp_path / "out"
    setup = prepare_web(["--images", str(images), "--out", str(out), "--checkpoint", str(checkpoint), "--cpu",
                         "--limit-longest-size", "400", "--port", str(_free_port())])
    driver = _start_browser()
    try:
        with Server(setup.app) as server:
            driver.get(f"http://127.0.0.1:{server.port}/")
            page = Page(driver)
            item = None
            end = time.monotonic() + TIMEOUT
            while item is None and time.monotonic() < end:
                found = driver.find_elements(By.CSS_SELECTOR, f'#images li[data-name="{name}"]')
                item = found[0] if found else time.sleep(0.05)
            assert item is not None, "the image list did not load"
            assert "not started" in item.text
            item.click()
            st = page.wait(lambda s: s["name"] == name and s["revision"] == 0, "the image to open")

            label = driver.find_element(By.ID, "label")
            label.click()
            label.send_keys(Keys.CONTROL, "a")
            label.send_keys("flower", Keys.ENTER)
            st = page.wait(lambda s: s["label"] == "flower", "the label")

            clicked = [page.click(st, *clicks_at[0])]
            st = page.wait(lambda s: s["n_clicks"] == 1, "first click")
            page.right_click(st, 30, 40)  # a negative click, undone with Ctrl+Z
            st = page.wait(lambda s: s["n_clicks"] == 2, "negative click")
            page.keys("z", ctrl=True)
            st = page.wait(lambda s: s["n_clicks"] == 1 and s["message"] == "undone", "undo")
            clicked.append(page.click(st, *clicks_at[1]))
            st = page.wait(lambda s: s["n_clicks"] == 2, "second click")
            page.keys(Keys.SPACE)
            st = page.wait(lambda s: s["n_objects"] == 1 and s["n_clicks"] == 0, "finish")
            page.keys("s", ctrl=True)
            st = page.wait(lambda s: s["last_saved"], "save")
            assert st["message"].startswith("saved 1 objects"), st["message"]
            end = time.monotonic() + TIMEOUT
            while "saved" not in driver.find_element(By.CSS_SELECTOR, f'#images li[data-name="{name}"]').text:
                assert time.monotonic() < end, "the list did not show the image as saved"
                time.sleep(0.05)

            # a box and a click on a second object, so that the screenshot shows the object being edited
            page.drag(st, box_at[0], box_at[1])
            st = page.wait(lambda s: s["has_box"], "box")
            page.click(st, *second_at)
            st = page.wait(lambda s: s["n_clicks"] == 1, "click on a second object")
            page.keys("t")                                        # the stroke tool: a left drag adds a stroke
            st = page.wait(lambda s: s["tool"] == "stroke", "the stroke tool")
            page.drag(st, *stroke_at)
            st = page.wait(lambda s: s["n_strokes"] == 1, "a stroke on the second object")
            page.keys("t")
            st = page.wait(lambda s: s["tool"] == "click", "back to the click tool")
            shot = cv2.imdecode(np.frombuffer(driver.get_screenshot_as_png(), np.uint8), cv2.IMREAD_COLOR)
            cv2.imwrite(str(tmp_path / "web_screenshot.png"), shot)
            if os.environ.get("ISEGM_UPDATE_SCREENSHOT") == "1":
                _write_asset(shot)
            status = driver.find_element(By.ID, "status").text
            assert "last prediction:" in status and "ms" in status and "objects: 1" in status
            scale = st["scale"]
            page.wheel(st, 160, 240, -200)
            st = page.wait(lambda s: s["scale"] > scale * 1.2, "wheel zoom")
    finally:
        driver.quit()

    stem = Path(name).stem
    inst = cv2.imread(str(out / f"{stem}_instances.png"), cv2.IMREAD_UNCHANGED)
    assert inst.dtype == np.uint16 and set(np.unique(inst)) == {0, 1}
    coco = json.loads((out / f"{stem}.json").read_text())
    (ann,) = coco["annotations"]
    assert ann["label"] == "flower"
    assert [(c["y"], c["x"], c["positive"]) for c in ann["clicks"]] == [(y, x, True) for y, x in clicked]
    for suffix in ("_colors.png", "_overlay.png", "_semantic.png", "_panoptic.png", "_panoptic.json",
                   ".autosave.json"):
        assert (out / f"{stem}{suffix}").is_file(), suffix
    assert shot.shape[0] >= 600 and shot.shape[1] >= 1200 and shot.std() > 10

    spec = importlib.util.spec_from_file_location("annotate_script", REPO / "scripts" / "annotate.py")
    annotate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(annotate)
    replay = tmp_path / "replay"
    assert annotate.main(["--image", str(images / name), "--clicks", str(out / f"{stem}.json"),
                          "--checkpoint", str(checkpoint), "--out", str(replay), "--cpu"]) == 0
    for suffix in ("_instances.png", "_overlay.png", "_semantic.png", "_panoptic.png"):
        assert (replay / f"{stem}{suffix}").read_bytes() == (out / f"{stem}{suffix}").read_bytes(), suffix


def _write_asset(shot_bgr):
    from PIL import Image

    img = Image.fromarray(cv2.cvtColor(shot_bgr, cv2.COLOR_BGR2RGB)).quantize(colors=128,
                                                                             method=Image.Quantize.MEDIANCUT)
    SCREENSHOT_ASSET.parent.mkdir(parents=True, exist_ok=True)
    img.save(SCREENSHOT_ASSET, optimize=True)
