"""Tk demo for interactive multi-object annotation (a thin view over isegm.annotation)."""
