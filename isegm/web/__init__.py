"""Annotate in the browser: the annotation session of :mod:`isegm.annotation` served over HTTP.

Parts: :mod:`.paths` (which files may be read and written), :mod:`.sessions` (one session per open image, the
busy lock and revision that keep two tabs apart, the state and mask layer the page draws), :mod:`.server`
(the FastAPI app: JSON endpoints, token, limits), :mod:`.cli` (``python -m isegm.web``) and ``static/`` (the
page: plain HTML/JS canvas, no build step). Guide: docs/annotation.md, section "In the browser".
"""
__all__ = ["create_app"]


def create_app(*args, **kwargs):
    """:func:`isegm.web.server.create_app` (imported lazily: FastAPI is only needed when serving)."""
    from isegm.web.server import create_app as _create_app

    return _create_app(*args, **kwargs)
