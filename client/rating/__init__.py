"""Client package of the rating service; the generated API lives in ``rating.v1``."""
