"""A short CPU run of the MFP ResNet-34 U-Net recipe (models/cocomval/unet_resnet34_cocomval.py): 2 epochs
on 128x128 crops, the README's report-only figure. Same model, loss, optimizer and sampler; the learning
rate stays 1e-3 (StepLR's first drop is at epoch 5).

    python3 train.py models/cocomval/unet_resnet34_cocomval_short.py --cpu --workers 1 --exp-name short
"""
from models.cocomval.unet_resnet34_cocomval import RECIPE as _UNET
from models.base import replace

RECIPE = replace(_UNET, crop_size=(128, 128), epochs=2)
