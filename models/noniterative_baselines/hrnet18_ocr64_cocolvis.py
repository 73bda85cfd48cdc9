"""RITM's non-iterative HRNet18 + OCR64 baseline on COCO+LVIS (coco_lvis_h18_baseline.pth)."""
from models.base import COCOLVIS_BASELINE, replace

RECIPE = replace(COCOLVIS_BASELINE, model="hrnet18_baseline", pretrained="HRNETV2_W18")
