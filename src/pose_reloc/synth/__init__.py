"""The synthetic sun-lit world: a procedural city rendered with cast shadows and exact ground truth."""
