"""Real `lionlab` server processes for end-to-end tests."""

from lionlab_server.throwaway import LiveServer, start_server

__all__ = ["LiveServer", "start_server"]
