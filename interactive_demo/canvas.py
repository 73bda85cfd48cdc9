"""Zoomable, pannable Tk canvas showing an RGB image, with click and box gestures.

Gestures: left click -> positive click, right click -> negative click, left drag -> box (click tool) or add
stroke (stroke tool), right drag -> erase stroke (stroke tool), middle drag -> pan, mouse wheel -> zoom around
the pointer. Image coordinates are (y, x) pixels; the view maps image pixel (x, y)
to canvas [ox + x * s, ox + (x + 1) * s) x [oy + y * s, oy + (y + 1) * s).
"""
import math
import tkinter as tk

import cv2
import numpy as np

DRAG_THRESHOLD = 5  # px of pointer movement that turns a press into a drag


class ImageCanvas(tk.Canvas):
    """Canvas with an image view transform.

    Args:
        master: parent widget.
        on_click: callback(y, x, positive) in image pixels.
        on_box: callback((y0, x0, y1, x1)) in image pixels, end exclusive.
        on_view_change: optional callback() after the view (zoom / pan / size) was redrawn.
        on_stroke: optional callback(points, positive) with the dragged polyline as (y, x) image pixels (at least
            2 vertices) when :attr:`stroke_tool` is on.

    Attributes:
        stroke_tool: when True, left / right drags draw add / erase strokes instead of a box.
        stroke_width: width in image px of the stroke being drawn (for its preview).
    """

    def __init__(self, master, on_click, on_box, on_view_change=None, on_stroke=None, **kw):
        kw.setdefault("background", "#303030")
        kw.setdefault("highlightthickness", 0)
        super().__init__(master, **kw)
        self.on_click = on_click
        self.on_box = on_box
        self.on_view_change = on_view_change
        self.on_stroke = on_stroke
        self.stroke_tool = False
        self.stroke_width = 5.0
        self.strokes = []
        self._trail = None
        self.image = None
        self.scale = 1.0
        self.offset = (0.0, 0.0)
        self.user_zoomed = False
        self.click_radius = 5
        self.clicks = []
        self.box = None
        self._photo = None
        self._press = None
        self._pan = None
        self.bind("<Configure>", self._on_configure)
        self.bind("<ButtonPress-1>", self._left_press)
        self.bind("<B1-Motion>", self._left_motion)
        self.bind("<ButtonRelease-1>", self._left_release)
        self.bind("<ButtonPress-3>", self._right_press)
        self.bind("<B3-Motion>", self._right_motion)
        self.bind("<ButtonRelease-3>", self._right_release)
        self.bind("<ButtonPress-2>", self._middle_press)
        self.bind("<B2-Motion>", self._middle_motion)
        self.bind("<ButtonRelease-2>", self._middle_release)
        self.bind("<Button-4>", lambda e: self._zoom(e, 1.25))
        self.bind("<Button-5>", lambda e: self._zoom(e, 1 / 1.25))
        self.bind("<MouseWheel>", lambda e: self._zoom(e, 1.25 if e.delta > 0 else 1 / 1.25))

    # ------------------------------------------------------------------ content
    def set_image(self, image, reset_view=False):
        """Show an (H, W, 3) uint8 RGB image (the composited annotation view)."""
        new_size = None if self.image is None else self.image.shape[:2]
        self.image = image
        if reset_view or new_size != image.shape[:2]:
            self.fit()
        else:
            self.redraw()

    def set_overlays(self, clicks, box, click_radius, strokes=()):
        """Clicks (list of objects with y, x, positive), box (y0, x0, y1, x1) or None, radius in screen px, strokes
        (:class:`isegm.geometry.Stroke` list, drawn as lines of their width)."""
        self.clicks = list(clicks)
        self.strokes = list(strokes)
        self.box = box
        self.click_radius = int(click_radius)
        self._draw_overlays()

    def fit(self):
        """Scale the image to fit the canvas and centre it."""
        self.user_zoomed = False
        if self.image is None:
            return
        cw, ch = max(1, self.winfo_width()), max(1, self.winfo_height())
        h, w = self.image.shape[:2]
        self.scale = min(cw / w, ch / h)
        self.offset = ((cw - w * self.scale) / 2.0, (ch - h * self.scale) / 2.0)
        self.redraw()

    # ------------------------------------------------------------------ coordinates
    def to_image(self, cx, cy):
        """Canvas point -> (y, x) image pixel, or None outside the image."""
        if self.image is None:
            return None
        x = math.floor((cx - self.offset[0]) / self.scale)
        y = math.floor((cy - self.offset[1]) / self.scale)
        h, w = self.image.shape[:2]
        if 0 <= x < w and 0 <= y < h:
            return y, x
        return None

    def to_canvas(self, y, x):
        """Centre of image pixel (y, x) in canvas coordinates (cx, cy)."""
        return self.offset[0] + (x + 0.5) * self.scale, self.offset[1] + (y + 0.5) * self.scale

    def view_info(self):
        """Plain-data description of the view (for tests driving the window)."""
        return {"scale": self.scale, "offset": list(self.offset),
                "canvas_root": [self.winfo_rootx(), self.winfo_rooty(), self.winfo_width(), self.winfo_height()]}

    # ------------------------------------------------------------------ drawing
    def redraw(self):
        self.delete("image")
        if self.image is None:
            return
        cw, ch = self.winfo_width(), self.winfo_height()
        h, w = self.image.shape[:2]
        s = self.scale
        ox, oy = self.offset
        x0, y0 = max(0, math.floor(-ox / s)), max(0, math.floor(-oy / s))
        x1, y1 = min(w, math.ceil((cw - ox) / s)), min(h, math.ceil((ch - oy) / s))
        if x1 > x0 and y1 > y0:
            crop = self.image[y0:y1, x0:x1]
            out_w = max(1, int(round((x1 - x0) * s)))
            out_h = max(1, int(round((y1 - y0) * s)))
            interp = cv2.INTER_NEAREST if s >= 2.0 else (cv2.INTER_AREA if s < 1.0 else cv2.INTER_LINEAR)
            view = cv2.resize(crop, (out_w, out_h), interpolation=interp)
            ok, buf = cv2.imencode(".ppm", cv2.cvtColor(np.ascontiguousarray(view), cv2.COLOR_RGB2BGR))
            self._photo = tk.PhotoImage(master=self, data=buf.tobytes(), format="PPM")
            self.create_image(round(ox + x0 * s), round(oy + y0 * s), anchor="nw", image=self._photo, tags="image")
            self.tag_lower("image")
        self._draw_overlays()
        if self.on_view_change is not None:
            self.on_view_change()

    def _draw_overlays(self):
        self.delete("overlay")
        if self.image is None:
            return
        if self.box is not None:
            y0, x0, y1, x1 = self.box.to() if hasattr(self.box, "to") else self.box
            ax, ay = self.offset[0] + x0 * self.scale, self.offset[1] + y0 * self.scale
            bx, by = self.offset[0] + x1 * self.scale, self.offset[1] + y1 * self.scale
            self.create_rectangle(ax, ay, bx, by, outline="#ffd400", width=2, dash=(6, 3), tags="overlay")
        for stroke in self.strokes:
            coords = [v for y, x in stroke.points for v in self.to_canvas(y, x)]
            colour = "#00d000" if stroke.is_positive else "#e00000"
            self.create_line(*coords, fill=colour, width=max(1.0, stroke.width * self.scale), capstyle="round",
                             joinstyle="round", stipple="gray50", tags="overlay")
        r = self.click_radius
        if r > 0:
            for c in self.clicks:
                cx, cy = self.to_canvas(c.y, c.x)
                fill = "#00d000" if c.is_positive else "#e00000"
                self.create_oval(cx - r, cy - r, cx + r, cy + r, fill=fill, outline="white", width=1, tags="overlay")

    # ------------------------------------------------------------------ events
    def _on_configure(self, _event):
        if self.user_zoomed:
            self.redraw()
        else:
            self.fit()

    # strokes: the pointer's trail in canvas px, turned into image pixels on release
    def _trail_add(self, event, positive):
        if self._trail is None:
            return
        self._trail.append((event.x, event.y))
        if len(self._trail) >= 2:
            (ax, ay), (bx, by) = self._trail[-2:]
            self.create_line(ax, ay, bx, by, fill="#00d000" if positive else "#e00000", capstyle="round",
                             width=max(1.0, self.stroke_width * self.scale), tags="drag")

    def _trail_finish(self, positive) -> bool:
        """Send the trail as a stroke when it was a drag; False when it was a press (a click)."""
        trail, self._trail = self._trail, None
        self.delete("drag")
        if not trail or max(max(abs(x - trail[0][0]), abs(y - trail[0][1])) for x, y in trail) < DRAG_THRESHOLD:
            return False
        points = stroke_points(trail, self.to_image)
        if len(points) >= 2 and self.on_stroke is not None:
            self.on_stroke(points, positive)
        return True

    def _left_press(self, event):
        self.focus_set()
        self._press = (event.x, event.y, False)
        self._trail = [(event.x, event.y)] if self.stroke_tool else None

    def _left_motion(self, event):
        if self._press is None:
            return
        if self._trail is not None:
            self._trail_add(event, True)
            return
        px, py, dragging = self._press
        if not dragging and max(abs(event.x - px), abs(event.y - py)) >= DRAG_THRESHOLD:
            dragging = True
            self._press = (px, py, True)
        if dragging:
            self.delete("drag")
            self.create_rectangle(px, py, event.x, event.y, outline="#ffd400", width=1, tags="drag")

    def _left_release(self, event):
        if self._press is None:
            return
        px, py, dragging = self._press
        self._press = None
        if self._trail is not None:
            self._trail.append((event.x, event.y))
            if self._trail_finish(True):
                return
            dragging = False
        self.delete("drag")
        if not dragging:
            hit = self.to_image(px, py)
            if hit is not None:
                self.on_click(hit[0], hit[1], True)
            return
        if self.image is None:
            return
        h, w = self.image.shape[:2]
        xa, xb = sorted(((px - self.offset[0]) / self.scale, (event.x - self.offset[0]) / self.scale))
        ya, yb = sorted(((py - self.offset[1]) / self.scale, (event.y - self.offset[1]) / self.scale))
        box = (max(0, math.floor(ya)), max(0, math.floor(xa)), min(h, math.ceil(yb)), min(w, math.ceil(xb)))
        if box[2] > box[0] and box[3] > box[1]:
            self.on_box(box)

    def _right_press(self, event):
        self.focus_set()
        self._press_right = (event.x, event.y)
        self._trail = [(event.x, event.y)] if self.stroke_tool else None

    def _right_motion(self, event):
        if self._trail is not None:
            self._trail_add(event, False)

    def _right_release(self, event):
        start = getattr(self, "_press_right", None)
        self._press_right = None
        if self._trail is not None:
            self._trail.append((event.x, event.y))
            if self._trail_finish(False):
                return
        if start is None or max(abs(event.x - start[0]), abs(event.y - start[1])) >= DRAG_THRESHOLD:
            return
        hit = self.to_image(*start)
        if hit is not None:
            self.on_click(hit[0], hit[1], False)

    def _middle_press(self, event):
        self._pan = (event.x, event.y, self.offset)

    def _middle_motion(self, event):
        if self._pan is None:
            return
        px, py, (ox, oy) = self._pan
        self.offset = (ox + event.x - px, oy + event.y - py)
        self.user_zoomed = True
        self.redraw()

    def _middle_release(self, _event):
        self._pan = None

    def _zoom(self, event, factor):
        if self.image is None:
            return
        h, w = self.image.shape[:2]
        fit = min(max(1, self.winfo_width()) / w, max(1, self.winfo_height()) / h)
        new_scale = min(max(self.scale * factor, fit * 0.5), 40.0)
        if new_scale == self.scale:
            return
        ox, oy = self.offset
        k = new_scale / self.scale
        self.offset = (event.x - (event.x - ox) * k, event.y - (event.y - oy) * k)
        self.scale = new_scale
        self.user_zoomed = True
        self.redraw()


def stroke_points(trail, to_image):
    """A pointer trail (canvas (x, y) points) as stroke vertices: (y, x) image pixels, points off the image
    dropped, repeats of the same pixel merged; a one-pixel trail becomes a dot (the pixel twice)."""
    points = []
    for cx, cy in trail:
        hit = to_image(cx, cy)
        if hit is not None and (not points or points[-1] != hit):
            points.append(hit)
    if len(points) == 1:
        points.append(points[0])
    return points
