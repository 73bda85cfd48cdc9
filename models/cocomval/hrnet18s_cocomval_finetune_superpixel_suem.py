"""The superpixel fine-tune (``hrnet18s_cocomval_finetune_superpixel.py``: half the items take a merged-superpixel
region of their own crop as target) with CFR-ICL's SUEM augmentation on top (copy-paste 0.5, image mix 0.5, as in
``hrnet18s_cocomval_itermask_suem.py``): more backgrounds and occluders per object, 3 epochs, the same schedule.
Pseudo-objects are drawn first, then SUEM (:class:`isegm.data.base.ISDataset`).
"""
from models.cocomval.hrnet18s_cocomval_finetune_superpixel import RECIPE as SUPERPIXEL
from models.base import replace

RECIPE = replace(SUPERPIXEL, copy_paste_prob=0.5, image_mix_prob=0.5)
