"""MFP ResNet-34 U-Net (the seed design "MFPResNetUNet", isegm/model/unet.py) on COCO_MVal, from scratch.

As in its design: RGB + positive/negative click maps (RITM's disks of radius 5) into a ResNet-34
encoder, skip connections, one logit; weighted BCE (pos_weight 5.0), Adam at lr 1e-3, StepLR (x0.1
every 5 epochs). Clicks come from our multi-point sampler (as in the HRNet recipes: up to 24 points,
prob_gamma 0.8). The model takes no previous mask, so there are no IT-M iterations
(``max_num_next_clicks=0``: RITM's non-iterative baselines do the same). 15 epochs: after three drops
the rate is 1e-6 and further epochs change little. Data, crops, batch and the held-out 10 % are the
shipped COCO_MVal recipe's (models/base.py, COCOMVAL_CPU); no ImageNet weights (for those see
models/cocomval/unet_resnet34_imagenet_cocomval.py).

    python3 train.py models/cocomval/unet_resnet34_cocomval.py --cpu --workers 2
"""
from models.base import COCOMVAL_CPU, replace

RECIPE = replace(
    COCOMVAL_CPU,
    model="unet_resnet34", model_kwargs={}, pretrained=None, coord_feature_scale=None,
    instance_loss="bce", instance_loss_kwargs={"pos_weight": 5.0}, aux_loss_weight=0.0,
    optimizer="adam", lr=1e-3, lr_schedule="step", lr_step_size=5, lr_gamma=0.1, milestones=(),
    epochs=15, max_num_next_clicks=0,
)
