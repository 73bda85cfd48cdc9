"""Tk view over :class:`isegm.annotation.AnnotationController` (multi-object interactive annotation).

The view owns widgets only; every controller call runs on a :class:`JobWorker` thread and the view redraws from
the :class:`ViewState` snapshot each job returns (polled with ``root.after``), so the window stays responsive
while the model predicts.

Test hook: when the environment variable ``ISEGM_DEMO_STATE`` names a file, the view writes a small json there
after every redraw (window/canvas geometry, view transform, object and click counts, busy flag, last save), so
an end-to-end test can find where to click and when the window is idle.
"""
import json
import logging
import os
import tkinter as tk
from pathlib import Path
from tkinter import filedialog, messagebox, ttk

from isegm.annotation.controller import load_session
from isegm.annotation.export import output_paths
from isegm.io import atomic_write_bytes, atomic_write_text, read_image, read_binary_mask as read_mask
from isegm.annotation.render import draw_view, instance_color
from interactive_demo.canvas import ImageCanvas
from interactive_demo.status import status_line
from interactive_demo.worker import JobWorker

logger = logging.getLogger(__name__)

POLL_MS = 30
IMAGE_TYPES = [("Images", "*.jpg *.jpeg *.png *.bmp *.tif *.tiff *.webp"), ("All files", "*.*")]
MASK_TYPES = [("Masks", "*.png *.bmp *.tif *.tiff *.jpg"), ("All files", "*.*")]

CONTROLS_HELP = (
    "Left click: positive click\n"
    "Right click: negative click\n"
    "Left drag: restrict to a box\n"
    "T: stroke tool (left drag: add,\n   right drag: erase)\n"
    "U: uncertainty + next-click suggestion\n"
    "R: refiner on/off (external masks)\n"
    "Wheel: zoom    Middle drag: pan\n"
    "Space: finish object\n"
    "Ctrl+Z: undo    Esc: reset object\n"
    "Ctrl+S: save    Ctrl+O: open"
)


def _hex(rgb):
    return "#%02x%02x%02x" % tuple(int(c) for c in rgb)


