"""Accuracy and timing figures for the models and the fused pipeline; `pose-reloc evaluate ...`."""
