"""Network families, one per file. Generators map (z, y) to samples; discriminators map (x, y) to logits (N,)."""