class AnnotationApp(ttk.Frame):
    """Main window.

    Args:
        master: the Tk root.
        controller: an :class:`isegm.annotation.AnnotationController` (already holding its predictor).
        out_dir: folder for saved outputs and autosaves.
        model_info: dict shown to the user (e.g. {'checkpoint': name, 'with_prev_mask': bool, 'device': str}).
        overwrite: Save replaces existing outputs without asking (``demo.py --overwrite``); otherwise it asks.
    """

    def __init__(self, master, controller, out_dir="annotations", model_info=None, overwrite=False):
        super().__init__(master)
        self.master = master
        self.controller = controller
        self.out_dir = Path(out_dir)
        self.model_info = dict(model_info or {})
        self.overwrite = bool(overwrite)
        self.status_full = ""
        self.worker = JobWorker()
        self.view = None
        self.image_path = None
        self.last_saved = []
        self.message = ""
        self._state_file = os.environ.get("ISEGM_DEMO_STATE")
        self._seq = 0
        self._reset_view_pending = False

        master.title("isegm interactive annotation")
        width = min(1040, master.winfo_screenwidth())
        height = min(700, master.winfo_screenheight() - 40)
        master.geometry(f"{width}x{height}")
        master.protocol("WM_DELETE_WINDOW", self.quit_app)
        self.pack(fill="both", expand=True)
        self.threshold = tk.DoubleVar(value=controller.threshold)
        self.alpha = tk.DoubleVar(value=0.5)
        self.radius = tk.IntVar(value=5)
        self.tool = tk.StringVar(value="click")
        self.stroke_width = tk.IntVar(value=5)
        self.label_var = tk.StringVar(value=controller.label)
        self.stuff_var = tk.BooleanVar(value=False)
        self.suggest_var = tk.BooleanVar(value=False)
        self.refiner_var = tk.BooleanVar(value=bool(getattr(controller, "refiner_enabled", False)))
        self._build_menu()
        self._build_body()
        self._bind_keys()
        self.after(POLL_MS, self._poll)

    # ------------------------------------------------------------------ layout
    def _build_menu(self):
        menubar = tk.Menu(self.master)
        file_menu = tk.Menu(menubar, tearoff=0)
        file_menu.add_command(label="Load image...", accelerator="Ctrl+O", command=self.ask_load_image)
        file_menu.add_command(label="Load external mask...", accelerator="Ctrl+M", command=self.ask_load_mask)
        file_menu.add_command(label="Save", accelerator="Ctrl+S", command=self.save)
        file_menu.add_command(label="Save to folder...", command=self.save_as)
        file_menu.add_separator()
        file_menu.add_command(label="Quit", accelerator="Ctrl+Q", command=self.quit_app)
        menubar.add_cascade(label="File", menu=file_menu)
        edit_menu = tk.Menu(menubar, tearoff=0)
        edit_menu.add_command(label="Finish object", accelerator="Space", command=self.finish_object)
        edit_menu.add_command(label="Undo", accelerator="Ctrl+Z", command=self.undo)
        edit_menu.add_command(label="Reset object", accelerator="Esc", command=self.reset_object)
        edit_menu.add_command(label="Clear box", command=lambda: self._submit("box", lambda c: c.set_box(None)))
        edit_menu.add_command(label="Fit view", command=lambda: self.canvas.fit())
        edit_menu.add_checkbutton(label="Refiner for external masks", accelerator="R", variable=self.refiner_var,
                                  command=self._refiner_changed,
                                  state="normal" if self._has_refiner() else "disabled")
        menubar.add_cascade(label="Edit", menu=edit_menu)
        view_menu = tk.Menu(menubar, tearoff=0)
        view_menu.add_checkbutton(label="Uncertainty + next-click suggestion", accelerator="U",
                                  variable=self.suggest_var, command=self._refresh_view)
        menubar.add_cascade(label="View", menu=view_menu)
        self.master.config(menu=menubar)

    def _build_body(self):
        # the status bar and the panel are packed before the canvas so that the canvas is what shrinks
        self.status = tk.StringVar(value="Load an image (Ctrl+O) to start.")
        self.status_label = ttk.Label(self, textvariable=self.status, relief="sunken", anchor="w", width=1)
        self.status_label.pack(side="bottom", fill="x")
        self.status_label.bind("<Enter>", lambda e: self._show_status_tip())
        self.status_label.bind("<Leave>", lambda e: self._hide_status_tip())
        self._status_tip = None
        body = ttk.Frame(self)
        body.pack(side="top", fill="both", expand=True)
        panel = ttk.Frame(body, width=240)
        panel.pack(side="right", fill="y", padx=4, pady=4)
        self.canvas = ImageCanvas(body, on_click=self.add_click, on_box=self.set_box,
                                  on_view_change=self._write_state, on_stroke=self.add_stroke, width=640,
                                  height=480, cursor="crosshair")
        self.canvas.pack(side="left", fill="both", expand=True, padx=4, pady=4)

        obj = ttk.LabelFrame(panel, text="Current object")
        obj.pack(fill="x", pady=3)
        ttk.Label(obj, text="Class label").grid(row=0, column=0, sticky="w", padx=4)
        self.label_entry = ttk.Entry(obj, textvariable=self.label_var, width=16)
        self.label_entry.grid(row=0, column=1, sticky="we", padx=4, pady=2)
        self.label_entry.bind("<Return>", lambda e: (self._apply_label(), self.canvas.focus_set()))
        self.label_entry.bind("<FocusOut>", lambda e: self._apply_label())
        self.label_entry.bind("<Control-a>", self._select_all_label)
        ttk.Checkbutton(obj, text="stuff class (panoptic)", variable=self.stuff_var,
                        command=self._apply_label).grid(row=1, column=0, columnspan=2, sticky="w", padx=4)
        self.swatch = tk.Label(obj, text="  next id: 1  ", relief="groove")
        self.swatch.grid(row=2, column=0, columnspan=2, sticky="we", padx=4, pady=2)
        buttons = ttk.Frame(obj)
        buttons.grid(row=3, column=0, columnspan=2, pady=3)
        ttk.Button(buttons, text="Finish", width=7, command=self.finish_object).pack(side="left", padx=2)
        ttk.Button(buttons, text="Undo", width=6, command=self.undo).pack(side="left", padx=2)
        ttk.Button(buttons, text="Reset", width=6, command=self.reset_object).pack(side="left", padx=2)

        tool = ttk.LabelFrame(panel, text="Tool")
        tool.pack(fill="x", pady=3)
        for text, value in (("Click / box", "click"), ("Stroke", "stroke")):
            ttk.Radiobutton(tool, text=text, value=value, variable=self.tool,
                            command=self._tool_changed).pack(side="left", padx=4)
        ttk.Checkbutton(panel, text="show uncertainty + suggestion (U)", variable=self.suggest_var,
                        command=self._refresh_view).pack(fill="x", pady=2)
        if self._has_refiner():
            ttk.Checkbutton(panel, text="refiner for external masks (R)", variable=self.refiner_var,
                            command=self._refiner_changed).pack(fill="x", pady=2)

        for text, var, lo, hi, res, cmd in (
                ("Stroke width (px)", self.stroke_width, 1, 30, 1, lambda _v: self._tool_changed()),
                ("Probability threshold", self.threshold, 0.05, 0.95, 0.01, self._threshold_changed),
                ("Alpha blending", self.alpha, 0.0, 1.0, 0.05, lambda _v: self._refresh_view()),
                ("Click radius (px)", self.radius, 0, 12, 1, lambda _v: self._refresh_overlays())):
            frame = ttk.LabelFrame(panel, text=text)
            frame.pack(fill="x", pady=3)
            tk.Scale(frame, variable=var, from_=lo, to=hi, resolution=res, orient="horizontal", command=cmd,
                     showvalue=True, length=200).pack(fill="x", padx=4)

        objs = ttk.LabelFrame(panel, text="Objects")
        objs.pack(fill="both", expand=True, pady=3)
        self.objects_list = tk.Listbox(objs, height=8, width=28, activestyle="none")
        self.objects_list.pack(fill="both", expand=True, padx=4, pady=2)

        ttk.Label(panel, text=CONTROLS_HELP, justify="left", foreground="#555").pack(fill="x", pady=3)

    def _bind_keys(self):
        root = self.master
        root.bind("<space>", lambda e: self._key(e, self.finish_object))
        root.bind("<Control-z>", lambda e: self._key(e, self.undo))
        root.bind("<Control-Z>", lambda e: self._key(e, self.undo))
        root.bind("<Escape>", self._escape)
        root.bind("<Control-s>", lambda e: self.save())
        root.bind("<Control-o>", lambda e: self.ask_load_image())
        root.bind("<Control-m>", lambda e: self.ask_load_mask())
        root.bind("<Control-q>", lambda e: self.quit_app())
        root.bind("t", lambda e: self._key(e, self.toggle_tool))
        root.bind("u", lambda e: self._key(e, self.toggle_suggestion))
        root.bind("r", lambda e: self._key(e, self.toggle_refiner))

    def _typing(self):
        return self.master.focus_get() is self.label_entry

    def _key(self, _event, action):
        if not self._typing():
            action()

    def _escape(self, _event):
        if self._typing():
            self.canvas.focus_set()
        else:
            self.reset_object()

    # ------------------------------------------------------------------ actions (Tk thread)
    def _submit(self, name, op, on_error="status", busy_text="working..."):
        """Run ``op(controller)`` on the worker; its result is the controller's new ViewState."""
        ctrl = self.controller

        def job():
            value = op(ctrl)
            return value, (ctrl.view_state() if ctrl.image is not None else None)

        self.worker.submit(name, job, on_error)
        self.status.set(self._status_text(busy_text))
        self._write_state()

    def _need_image(self):
        if self.controller.image is None and not self.worker.busy:
            self._set_message("Load an image first (File > Load image).")
            return False
        return True

    def add_click(self, y, x, positive):
        if self._need_image():
            self._submit("click", lambda c: c.add_click(y, x, positive), busy_text="predicting...")

    def add_stroke(self, points, positive):
        if self._need_image():
            width = float(self.stroke_width.get())
            self._submit("stroke", lambda c: c.add_stroke(points, width, positive), busy_text="predicting...")

    def _tool_changed(self):
        self.canvas.stroke_tool = self.tool.get() == "stroke"
        self.canvas.stroke_width = float(self.stroke_width.get())
        self.canvas.configure(cursor="pencil" if self.canvas.stroke_tool else "crosshair")
        self._write_state()

    def toggle_tool(self):
        self.tool.set("click" if self.tool.get() == "stroke" else "stroke")
        self._tool_changed()

    def toggle_suggestion(self):
        """Show / hide the uncertainty map and the suggested next click of the current object."""
        self.suggest_var.set(not self.suggest_var.get())
        self._refresh_view()

    def _has_refiner(self):
        return getattr(self.controller, "refiner", None) is not None

    def toggle_refiner(self):
        """Switch the refiner on / off (objects started from an external mask); without one, say so."""
        if not self._has_refiner():
            self._set_message("no refiner loaded (start demo.py with --refiner-checkpoint PATH)")
            return
        self.refiner_var.set(not self.refiner_var.get())
        self._refiner_changed()

    def _refiner_changed(self):
        enabled = bool(self.refiner_var.get())
        self._submit("refiner", lambda c: c.set_refiner_enabled(enabled), busy_text="predicting...")

    def set_box(self, box):
        if self._need_image():
            self._submit("box", lambda c: c.set_box(box), busy_text="predicting...")

    def finish_object(self):
        if self._need_image():
            self._apply_label()
            self._submit("finish", lambda c: c.finish_object())

    def undo(self):
        if self._need_image():
            self._submit("undo", lambda c: c.undo(), busy_text="undoing...")

    def reset_object(self):
        if self._need_image():
            self._submit("reset", lambda c: c.reset_object())

    def _apply_label(self):
        label = self.label_var.get().strip()
        if not label:
            return
        isthing = not self.stuff_var.get()
        self._submit("label", lambda c: c.set_label(label, isthing=isthing))

    def _threshold_changed(self, _value):
        value = float(self.threshold.get())
        if self.controller.image is not None:
            self._submit("threshold", lambda c: c.set_threshold(value))

    # ------------------------------------------------------------------ files
    def ask_load_image(self):
        path = filedialog.askopenfilename(parent=self.master, title="Load image", filetypes=IMAGE_TYPES)
        if path:
            self.load_image(path)

    def load_image(self, path):
        """Load an image file (message box on failure); offers to resume an autosave of the same image."""
        path = Path(path)
        try:
            image = read_image(path)
        except (FileNotFoundError, ValueError) as exc:
            messagebox.showerror("Cannot load image", str(exc), parent=self.master)
            return
        if self.view is not None and self.view.dirty and self.view.objects:
            if not messagebox.askyesno("Discard annotations?", "The current annotations are not saved "
                                       "(an autosave is kept). Load another image anyway?", parent=self.master):
                return
        self.image_path = path
        autosave = self.out_dir / f"{path.stem}.autosave.json"
        resume = False
        if autosave.is_file():
            resume = messagebox.askyesno("Resume?", f"An autosaved session exists for {path.name}:\n{autosave}\n"
                                         "Resume it?", parent=self.master)
        self.last_saved = []

        def op(c):
            c.autosave_path = None
            c.set_image(image, path.name)
            outcome, warning = "loaded", None
            if resume:
                try:
                    notes = c.restore(load_session(autosave))
                    outcome = "resumed"
                    warning = "\n".join(notes) or None
                except (ValueError, KeyError, TypeError) as exc:
                    c.set_image(image, path.name)
                    backup = autosave.with_suffix(".json.bak")
                    atomic_write_bytes(backup, autosave.read_bytes(), overwrite=True)
                    autosave.unlink()
                    warning = f"Could not resume {autosave}:\n{exc}\n\nIt was moved to {backup}."
            c.autosave_path = autosave
            return outcome, warning

        self._submit("load_image", op, on_error="dialog", busy_text=f"loading {path.name}...")

    def ask_load_mask(self):
        if not self._need_image():
            return
        path = filedialog.askopenfilename(parent=self.master, title="Load external mask", filetypes=MASK_TYPES)
        if path:
            self.load_mask(path)

    def load_mask(self, path):
        """Start the current object from a mask file (message box on unreadable or wrong-size masks)."""
        try:
            mask = read_mask(path)
        except (FileNotFoundError, ValueError) as exc:
            messagebox.showerror("Cannot load mask", str(exc), parent=self.master)
            return
        if self.model_info.get("with_prev_mask") is False:
            messagebox.showwarning("Model without mask input", "This model does not take a previous mask: the "
                                   "mask is kept until the first click, which then starts from scratch.",
                                   parent=self.master)
        self._submit("load_mask", lambda c: c.set_external_mask(mask), on_error="dialog")

    def save(self):
        """Save every output form into the output folder; asks before replacing existing files."""
        if not self._need_image() or self.view is None:
            return
        if not self.view.objects:
            messagebox.showinfo("Nothing to save", "Finish at least one object (Space) before saving.",
                                parent=self.master)
            return
        stem = Path(self.controller.image_name).stem
        existing = [p for p in output_paths(self.out_dir, stem).values() if p.exists()]
        overwrite = self.overwrite
        if existing and not overwrite:
            names = "\n".join(str(p) for p in existing[:8])
            if not messagebox.askyesno("Overwrite?", f"These files exist and will be replaced:\n{names}",
                                       parent=self.master):
                self._set_message("Save cancelled.")
                return
            overwrite = True
        out_dir = self.out_dir
        self._submit("save", lambda c: c.save(out_dir, overwrite=overwrite), on_error="dialog",
                     busy_text="saving...")

    def save_as(self):
        folder = filedialog.askdirectory(parent=self.master, title="Output folder", initialdir=str(self.out_dir))
        if folder:
            self.out_dir = Path(folder)
            self.save()

    def quit_app(self):
        """Close the window; asks first only when there are finished objects not saved since their change."""
        if self.controller.has_unsaved_changes():
            if not messagebox.askyesno("Quit?", "Quit without saving? (the autosave is kept)", parent=self.master):
                return
        self.worker.stop()
        self.master.destroy()

    # ------------------------------------------------------------------ results
    def _poll(self):
        try:
            results = self.worker.poll()
            for res in results:
                self._handle_result(res)
            if results:
                self._refresh_view()
                if not self.worker.busy:
                    self.status.set(self._status_text())
                self._write_state()
        finally:
            self.after(POLL_MS, self._poll)

    def _handle_result(self, res):
        if self._has_refiner():
            # also after a refused switch, a resumed session and an undo that reopened a refined object: both set
            # the switch to the model that made the object
            self.refiner_var.set(self.controller.refiner_enabled)
        if not res.ok:
            text = str(res.error) or type(res.error).__name__
            if res.on_error == "dialog":
                messagebox.showerror(f"{res.name.replace('_', ' ').capitalize()} failed", text, parent=self.master)
            self._set_message(text, update=False)
            return
        value, view = res.value
        if view is not None:
            self.view = view
        if res.name == "load_image":
            outcome, warning = value
            self.threshold.set(self.controller.threshold)
            self.label_var.set(view.label)
            self._reset_view_pending = True
            self._set_message(f"{outcome} {self.image_path.name}", update=False)
            if warning:
                title = "Resumed with another model" if outcome == "resumed" else "Autosave not resumed"
                messagebox.showwarning(title, warning, parent=self.master)
        elif res.name == "save":
            self.last_saved = [str(p) for p in value.values()]
            note = " (the unfinished object is not included)" if view.clicks or view.current_mask is not None else ""
            self._set_message(f"saved {len(view.objects)} objects to {self.out_dir}{note}", update=False)
        elif res.name == "finish":
            self._set_message(f"finished object {value}", update=False)
        elif res.name == "undo":
            self._set_message({"action": "undone", "reopen": "reopened the last object",
                               None: "nothing to undo"}[value], update=False)
            if value == "reopen":
                self.label_var.set(view.label)
        elif res.name == "refiner":
            state = "on" if self.controller.refiner_enabled else "off"
            self._set_message(f"refiner {state}" + (" (object predicted again)" if value else ""), update=False)
        elif res.name in ("click", "stroke", "box", "load_mask"):
            self._set_message("", update=False)

    def _composite(self):
        return draw_view(self.view, alpha=float(self.alpha.get()), suggest=self.suggest_var.get())[0]

    def _refresh_view(self):
        if self.view is None:
            return
        self.canvas.set_image(self._composite(), reset_view=self._reset_view_pending)
        self._reset_view_pending = False
        self._refresh_overlays()
        self.swatch.configure(text=f"  next id: {self.view.next_id}  ", background=_hex(instance_color(self.view.next_id)))
        self.objects_list.delete(0, "end")
        for obj_id, label, area in self.view.objects:
            self.objects_list.insert("end", f"{obj_id:3d}  {label}  ({area} px)")
            self.objects_list.itemconfigure("end", foreground=_hex(instance_color(obj_id)))

    def _refresh_overlays(self):
        if self.view is not None:
            in_strokes = {k for step in self.view.strokes
                          for k in range(step.stroke.index, step.stroke.index + step.n_clicks)}
            self.canvas.set_overlays([c for c in self.view.clicks if c.index not in in_strokes], self.view.box,
                                     self.radius.get(), [step.stroke for step in self.view.strokes])
            self._write_state()

    def _set_message(self, text, update=True):
        if text and text != self.message:
            logger.info("%s", text)
        self.message = text
        if update:
            self.status.set(self._status_text())
            self._write_state()

    def _status_text(self, busy_text=None):
        """The bar's text: the latest message first, elided to the bar's width; the full text is
        ``self.status_full`` (shown as a tooltip over the bar, and logged when the message changes)."""
        parts = []
        if self.view is not None:
            h, w = self.view.image.shape[:2]
            parts.append(f"{Path(self.controller.image_name or '').name} ({w}x{h})")
            parts.append(f"objects: {len(self.view.objects)}")
            parts.append(f"clicks: {len(self.view.clicks)}")
            t = self.view.last_prediction_time
            parts.append(f"last prediction: {t * 1000:.0f} ms" if t is not None else "last prediction: -")
        if self.model_info.get("checkpoint"):
            path = f" ({self.model_info['inference']})" if self.model_info.get("inference") else ""
            parts.append(f"model: {self.model_info['checkpoint']} on {self.model_info.get('device', '?')}{path}")
        if self._has_refiner():
            parts.append("refiner: " + ("refining" if self.controller.refining
                                        else "on" if self.controller.refiner_enabled else "off"))
        parts.append(busy_text or ("busy" if self.worker.busy else "ready"))
        message = " ".join(p for p in (self.controller.autosave_error, self.message) if p)
        width = max(self.status_label.winfo_width(), 400)
        shown, self.status_full = status_line(message, parts, max(20, width // 7))
        return shown

    def _show_status_tip(self):
        self._hide_status_tip()
        if not self.status_full or self.status_full == self.status.get():
            return
        tip = tk.Toplevel(self.master)
        tip.wm_overrideredirect(True)
        x, y = self.status_label.winfo_rootx(), self.status_label.winfo_rooty()
        tk.Label(tip, text=self.status_full, justify="left", wraplength=max(300, self.status_label.winfo_width()),
                 background="#ffffe0", relief="solid", borderwidth=1).pack()
        tip.update_idletasks()
        tip.wm_geometry(f"+{x}+{max(0, y - tip.winfo_reqheight() - 2)}")
        self._status_tip = tip

    def _hide_status_tip(self):
        if self._status_tip is not None:
            self._status_tip.destroy()
            self._status_tip = None

    def _select_all_label(self, _event=None):
        self.label_entry.select_range(0, "end")
        self.label_entry.icursor("end")
        return "break"

    def _write_state(self):
        if not self._state_file:
            return
        self._seq += 1
        top = self.master
        state = {
            "seq": self._seq,
            "busy": self.worker.busy,
            "image": self.controller.image_name if self.view is not None else None,
            "image_size": list(self.view.image.shape[1::-1]) if self.view is not None else None,
            "n_objects": len(self.view.objects) if self.view is not None else 0,
            "n_clicks": len(self.view.clicks) if self.view is not None else 0,
            "has_box": self.view is not None and self.view.box is not None,
            "n_strokes": len(self.view.strokes) if self.view is not None else 0,
            "tool": self.tool.get(),
            "widgets": {"label_entry": [self.label_entry.winfo_rootx(), self.label_entry.winfo_rooty(),
                                        self.label_entry.winfo_width(), self.label_entry.winfo_height()]},
            "window": [top.winfo_rootx(), top.winfo_rooty(), top.winfo_width(), top.winfo_height()],
            "frame": top.wm_frame(),
            "view": self.canvas.view_info(),
            "last_saved": self.last_saved,
            "message": self.message,
            "status": self.status.get(),
        }
        atomic_write_text(self._state_file, json.dumps(state), overwrite=True)
