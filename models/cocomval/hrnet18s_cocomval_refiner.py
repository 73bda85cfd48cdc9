"""Mask refinement from add / erase strokes ("Fusing Forces", Sterzinger et al., ICPR 2024) in this framework:
the shipped HRNet18s IT-M model fine-tuned to correct an initial mask (its previous-mask input) from
corrective strokes (its clicks; each stroke as clicks every 5 px along the line).

Training items (:class:`isegm.inference.correction.CorrectionSimulator`): the initial mask is a degraded
ground truth (boundary moved in / out, a missing part, a spurious blob, a ragged boundary), and 1-3
strokes are simulated along the skeletons of its errors. Start it from the shipped click model, with a
lower learning rate than the from-scratch recipe so that the click features are kept:

    OMP_NUM_THREADS=1 python3 train.py models/cocomval/hrnet18s_cocomval_refiner.py --cpu --workers 0 \\
        --weights weights/hrnet18s_cocomval_itermask.pth --epochs 6 --max-batches 15 --exp-name refiner

Evaluate it with ``scripts/evaluate_corrections.py`` (hand-applied strokes vs the model).
"""
from models.base import COCOMVAL_CPU, replace

RECIPE = replace(COCOMVAL_CPU, refinement={"max_strokes": 3}, lr=2e-4, epochs=6, max_num_next_clicks=0)
