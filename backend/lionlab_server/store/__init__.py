"""All SQL lives here: plain functions taking a Session and returning domain objects."""

# Registers the flush hook that keeps run_params in step with every run write.
from lionlab_server.store import run_params as _run_params  # noqa: E402, F401
