"""The shipped COCO_MVal recipe with both of CFR-ICL's training changes: the iterative click loss
(weights 1, 2, 3) and SUEM (copy-paste and image mix, 0.5 each; COCO_MVal has no stuff regions).
The fourth run of the ICL / SUEM ablation (README, "Training").
"""
from models.base import COCOMVAL_CPU, replace

RECIPE = replace(COCOMVAL_CPU, icl_weights=(1, 2, 3), copy_paste_prob=0.5, image_mix_prob=0.5)
