"""HTTP client and SDK: the one path metrics take into LionLab (workers use it too)."""

from lionlab.client.batching import BatchSender
from lionlab.client.http import ApiClient, ApiError
from lionlab.client.run import Run, connect, init

__all__ = [
    "ApiClient",
    "ApiError",
    "BatchSender",
    "Run",
    "connect",
    "init",
]
