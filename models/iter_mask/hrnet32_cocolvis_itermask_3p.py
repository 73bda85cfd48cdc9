"""RITM's HRNet32 IT-M on COCO+LVIS (released as coco_lvis_h32_itermask.pth)."""
from models.base import COCOLVIS_ITERMASK, replace

RECIPE = replace(COCOLVIS_ITERMASK, model="hrnet32_itermask", pretrained="HRNETV2_W32",
                 batch_size=32)
