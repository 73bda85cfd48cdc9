"""The fine-tuning control with synthetic objects: half the training items take as their target a
procedurally generated shape (:func:`isegm.data.pseudo.synthetic_shape`) textured with another training
crop and pasted onto theirs, an exact mask by construction (formula-driven supervision, FractalDB,
Kataoka et al. ACCV 2020, with copy-paste).
"""
from models.cocomval.hrnet18s_cocomval_finetune import RECIPE as FINETUNE
from models.base import replace

RECIPE = replace(FINETUNE, pseudo_objects={"synthetic_prob": 0.5})
