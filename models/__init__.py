"""Experiment scripts: each defines ``RECIPE`` by overriding a few fields of a base in ``models/base.py``."""
