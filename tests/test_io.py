"""isegm.io: the restricted unpickler and the object-mask rules for bytes (more of isegm.io is tested where it
is used)."""
import io
import os
import pickle
from collections import OrderedDict

import cv2
import numpy as np
import pytest

from isegm.errors import UserError
from isegm.io import decode_binary_mask, load_numpy_pickle, read_binary_mask


def test_numpy_pickles_load_with_every_protocol():
    obj = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": [np.int64(3), (1, "x")],
           "c": OrderedDict(k=np.zeros(2, np.uint8))}
    for protocol in (2, 4, 5):
        back = load_numpy_pickle(pickle.dumps(obj, protocol=protocol))
        np.testing.assert_array_equal(back["a"], obj["a"])
        assert back["b"][0] == 3 and back["b"][1] == (1, "x") and back["c"]["k"].dtype == np.uint8


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


@pytest.mark.parametrize("payload, match", [(_Evil(), "builtins.print"), (os.system, "system")])
def test_other_globals_are_refused(payload, match):
    data = pickle.dumps(payload)
    with pytest.raises(pickle.UnpicklingError, match=f"refusing to load .*{match}"):
        load_numpy_pickle(data)


def _png(array):
    ok, buf = cv2.imencode(".png", array)
    assert ok
    return buf.tobytes()


def _square(value, dtype=np.uint8, channels=None):
    mask = np.zeros((12, 16) if channels is None else (12, 16, channels), dtype)
    mask[3:8, 4:11] = value
    return mask


EXPECTED = _square(1).astype(bool)


@pytest.mark.parametrize("name, data, noted", [
    ("0/255", _png(_square(255)), False),
    ("0/1", _png(_square(1)), False),
    ("16-bit", _png(_square(3, np.uint16)), True),
    ("colour, brightest channel", _png(_square((0, 200, 10), channels=3)), True),
])
def test_mask_bytes_follow_the_mask_rules(name, data, noted):
    notes = []
    assert (decode_binary_mask(data, "upload", notes) == EXPECTED).all(), name
    assert bool(notes) == noted and all(n.startswith("upload: ") for n in notes)


def test_mask_bytes_rules_thresholds():
    # 8-bit masks above 1 are 0/255: 127 is background (JPEG noise), 128 foreground
    grey = _square(128)
    grey[0, 0] = 127
    assert (decode_binary_mask(_png(grey)) == EXPECTED).all()
    # alpha is ignored: an RGBA mask with an opaque black background and a transparent white square
    rgba = _square((255, 255, 255, 0), channels=4)
    rgba[..., 3][~EXPECTED] = 255
    assert (decode_binary_mask(_png(rgba)) == EXPECTED).all()


def test_palette_png_mask_uses_its_colours():
    from PIL import Image
    image = Image.fromarray(_square(1), mode="P")
    image.putpalette([0, 0, 0, 128, 0, 0, 60, 60, 60] + [0] * (256 * 3 - 9))  # VOC-like: index 1 = dark red
    buf = io.BytesIO()
    image.save(buf, "PNG")
    notes = []
    assert (decode_binary_mask(buf.getvalue(), "palette.png", notes) == EXPECTED).all()
    assert notes == ["palette.png: colour mask reduced to its brightest channel"]


def test_mask_bytes_equal_the_file_reader(tmp_path):
    for k, mask in enumerate([_square(255), _square(1), _square(9, np.uint16), _square((9, 250, 3), channels=3)]):
        path = tmp_path / f"m{k}.png"
        path.write_bytes(_png(mask))
        assert (decode_binary_mask(path.read_bytes()) == read_binary_mask(path)).all()


@pytest.mark.parametrize("data", [b"", b"not an image at all", _png(_square(255))[:40]])
def test_bad_mask_bytes_are_a_user_error(data):
    with pytest.raises(UserError, match=r"cannot decode uploaded mask \(\d+ bytes\)"):
        decode_binary_mask(data, "uploaded mask")
