"""rmaplab: an interactive laboratory for Linux anonymous-page reverse mapping."""

__version__ = "0.1.0"
