"""LionLab: Lion-vs-AdamW experiment tracking. `run = lionlab.init(project="...")`."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # Keep `import lionlab` light: the SDK (httpx) loads on first use.
    if name in ("init", "Run"):
        from lionlab import client

        return getattr(client, name)
    if name in ("watch", "LayerWatch"):  # per-layer statistics (needs torch)
        from lionlab import layer_watch

        return getattr(layer_watch, name)
    raise AttributeError(f"module 'lionlab' has no attribute {name!r}")
