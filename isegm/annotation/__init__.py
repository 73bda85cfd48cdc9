"""Interactive multi-object annotation: the session model behind the demo GUI and the output writers.

Parts: :mod:`.session` (the session the GUI, the web view and the scripts call), built of :mod:`.state` (the
session data), :mod:`.predict` (running the predictor for the current object) and :mod:`.persist` (session json,
outputs, autosave); below them :mod:`.overlap` (overlap policy), :mod:`.history` (typed undo), :mod:`.codec`
(session json records), :mod:`.export` (output files); beside them :mod:`.render` (colours, overlay),
:mod:`.runtime` (model start-up), :mod:`.cli` (flags of the demo and the replay script) and :mod:`.controller`
(the façade the GUI imports).
"""
from isegm.annotation.codec import load_session
from isegm.annotation.export import export_annotations, output_paths
from isegm.annotation.overlap import OVERLAP_RULES
from isegm.annotation.session import AnnotatedObject, AnnotationController, AnnotationSession, ViewState

__all__ = ["AnnotationController", "AnnotationSession", "AnnotatedObject", "ViewState", "OVERLAP_RULES",
           "load_session", "export_annotations", "output_paths"]
