"""Our shipped model: HRNet18s IT-M trained from scratch on COCO_MVal on a 2-core CPU.

Produces weights/hrnet18s_cocomval_itermask.pth (see README for the exact command).
"""
from models.base import COCOMVAL_CPU, replace

RECIPE = replace(COCOMVAL_CPU)
