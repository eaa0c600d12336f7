"""Generation from a trained model: latents, truncation, interpolation, rendering with provenance, export."""
