"""Colours and overlays for annotated instances (used by the exporters and the demo GUI).

Everything here is pure NumPy/OpenCV on RGB uint8 arrays; nothing reads global state.
"""
import colorsys

import cv2
import numpy as np

# Hand-picked, mutually distinct colours (RGB) for the first instances; later ids use golden-ratio hues.
_BASE_PALETTE = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
    (0, 128, 128), (220, 190, 255), (170, 110, 40), (255, 250, 200), (128, 0, 0),
    (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128), (128, 128, 128),
)


def instance_color(instance_id):
    """Fixed colour of an instance id.

    Args:
        instance_id: int >= 0; 0 is the background and is black.
    Returns:
        tuple (r, g, b) of ints in [0, 255]; the same id always gets the same colour.
    Raises:
        ValueError: for a negative id.
    """
    instance_id = int(instance_id)
    if instance_id < 0:
        raise ValueError(f"instance id must be >= 0, got {instance_id}")
    if instance_id == 0:
        return (0, 0, 0)
    if instance_id <= len(_BASE_PALETTE):
        return _BASE_PALETTE[instance_id - 1]
    hue = (instance_id * 0.6180339887498949) % 1.0
    sat = 0.65 + 0.35 * ((instance_id * 7) % 3) / 2.0
    val = 0.75 + 0.25 * ((instance_id * 5) % 2)
    r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
    return (int(round(r * 255)), int(round(g * 255)), int(round(b * 255)))


def palette(num_ids):
    """(num_ids + 1, 3) uint8 lookup table: row i is the colour of instance id i (row 0 black)."""
    return np.array([instance_color(i) for i in range(num_ids + 1)], dtype=np.uint8)


def colorize_instances(instances):
    """Opaque colour-coded instance image.

    Args:
        instances: (H, W) integer array of instance ids, 0 = background.
    Returns:
        (H, W, 3) uint8 RGB.
    """
    instances = np.asarray(instances)
    if instances.ndim != 2:
        raise ValueError(f"instances must be a (H, W) id map, got shape {instances.shape}")
    lut = palette(int(instances.max()) if instances.size else 0)
    return lut[instances.astype(np.int64)]


def id_text_colors(rgb):
    """(text, outline) RGB colours for writing an id on top of colour ``rgb``: black text with a white outline
    on light colours (relative luminance > 0.5, Rec. 709 weights), white text with a black outline on dark ones."""
    r, g, b = (float(c) / 255.0 for c in rgb)
    light = 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5
    return ((0, 0, 0), (255, 255, 255)) if light else ((255, 255, 255), (0, 0, 0))


