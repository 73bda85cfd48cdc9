"""isegm.io: the restricted unpickler (more of isegm.io is tested where it is used)."""
import os
import pickle
from collections import OrderedDict

import numpy as np
import pytest

from isegm.io import load_numpy_pickle


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
