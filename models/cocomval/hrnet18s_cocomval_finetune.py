"""Fine-tuning control for the pseudo-object ablation: the shipped COCO_MVal recipe, restarted from the
shipped checkpoint (``--weights weights/hrnet18s_cocomval_itermask.pth``) for a short cosine schedule at
lr 2e-4 on the real instances only. A restart at the recipe's lr 1e-3 with a fresh Adam state set the
converged model back (README, ICL / SUEM ablation), hence the lower rate.

The pseudo-object variants (``*_finetune_superpixel.py``, ``*_finetune_synthetic.py``) change only
``pseudo_objects``; train all with the same seed and epochs and compare them on the held-out split.
"""
from models.base import COCOMVAL_CPU, replace

RECIPE = replace(COCOMVAL_CPU, lr=2e-4, epochs=3)
