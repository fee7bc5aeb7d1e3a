"""The background sender during an outage: it keeps to its backoff whatever the buffer does."""

import time

import httpx
import pytest
from support.proxy import TcpProxy

from lionlab.client import ApiClient
from lionlab.client.batching import BatchSender

OUTAGE_S = 5.0
# The sender's backoff waits at least 0.125, 0.25, 0.5, 1, 2, 4 s between tries (the random
# half of each wait only adds), so a 5 s outage sees at most ~7 tries; a sender woken by every
# log() call once 20,000 points waited sent 67-122.
MAX_TRIES_IN_OUTAGE = 10


@pytest.mark.slow
def test_a_full_buffer_does_not_cut_the_backoff_short(server):
    proxy = TcpProxy(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
    api = ApiClient(proxy.url, server.token)
    project = api.post("/projects", {"name": "outage"})["id"]
    run_id = api.post("/runs", {"project_id": project})["id"]
    sender = BatchSender(api, run_id, interval=0.05)
    sender.log({"loss": 1.0}, step=0)
    assert sender.flush(timeout=30)

    proxy.down()
    for step in range(1, 5_001):  # 25,000 points: more than one batch waits
        sender.log({f"k{i}": float(step) for i in range(5)}, step=step)
    step, outage_end = 5_000, time.monotonic() + OUTAGE_S
    while time.monotonic() < outage_end:  # training goes on: a log() every few ms
        step += 1
        sender.log({f"k{i}": float(step) for i in range(5)}, step=step)
        time.sleep(0.005)
    failed = proxy.refused
    proxy.up()
    print(f"failed requests during a {OUTAGE_S:.0f} s outage: {failed}")

    sender.close(timeout=120)
    assert 1 <= failed <= MAX_TRIES_IN_OUTAGE
    r = httpx.get(f"{server.url}/api/v1/runs/{run_id}/metrics", headers=server.headers)
    counts = {m["key"]: m["count"] for m in r.json()}
    assert counts == {"loss": 1, **{f"k{i}": step for i in range(5)}}
    proxy.stop()
