"""Interactive multi-object annotation: the session model behind the demo GUI and the output writers.

Parts: :mod:`.session` (session data and predictor calls), :mod:`.overlap` (overlap policy), :mod:`.history`
(typed undo), :mod:`.codec` (session json), :mod:`.export` (output files), :mod:`.render` (colours, overlay),
:mod:`.runtime` (model start-up), :mod:`.controller` (the façade the GUI imports).
"""
from isegm.annotation.codec import load_session
from isegm.annotation.export import export_annotations, output_paths
from isegm.annotation.overlap import OVERLAP_RULES
from isegm.annotation.session import AnnotatedObject, AnnotationController, AnnotationSession, ViewState

__all__ = ["AnnotationController", "AnnotationSession", "AnnotatedObject", "ViewState", "OVERLAP_RULES",
           "load_session", "export_annotations", "output_paths"]
