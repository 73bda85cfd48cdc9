"""The shipped COCO_MVal recipe with CFR-ICL's iterative click loss: every IT-M iteration is a forward
with gradient whose loss counts, weighted 1, 2, 3 (CFR-ICL's ``iterloss_weights``; its recipes draw 1..3
iterations, as ours do with ``max_num_next_clicks=3``). For the ICL ablation: train this and
models/cocomval/hrnet18s_cocomval_itermask.py with the same seed and schedule and compare them on the
held-out split (README, "Training").
"""
from models.base import COCOMVAL_CPU, replace

RECIPE = replace(COCOMVAL_CPU, icl_weights=(1, 2, 3))
