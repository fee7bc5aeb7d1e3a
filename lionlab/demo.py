"""`lionlab up --demo`: a small Lion-vs-AdamW sweep queued on the server it started."""

from __future__ import annotations

import time


def wait_until_up(url: str, timeout: float = 120) -> None:
    """Block until the server at `url` answers its health check."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"LionLab at {url} did not answer within {timeout:.0f}s")


DEMO_PROJECT = "demo"


def demo_sweep_spec() -> dict:
    """The demo: a small paired Lion-vs-AdamW sweep on the built-in character LM.

    Three AdamW learning rates, the last one far too large (it diverges, and so do the Lion
    configurations derived from it); Lion's lr and weight decay derived from each with the
    paper's rule (lr / 3 and / 10, weight decay x 3 and x 10); two seeds; ASHA on eval loss.
    Sized to finish in under ten minutes on a 2-core CPU (bench/sweep_demo.py measures it).
    """
    return {
        "name": "demo-lion-vs-adamw",
        "description": "Built-in char LM: Lion's grid derived from AdamW's by the paper's "
        "transfer rule; AdamW lr 1.0 is planted as a far too large setting.",
        "base": {
            "task": "char_lm",
            "model_size": "tiny",
            "steps": 400,
            "eval_interval": 50,
            "schedule": {"warmup_steps": 30, "decay": "cosine"},
            "checkpoint_interval": 0,
            "device": "auto",
        },
        "optimizers": ["adamw", "lion"],
        "seeds": 2,
        "space": {"adamw": {"optimizer.lr": [1.0e-3, 3.0e-3, 1.0]}},
        "paired": {"factors": [3, 10]},
        "limits": {"max_parallel": 2},
        "asha": {"eta": 3, "min_steps": 100},
    }


def queue_demo(api) -> dict:
    """Submit the demo sweep to project 'demo'; returns the sweep."""
    from lionlab.client.run import project_id
    from lionlab.sweep_progress import submit

    return submit(api, project_id(api, DEMO_PROJECT), demo_sweep_spec())