def draw_overlay(image, instances, alpha=0.5, outline=2, draw_ids=True, highlight=None, highlight_color=None):
    """Image with every instance blended in its colour and outlined.

    Args:
        image: (H, W, 3) uint8 RGB.
        instances: (H, W) integer ids, 0 = background.
        alpha: float in [0, 1], weight of the instance colour.
        outline: outline thickness in pixels (0 = none).
        draw_ids: write each instance id at the top-left of its box, in black or white with the opposite
            outline, chosen by the luminance of its colour (:func:`id_text_colors`).
        highlight: optional (H, W) bool mask drawn on top (the object being edited).
        highlight_color: (r, g, b) for `highlight`; defaults to white.
    Returns:
        (H, W, 3) uint8 RGB, a new array.
    Raises:
        ValueError: when the shapes of image, instances and highlight disagree.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) RGB, got shape {image.shape}")
    if instances.shape != image.shape[:2]:
        raise ValueError(f"instances {instances.shape} and image {image.shape[:2]} differ in size")
    alpha = float(np.clip(alpha, 0.0, 1.0))
    colors = colorize_instances(instances).astype(np.float32)
    out = image.astype(np.float32)
    fg = instances > 0
    out[fg] = out[fg] * (1.0 - alpha) + colors[fg] * alpha
    if highlight is not None:
        if highlight.shape != image.shape[:2]:
            raise ValueError(f"highlight {highlight.shape} and image {image.shape[:2]} differ in size")
        hcol = np.array(highlight_color if highlight_color is not None else (255, 255, 255), np.float32)
        out[highlight] = out[highlight] * (1.0 - alpha) + hcol * alpha
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if outline > 0 or draw_ids:
        ids = np.unique(instances)
        for inst_id in ids[ids > 0]:
            mask = (instances == inst_id).astype(np.uint8)
            color = tuple(int(c) for c in instance_color(inst_id))
            if outline > 0:
                contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
                cv2.drawContours(out, contours, -1, color, outline)
            if draw_ids:
                ys, xs = np.nonzero(mask)
                org = (int(xs.min()) + 2, int(ys.min()) + 14)
                text_color, outline_color = id_text_colors(color)
                cv2.putText(out, str(int(inst_id)), org, cv2.FONT_HERSHEY_SIMPLEX, 0.5, outline_color, 3, cv2.LINE_AA)
                cv2.putText(out, str(int(inst_id)), org, cv2.FONT_HERSHEY_SIMPLEX, 0.5, text_color, 1, cv2.LINE_AA)
        if highlight is not None and outline > 0 and highlight.any():
            contours, _ = cv2.findContours(highlight.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(out, contours, -1, tuple(int(c) for c in hcol), outline)
    return out


#: colour of the uncertainty blend (RGB, orange) and of the suggestion marker by sign (green +, red -)
UNCERTAINTY_COLOR = (255, 140, 0)
SUGGESTION_COLORS = {True: (0, 255, 0), False: (255, 0, 0)}


def draw_suggestion_overlay(rendered, probs, enabled=True, thresh=0.49, alpha=0.6, min_uncertainty=0.5,
                            marker_radius=6, exclude=None):
    """The next-click suggestion drawn over a rendered view (issue 9; :mod:`isegm.inference.suggest`).

    Each pixel of the uncertain zone (u >= ``min_uncertainty``, u the
    :func:`~isegm.inference.suggest.uncertainty_map` of ``probs``: 1 at the threshold, 0 where the model is
    sure) is blended towards :data:`UNCERTAINTY_COLOR` with weight ``alpha * u``; other pixels are left as
    they are. A marker is drawn at :func:`~isegm.inference.suggest.suggest_click`'s pixel: a filled dot of
    radius 2 and a ring of ``marker_radius`` px in its sign's colour (:data:`SUGGESTION_COLORS`: green where
    a positive click is suggested, red for a negative one), with a black outline ring.

    Args:
        rendered: (H, W, 3) uint8 RGB, the normal view (e.g. :func:`draw_overlay`'s output).
        probs: (H, W) float probabilities of the current object, or None (nothing to suggest).
        enabled: False returns ``rendered`` itself, unchanged (the overlay's off switch).
        thresh, min_uncertainty, exclude: of :func:`~isegm.inference.suggest.suggest_click`.
        alpha: in [0, 1], weight of the uncertainty colour where u = 1.
        marker_radius: ring radius in px (>= 3).

    Returns:
        ``(image, click)``: (H, W, 3) uint8 RGB (a new array when drawn) and the suggested
        :class:`~isegm.geometry.Click` ((y, x) pixels), or None (off, no probabilities, nothing uncertain).

    Raises:
        ValueError: ``rendered`` not (H, W, 3), ``probs`` of another size, ``marker_radius`` < 3, or the
            values :func:`~isegm.inference.suggest.suggest_click` refuses.
    """
    rendered = np.asarray(rendered)
    if rendered.ndim != 3 or rendered.shape[2] != 3:
        raise ValueError(f"rendered view must be (H, W, 3) RGB, got shape {rendered.shape}")
    if not enabled or probs is None:
        return rendered, None
    probs = np.asarray(probs)
    if probs.shape != rendered.shape[:2]:
        raise ValueError(f"probabilities {probs.shape} and rendered view {rendered.shape[:2]} differ in size")
    if int(marker_radius) < 3:
        raise ValueError(f"marker_radius must be >= 3 px, got {marker_radius!r}")
    from isegm.inference.suggest import suggest_click, uncertainty_map

    u = uncertainty_map(probs, thresh)
    weight = (float(np.clip(alpha, 0.0, 1.0)) * np.where(u >= min_uncertainty, u, 0.0))[..., None]
    out = rendered.astype(np.float32) * (1.0 - weight) + np.array(UNCERTAINTY_COLOR, np.float32) * weight
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    click = suggest_click(probs, thresh, min_uncertainty, exclude)
    if click is not None:
        center, radius = (int(click.x), int(click.y)), int(marker_radius)  # OpenCV takes (x, y)
        color = SUGGESTION_COLORS[bool(click.is_positive)]
        cv2.circle(out, center, radius + 2, (0, 0, 0), 1, cv2.LINE_8)
        cv2.circle(out, center, radius, color, 2, cv2.LINE_8)
        cv2.circle(out, center, 2, color, -1, cv2.LINE_8)
    return out, click


def draw_view(view, alpha=0.5, suggest=False):
    """The annotation view of a session as the Tk demo shows it (and the web view's server-rendered image):
    the finished objects blended and outlined (:func:`draw_overlay`, 1 px outlines, ids), the current object
    highlighted in the colour of the id it will get, then, with ``suggest``, the uncertainty map and the
    suggested next click (:func:`draw_suggestion_overlay`).

    Args:
        view: a :class:`isegm.annotation.state.ViewState` (``session.view_state()``).
        alpha: weight of the instance colours, in [0, 1].
        suggest: draw the suggestion overlay.
    Returns:
        ``(image, click)``: (H, W, 3) uint8 RGB and the suggested :class:`~isegm.geometry.Click` or None.
    """
    rendered = draw_overlay(view.image, view.instances, alpha=float(alpha), outline=1,
                            highlight=view.current_mask, highlight_color=instance_color(view.next_id))
    return draw_suggestion_overlay(rendered, view.prob, enabled=bool(suggest))
