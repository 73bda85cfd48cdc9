"""The next-click suggestion overlay (isegm.annotation.render.draw_suggestion_overlay): the uncertainty blend,
the marker at the suggested (y, x), the off switch, bad input, and the session's view state feeding it."""
import numpy as np
import pytest

from isegm.annotation.render import (SUGGESTION_COLORS, UNCERTAINTY_COLOR, draw_overlay,
                                     draw_suggestion_overlay)
from isegm.inference.suggest import suggest_click


def probability_map(shape=(60, 80)):
    """Certain background (0.0) and object (1.0) halves split by a vertical band of p = 0.49 (cols 30..49)."""
    probs = np.zeros(shape, np.float32)
    probs[:, 50:] = 1.0
    probs[:, 30:50] = 0.49
    return probs


def test_the_marker_is_at_the_suggested_pixel_and_the_uncertain_band_is_tinted():
    rendered = np.full((60, 80, 3), 40, np.uint8)
    probs = probability_map()
    out, click = draw_suggestion_overlay(rendered, probs, alpha=0.5)
    expected = suggest_click(probs)
    assert (click.y, click.x, click.is_positive) == (expected.y, expected.x, expected.is_positive)
    assert 30 <= click.x < 50 and click.is_positive          # p <= 0.49: clicking would claim it for the object
    assert tuple(out[click.y, click.x]) == SUGGESTION_COLORS[True]
    assert tuple(out[click.y, click.x + 6]) == SUGGESTION_COLORS[True]      # on the ring
    # far from the marker: the uncertain band is halfway to the uncertainty colour, certain pixels unchanged
    band = (np.array([40, 40, 40]) * 0.5 + np.array(UNCERTAINTY_COLOR) * 0.5).round()
    np.testing.assert_array_equal(out[2, 31], band)
    np.testing.assert_array_equal(out[:, :29], rendered[:, :29])
    np.testing.assert_array_equal(out[:, 51:], rendered[:, 51:])
    assert out is not rendered and rendered.max() == 40      # the input view is left alone


def test_a_negative_suggestion_is_drawn_in_its_colour():
    probs = np.where(probability_map() == 0.49, np.float32(0.55), probability_map())
    out, click = draw_suggestion_overlay(np.zeros((60, 80, 3), np.uint8), probs)
    assert not click.is_positive and tuple(out[click.y, click.x]) == SUGGESTION_COLORS[False]


def test_off_or_without_probabilities_the_normal_render_is_returned_unchanged():
    rendered = draw_overlay(np.full((60, 80, 3), 90, np.uint8), np.zeros((60, 80), np.uint16))
    copy = rendered.copy()
    for out, click in (draw_suggestion_overlay(rendered, probability_map(), enabled=False),
                       draw_suggestion_overlay(rendered, None)):
        assert out is rendered and click is None
        np.testing.assert_array_equal(out, copy)


def test_nothing_uncertain_means_no_marker_and_no_tint():
    rendered = np.full((20, 30, 3), 7, np.uint8)
    probs = np.zeros((20, 30), np.float32)
    probs[:, 15:] = 1.0
    out, click = draw_suggestion_overlay(rendered, probs)
    assert click is None
    np.testing.assert_array_equal(out, rendered)


def test_bad_input_is_refused():
    rendered = np.zeros((60, 80, 3), np.uint8)
    with pytest.raises(ValueError, match=r"probabilities \(10, 10\) and rendered view \(60, 80\) differ"):
        draw_suggestion_overlay(rendered, np.zeros((10, 10), np.float32))
    with pytest.raises(ValueError, match=r"rendered view must be \(H, W, 3\) RGB, got shape \(60, 80\)"):
        draw_suggestion_overlay(rendered[..., 0], probability_map())
    with pytest.raises(ValueError, match="marker_radius must be >= 3 px, got 1"):
        draw_suggestion_overlay(rendered, probability_map(), marker_radius=1)


def test_the_view_state_carries_the_current_probabilities(controller):
    assert controller.view_state().prob is None
    prob = controller.add_click(30, 40, True)
    view = controller.view_state()
    np.testing.assert_array_equal(view.prob, prob)
    assert view.prob is not controller.current_prob
    out, click = draw_suggestion_overlay(draw_overlay(view.image, view.instances), view.prob)
    assert click is not None and 0.0 < abs(float(view.prob[click.y, click.x]) - 0.49) <= 0.26
