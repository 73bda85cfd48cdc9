"""RITM's HRNet18 IT-M on SBD (released as sbd_h18_itermask.pth)."""
from models.base import SBD_ITERMASK, replace

RECIPE = replace(SBD_ITERMASK, model="hrnet18_itermask", pretrained="HRNETV2_W18")
