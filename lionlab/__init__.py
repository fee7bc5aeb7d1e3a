"""LionLab: Lion-vs-AdamW experiment tracking. `run = lionlab.init(project="...")`."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # Keep `import lionlab` light: the SDK (httpx) loads on first use.
    if name in ("init", "Run"):
        from lionlab import client

        return getattr(client, name)
    raise AttributeError(f"module 'lionlab' has no attribute {name!r}")
