"""The MFP ResNet-34 U-Net COCO_MVal recipe with its encoder initialised from ImageNet ResNet-34 weights.

The weights come from a LOCAL torchvision-layout file (``torch.save(torchvision.models.resnet34(
weights=...).state_dict(), path)``, or torchvision's released ``resnet34-*.pth``), the config.yml
entry ``IMAGENET_PRETRAINED_MODELS.RESNET34`` (default ``./pretrained/resnet34.pth``; override with
``--set IMAGENET_PRETRAINED_MODELS.RESNET34=PATH``). Nothing is downloaded. The RGB filters of the
first convolution are copied, the click-map filters keep their random initialisation
(:meth:`isegm.model.unet.ResNetUNetEncoder.load_pretrained_weights`); a missing or malformed file
stops with one line naming it.
"""
from models.cocomval.unet_resnet34_cocomval import RECIPE as _UNET
from models.base import replace

RECIPE = replace(_UNET, pretrained="RESNET34")
