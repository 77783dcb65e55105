"""The rating service: prices usage in resource points (1 yuan = 1000 points)."""
