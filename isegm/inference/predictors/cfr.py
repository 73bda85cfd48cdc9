"""Cascade-Forward Refinement (CFR) around any predictor (CFR-ICL, Sun et al., AAAI 2024).

What CFR-ICL's evaluation computes (``BasePredictor.get_prediction`` with ``cascade_step = cf_n + 1``,
``cascade_adaptive = acf``, ``cascade_clicks = cf_click`` in github:TitorX/CFR-ICL-Interactive-Segmentation),
and what :class:`CascadeForwardPredictor` computes too:

* After a click the predictor runs ``1 + cf_n`` times with the same clicks; every run after the first
  takes the previous run's output as its previous-mask input (the predictor's own ``prev_prediction``,
  i.e. the full-image probabilities after all inverse transforms). The last run's output is returned.
* Each run is a whole predictor call, so Zoom-In sees each run's output: its crop may move between
  runs, and its "recalculate on the whole image" check runs every time, exactly as in CFR-ICL.
* Adaptive CFR (``acf``): from the second run on, count the pixels whose mask (probability > 0.49)
  differs from the previous run's; stop when at most 20 pixels changed (CFR-ICL's fixed values; here
  ``prob_thresh`` and ``acf_max_changed``). ``cf_n`` is then the most extra runs.
* CFR-ICL applies the cascade only while the clicker holds at most ``cf_click`` clicks (its flag
  ``--cf-click``, default 1: the first click only). Here ``cf_clicks=None`` (the default) applies it
  after every click, as issue 8 asks; ``cf_clicks=1`` gives CFR-ICL's evaluation.

Differences: CFR-ICL's first run ignores a ``prev_mask`` passed by the caller (it always starts from the
predictor's own previous output); here a given ``prev_mask`` is used by the first run. With the evaluator
(which passes none) the two are the same. CFR only makes sense for a model that takes the previous mask
as input (``net.with_prev_mask``); for any other the extra runs would repeat the same prediction, so the
wrapper refuses such a model.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from isegm.errors import UserError
from isegm.inference.predictors.base import PredictorWrapper

__all__ = ["CascadeForwardPredictor"]


class CascadeForwardPredictor(PredictorWrapper):
    """Wraps a predictor and refines each click's prediction by feeding it back ``cf_n`` more times.

    Composes with any predictor honouring the interface of
    :class:`~isegm.inference.predictors.base.BasePredictor` (``set_input_image``,
    ``get_prediction(clicker, prev_mask=None)`` where ``None`` means "my last output",
    ``get_states``/``set_states``, attributes ``net``, ``zoom_in``, ``with_flip``, ``device``,
    ``prev_prediction``), including another wrapper.

    Args:
        predictor: the wrapped predictor (its model must have ``with_prev_mask`` True).
        cf_n: extra forward runs per click, >= 0 (0: the wrapped predictor unchanged).
        adaptive: stop early once a run changes at most ``acf_max_changed`` mask pixels (CFR-ICL's ACF).
        cf_clicks: apply the cascade only while there are at most this many clicks (CFR-ICL's
            ``--cf-click``; >= 1); None: after every click.
        prob_thresh: threshold of the masks compared by the adaptive test (CFR-ICL: 0.49).
        acf_max_changed: the adaptive test's pixel count (CFR-ICL: 20).

    Attributes:
        last_n_runs: forward runs of the wrapped predictor for the last click (1 + extra runs).

    Raises:
        UserError: ``cf_n`` < 0 or not an int, ``cf_clicks`` < 1, ``acf_max_changed`` < 0, or the model
            has no previous-mask input.
    """

    def __init__(self, predictor, cf_n: int, adaptive: bool = False, cf_clicks: Optional[int] = None,
                 prob_thresh: float = 0.49, acf_max_changed: int = 20):
        if isinstance(cf_n, bool) or not isinstance(cf_n, (int, np.integer)) or cf_n < 0:
            raise UserError(f"cascade-forward refinement: cf_n must be an integer >= 0, got {cf_n!r}")
        if cf_clicks is not None and (isinstance(cf_clicks, bool) or int(cf_clicks) != cf_clicks or cf_clicks < 1):
            raise UserError(f"cascade-forward refinement: cf_clicks must be an integer >= 1 or None, got {cf_clicks!r}")
        if acf_max_changed < 0:
            raise UserError(f"cascade-forward refinement: acf_max_changed must be >= 0, got {acf_max_changed!r}")
        if not getattr(predictor.net, "with_prev_mask", False):
            raise UserError(f"cascade-forward refinement needs a model with a previous-mask input "
                            f"(with_prev_mask=True); {type(predictor.net).__name__} has none")
        super().__init__(predictor)
        self.cf_n = int(cf_n)
        self.adaptive = bool(adaptive)
        self.cf_clicks = None if cf_clicks is None else int(cf_clicks)
        self.prob_thresh = float(prob_thresh)
        self.acf_max_changed = int(acf_max_changed)
        self.last_n_runs = 0

    # ------------------------------------------------------------------ the predictor interface
    def set_input_image(self, image) -> None:
        """Set the image on the wrapped predictor (see its ``set_input_image``)."""
        super().set_input_image(image)
        self.last_n_runs = 0

    def get_prediction(self, clicker, prev_mask=None) -> np.ndarray:
        """The wrapped predictor's prediction, fed back as its own previous mask up to ``cf_n`` times.

        Args:
            clicker: the clicks (``get_clicks()``).
            prev_mask: previous probabilities for the first run ((H, W) or (1, 1, H, W)); None: the
                wrapped predictor's last output.

        Returns:
            (H, W) float32 probabilities of the last run.
        """
        prediction = self.predictor.get_prediction(clicker, prev_mask)
        runs = 1
        if self.cf_clicks is None or len(clicker.get_clicks()) <= self.cf_clicks:
            for _ in range(self.cf_n):
                previous = prediction
                prediction = self.predictor.get_prediction(clicker)  # prev mask = the last run's output
                runs += 1
                if self.adaptive:
                    changed = np.count_nonzero((prediction > self.prob_thresh) != (previous > self.prob_thresh))
                    if changed <= self.acf_max_changed:
                        break
        self.last_n_runs = runs
        return prediction

    STATE_KEY = "cfr_last_n_runs"

    def _own_state(self):
        return self.last_n_runs

    def _set_own_state(self, value) -> None:
        self.last_n_runs = value

    def __repr__(self):
        return (f"CascadeForwardPredictor(cf_n={self.cf_n}, adaptive={self.adaptive}, cf_clicks={self.cf_clicks}, "
                f"predictor={type(self.predictor).__name__})")
