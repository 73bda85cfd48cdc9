"""The superpixel fine-tune (``hrnet18s_cocomval_finetune_superpixel.py``) with pseudo-objects on 80 % of the items
instead of 50 % (3 epochs, the same schedule): is more self-supervision better, or does the real data matter?
"""
from models.cocomval.hrnet18s_cocomval_finetune_superpixel import RECIPE as SUPERPIXEL
from models.base import replace

RECIPE = replace(SUPERPIXEL, pseudo_objects={"superpixel_prob": 0.8})
