"""The refiner recipe with real click-model outputs among its initial masks: half the training items start
from the shipped click model's NoBRS mask after 1-3 simulated clicks on the crop
(:class:`isegm.inference.correction.ClickModelMasks`), the other half from a degraded ground truth, as in
``hrnet18s_cocomval_refiner.py``. Run from the repository root (the checkpoint path is relative to it):

    OMP_NUM_THREADS=1 python3 train.py models/cocomval/hrnet18s_cocomval_refiner_modelmasks.py --cpu --workers 0 \\
        --weights weights/hrnet18s_cocomval_itermask.pth --epochs 6 --max-batches 15 --exp-name refiner_modelmasks

Each such item costs 1-3 extra forward passes of the click model in the data loader.
"""
from models.cocomval.hrnet18s_cocomval_refiner import RECIPE as REFINER
from models.base import replace

RECIPE = replace(REFINER, refinement={"max_strokes": 3, "initial_model": "weights/hrnet18s_cocomval_itermask.pth",
                                      "initial_model_prob": 0.5, "initial_model_clicks": (1, 3)})
