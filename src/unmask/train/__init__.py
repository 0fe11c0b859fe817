"""Training: the one GAN module and its recipes, the segmenter module, callbacks and the ``unmask train`` runner."""
