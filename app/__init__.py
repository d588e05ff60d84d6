"""rmaplab: an interactive laboratory for Linux anonymous-page reverse mapping."""
