"""Training: the Lightning GAN module, callbacks and the ``unmask train`` runner."""
