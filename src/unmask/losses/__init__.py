"""Training losses: pixel, adversarial (hinge, RaGAN), perceptual/style (VGG16), D feature matching."""

from unmask.losses.adversarial import hinge_d_loss, hinge_g_loss, ragan_d_loss, ragan_g_loss
from unmask.losses.feature_matching import feature_matching_loss
from unmask.losses.perceptual import (
    VGG16Features,
    build_vgg16_features,
    gram_matrix,
    perceptual_loss,
    style_loss,
)
from unmask.losses.pixel import masked_l1

__all__ = [
    "VGG16Features",
    "build_vgg16_features",
    "feature_matching_loss",
    "gram_matrix",
    "hinge_d_loss",
    "hinge_g_loss",
    "masked_l1",
    "perceptual_loss",
    "ragan_d_loss",
    "ragan_g_loss",
    "style_loss",
]
