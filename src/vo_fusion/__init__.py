"""VO fusion: feature-map PnP refinement, visual odometry and sun-corrected orientation.

Only the package exists so far; the core and node arrive with the VO fusion issue.
"""
