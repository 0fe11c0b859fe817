"""The package version, at the bottom of the layers so any part may record it (ONNX metadata, ``/healthz``)."""

__version__ = "0.1.0"
