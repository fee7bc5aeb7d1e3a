"""What the client retries and what it raises at once, against a scripted real HTTP server."""

import httpx
import pytest
from support.local_servers import free_port
from support.scripted_http import Reply, ScriptedServer

from lionlab.client import ApiClient, ApiError, BatchSender


@pytest.fixture
def scripted(request):
    server = ScriptedServer(request.param)
    yield server
    server.stop()


REFUSED = {"detail": [{"loc": ["body", "name"], "msg": "too long: at most 200 characters"}]}


@pytest.mark.parametrize("scripted", [[Reply(422, REFUSED)]], indirect=True)
def test_a_4xx_is_raised_at_once_with_the_servers_message(scripted):
    api = ApiClient(scripted.url, "t", retry_for=60)
    with pytest.raises(ApiError) as err:
        api.post("/runs", {"name": "x" * 300})
    assert err.value.status_code == 422 and not err.value.transient
    assert "body.name: too long: at most 200 characters" in str(err.value)
    assert scripted.paths() == ["/api/v1/runs"]  # tried once


@pytest.mark.parametrize(
    "scripted",
    [[Reply(500, {"detail": "boom"}), Reply(502, "bad gateway"), Reply(200, {"ok": 1})]],
    indirect=True,
)
def test_5xx_answers_are_retried(scripted):
    assert ApiClient(scripted.url, "t").get("/projects") == {"ok": 1}
    assert len(scripted.received) == 3


@pytest.mark.parametrize(
    "scripted",
    [
        [Reply(503, {"detail": "database restarting"}, {"Retry-After": "2"}), Reply(201)],
        [Reply(429, {"detail": "slow down"}, {"Retry-After": "2"}), Reply(201)],
    ],
    indirect=True,
)
def test_retry_after_is_honoured(scripted):
    ApiClient(scripted.url, "t").post("/runs", {})
    first, second = scripted.received
    # Without Retry-After the first retry comes after at most 0.25 s.
    assert second.at - first.at >= 2.0


def test_an_unreachable_server_raises_the_connection_error_once_retry_for_is_spent():
    api = ApiClient(f"http://127.0.0.1:{free_port()}", "t", retry_for=0.5)
    with pytest.raises(httpx.ConnectError):
        api.get("/projects")


STALE = {"detail": "attempt 1 is stale: attempt 2 owns run 5"}


@pytest.mark.parametrize("scripted", [[Reply(409, STALE)]], indirect=True)
def test_a_4xx_on_a_batch_stops_the_sender_and_its_owner_sees_why(scripted):
    sender = BatchSender(ApiClient(scripted.url, "t"), 5, interval=0.05, attempt=1)
    sender.log({"loss": 1.0}, step=0)
    assert sender.flush(timeout=30) is False
    sender._thread.join(timeout=30)
    assert not sender._thread.is_alive()  # stopped: nothing retries the batch
    assert isinstance(sender.error, ApiError) and sender.error.status_code == 409
    assert "attempt 1 is stale" in str(sender.error)
    sender.log({"loss": 0.5}, step=1)  # a worker stops on its own (it reads sender.error)
    assert sender.close() is None
    assert scripted.paths("POST") == ["/api/v1/runs/5/metrics"]
    assert scripted.received[0].headers["X-LionLab-Attempt"] == "1"


@pytest.mark.parametrize("scripted", [[]], indirect=True)
def test_a_sender_without_an_attempt_sends_no_attempt_header(scripted):
    sender = BatchSender(ApiClient(scripted.url, "t"), 5, interval=0.05)
    sender.log({"loss": 1.0}, step=0)
    assert sender.close() is None
    assert [r.path for r in scripted.received] == ["/api/v1/runs/5/metrics"]
    assert "X-LionLab-Attempt" not in scripted.received[0].headers
