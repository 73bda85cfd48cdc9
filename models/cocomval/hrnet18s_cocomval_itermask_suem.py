"""The shipped COCO_MVal recipe with CFR-ICL's SUEM augmentation (copy-paste and image mix, 0.5 each,
the probabilities of CFR-ICL's COCO+LVIS recipes). COCO_MVal has no stuff regions, so that part is off.
For the SUEM ablation: train this and models/cocomval/hrnet18s_cocomval_itermask.py with the same
seed and schedule and compare them on the held-out split.
"""
from models.base import COCOMVAL_CPU, replace

RECIPE = replace(COCOMVAL_CPU, copy_paste_prob=0.5, image_mix_prob=0.5)
