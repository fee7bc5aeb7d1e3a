"""A whole LionLab (server, broker, Celery workers) for end-to-end tests."""

from lionlab_server.throwaway import Stack, start_stack

__all__ = ["Stack", "start_stack"]
