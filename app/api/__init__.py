"""The HTTP shell: pydantic schemas at the boundary, the session store, routes."""
