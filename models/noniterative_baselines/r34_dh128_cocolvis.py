"""RITM's DeepLabV3+ ResNet-34 (128 channels) non-iterative baseline on COCO+LVIS."""
from models.base import COCOLVIS_BASELINE, replace

RECIPE = replace(COCOLVIS_BASELINE, model="r34_dh128_baseline", pretrained="RESNET34",
                 epochs=160, aux_loss_weight=0.0)
