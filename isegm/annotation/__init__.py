"""Interactive multi-object annotation: the session model behind the demo GUI and the output writers."""
from isegm.annotation.controller import (OVERLAP_RULES, AnnotatedObject, AnnotationController, ClickRecord,
                                         ViewState, load_session)
from isegm.annotation.export import export_annotations, output_paths

__all__ = ["AnnotationController", "AnnotatedObject", "ClickRecord", "ViewState", "OVERLAP_RULES", "load_session",
           "export_annotations", "output_paths"]
