"""The fine-tuning control with self-supervised pseudo-objects: half the training items take as their target
a region of merged Felzenszwalb superpixels of their own crop (:func:`isegm.data.pseudo.superpixel_region`,
scales 100/300/1000, up to 8 merges, 1–50 % of the crop), in the spirit of MIS (Li et al., ICCV 2023).
"""
from models.cocomval.hrnet18s_cocomval_finetune import RECIPE as FINETUNE
from models.base import replace

RECIPE = replace(FINETUNE, pseudo_objects={"superpixel_prob": 0.5})
