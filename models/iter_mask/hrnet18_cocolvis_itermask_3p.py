"""RITM's HRNet18 IT-M on COCO+LVIS (released as coco_lvis_h18_itermask.pth)."""
from models.base import COCOLVIS_ITERMASK, replace

RECIPE = replace(COCOLVIS_ITERMASK, model="hrnet18_itermask", pretrained="HRNETV2_W18")
