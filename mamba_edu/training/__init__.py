"""Infrastructure shared by every algorithm: the training loop, run directories, checkpoints."""
