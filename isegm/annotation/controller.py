"""The façade the Tk view and the scripts use: :class:`AnnotationController` is the session model of
:mod:`isegm.annotation.session`, composed of :mod:`~isegm.annotation.state`, :mod:`~isegm.annotation.predict`
and :mod:`~isegm.annotation.persist` (over :mod:`~isegm.annotation.overlap`, :mod:`~isegm.annotation.history`,
:mod:`~isegm.annotation.codec` and :mod:`~isegm.annotation.export`). This module only re-exports them."""
from isegm.annotation.codec import SESSION_FORMAT, SESSION_VERSION, image_sha256, load_session
from isegm.annotation.overlap import OVERLAP_RULES
from isegm.annotation.session import (DEFAULT_LABEL, AnnotatedObject, AnnotationController, AnnotationSession,
                                      ViewState)

__all__ = ["AnnotationController", "AnnotationSession", "AnnotatedObject", "ViewState", "OVERLAP_RULES",
           "DEFAULT_LABEL", "SESSION_FORMAT", "SESSION_VERSION", "image_sha256", "load_session"]
