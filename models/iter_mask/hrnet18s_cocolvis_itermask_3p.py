"""RITM's HRNet18s IT-M on COCO+LVIS (released as coco_lvis_h18s_itermask.pth)."""
from models.base import COCOLVIS_ITERMASK, replace

RECIPE = replace(COCOLVIS_ITERMASK, model="hrnet18s_itermask", pretrained="HRNETV2_W18_SMALL",
                 batch_size=32)
