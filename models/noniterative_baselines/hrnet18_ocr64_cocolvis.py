"""RITM's non-iterative HRNet18 + OCR64 baseline on COCO+LVIS (models/noniterative_baselines/hrnet18_ocr64_cocolvis.py: disks r=5, Conv1S, no previous mask)."""
from models.base import COCOLVIS_BASELINE, replace

RECIPE = replace(COCOLVIS_BASELINE, pretrained="HRNETV2_W18")
