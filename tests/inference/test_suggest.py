"""Next-click suggestion (isegm.inference.suggest): from probabilities only, scored against the simulated user."""
import numpy as np
import pytest

from isegm.inference.evaluation import evaluate_sample
from isegm.inference.suggest import SuggestionScorer, suggest_click, uncertainty_map


def test_uncertainty_peaks_at_the_threshold():
    probs = np.array([[0.0, 0.49, 1.0, 0.745]], np.float32)
    u = uncertainty_map(probs, 0.49)
    assert u.dtype == np.float32
    np.testing.assert_allclose(u, [[1 - 0.49 / 0.51, 1.0, 0.0, 0.5]], atol=1e-6)
    with pytest.raises(ValueError, match="thresh"):
        uncertainty_map(probs, 1.0)


def test_suggestion_is_the_centre_of_the_widest_unsure_zone_with_its_sign():
    probs = np.zeros((50, 50), np.float32)
    probs[10:20, 10:40] = 0.4     # unsure, now background: a positive click would help
    probs[30:33, 5:8] = 0.6       # a small unsure zone, now object
    click = suggest_click(probs)
    assert 10 <= click.y < 20 and 10 <= click.x < 40 and abs(click.y - 14.5) <= 1 and click.is_positive
    probs[10:20, 10:40] = 0.0
    click = suggest_click(probs)
    assert (30 <= click.y < 33 and 5 <= click.x < 8) and not click.is_positive
    assert suggest_click(np.zeros((5, 5), np.float32)) is None
    exclude = np.zeros((50, 50), bool)
    exclude[30:33, 5:8] = True
    assert suggest_click(probs, exclude=exclude) is None


class _FixedPredictor:
    """Returns a fixed probability map: unsure over the missed part of the object."""

    def __init__(self, probs):
        self.probs = probs

    def set_input_image(self, image):
        pass

    def get_prediction(self, clicker, prev_mask=None):
        return self.probs


def test_scorer_counts_hits_in_the_users_error_region():
    gt = np.zeros((40, 40), np.int32)
    gt[5:35, 5:35] = 1
    probs = np.zeros((40, 40), np.float32)
    probs[5:35, 5:20] = 0.95          # left half found
    probs[5:35, 20:35] = 0.3          # right half missed, but the model is unsure there
    scorer = SuggestionScorer()
    evaluate_sample(np.zeros((40, 40, 3), np.uint8), gt, _FixedPredictor(probs), max_iou_thr=0.99,
                    max_clicks=3, callback=scorer)
    rates = scorer.rates()
    assert rates["n"] == 3 and rates["region_hit_rate"] == 1.0 and rates["sign_hit_rate"] == 1.0
    probs[5:35, 20:35] = 0.0           # now confidently wrong there: the suggestion misses
    probs[0:3, 0:3] = 0.5
    scorer = SuggestionScorer()
    evaluate_sample(np.zeros((40, 40, 3), np.uint8), gt, _FixedPredictor(probs), max_iou_thr=0.99,
                    max_clicks=2, callback=scorer)
    assert scorer.rates()["region_hit_rate"] == 0.0 and scorer.rates()["n"] == 2
