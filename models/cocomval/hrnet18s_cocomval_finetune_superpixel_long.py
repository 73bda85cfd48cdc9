"""The superpixel fine-tune (``hrnet18s_cocomval_finetune_superpixel.py``: half the items take a merged-superpixel
region of their own crop as target) run four times longer: 12 epochs instead of 3, the same cosine from lr 2e-4.
Does the shipped model's gain keep growing with more steps on pseudo-objects?
"""
from models.cocomval.hrnet18s_cocomval_finetune_superpixel import RECIPE as SUPERPIXEL
from models.base import replace

RECIPE = replace(SUPERPIXEL, epochs=12)
