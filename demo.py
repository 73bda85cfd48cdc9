#!/usr/bin/env python3
"""Interactive multi-object annotation demo (Tk).

    python demo.py [--checkpoint PATH] [--cpu | --gpu N] [--limit-longest-size 800] [--out DIR] [--overwrite]
                   [--threshold 0.5] [--overlap keep_earlier|later_wins] [--classes a,b,c]
                   [--refiner-checkpoint PATH] [IMAGE]

Without --checkpoint the shipped model weights/hrnet18s_cocomval_superpixel.pth is used. Controls and output
formats: docs/annotation.md. Bad input: one line ``error: ...`` on stderr, exit status 2.
"""
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from isegm.annotation.cli import prepare_demo  # noqa: E402
from isegm.errors import UserError, run_cli  # noqa: E402


def _main(argv):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    setup = prepare_demo(argv)  # every input check and the model, before any window

    import tkinter as tk

    try:
        root = tk.Tk()
    except tk.TclError as exc:
        raise UserError(f"cannot open a window ({exc}); run it on a desktop or under xvfb-run") from None
    from interactive_demo.app import AnnotationApp

    root.minsize(900, 560)
    app = AnnotationApp(root, setup.controller, out_dir=setup.out_dir, model_info=setup.model_info,
                        overwrite=setup.overwrite)
    if setup.image_path is not None:
        root.after(100, lambda: app.load_image(setup.image_path))
    root.mainloop()
    return 0


def main(argv=None):
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
