"""Sun-BCNN: the sun direction in the camera frame, with uncertainty from MC-dropout samples.

Only the package exists so far; the model, inference and node arrive with the Sun-BCNN issue.
"""
