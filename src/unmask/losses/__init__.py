"""Training losses: pixel, adversarial (hinge, RaGAN, non-saturating), perceptual/style (VGG16), D feature matching,
band energy, total variation, DMFN's self-guided regression and geometric alignment, FaceNet identity."""

from unmask.losses.adversarial import (
    hinge_d_loss,
    hinge_g_loss,
    nsgan_d_loss,
    nsgan_g_loss,
    ragan_d_loss,
    ragan_g_loss,
)
from unmask.losses.alignment import feature_centroids, geometric_alignment_loss
from unmask.losses.band_energy import band_energy_loss, hole_energy_loss
from unmask.losses.feature_matching import feature_matching_loss
from unmask.losses.identity import identity_loss
from unmask.losses.perceptual import gram_matrix, perceptual_loss, style_loss
from unmask.losses.pixel import masked_l1
from unmask.losses.self_guided import error_guidance, self_guided_loss
from unmask.losses.total_variation import total_variation_loss

__all__ = [
    "band_energy_loss",
    "hole_energy_loss",
    "error_guidance",
    "feature_centroids",
    "feature_matching_loss",
    "geometric_alignment_loss",
    "gram_matrix",
    "hinge_d_loss",
    "hinge_g_loss",
    "identity_loss",
    "masked_l1",
    "nsgan_d_loss",
    "nsgan_g_loss",
    "perceptual_loss",
    "ragan_d_loss",
    "ragan_g_loss",
    "self_guided_loss",
    "style_loss",
    "total_variation_loss",
]
