"""Training: the GAN LightningModule, its RNG streams, callbacks, loggers, checkpoints and run assembly from config."""
