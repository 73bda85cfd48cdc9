"""Inference: simulated clicks (clicker), predictors with test-time transforms, NoC evaluation.

Modules: :mod:`~isegm.inference.clicker` (Click, Clicker, get_next_click, clicks_to_points,
add_next_points), :mod:`~isegm.inference.predictors` (get_predictor, BasePredictor),
:mod:`~isegm.inference.transforms`, :mod:`~isegm.inference.evaluation`,
:mod:`~isegm.inference.utils` (find_checkpoint, eval modes), :mod:`~isegm.inference.reporting` (table, json, plots).
Metrics: :mod:`isegm.metrics`; datasets: :mod:`isegm.data.registry`.
"""
