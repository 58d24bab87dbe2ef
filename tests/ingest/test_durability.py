"""Against the real service in its own process: a 2xx is durable (SIGKILL right after it loses
nothing) and concurrent retries with one Idempotency-Key store one copy."""

import json
import os
import signal
import threading
from collections.abc import Callable

import httpx
import pyarrow.parquet as pq

from tests.api.world import seed_organization
from tests.ingest.conftest import Served, ingest_key_for
from tests.ingest.helpers import landed, landed_rows, reading, series

URL = "/api/ingest/readings"


def test_a_batch_answered_2xx_survives_sigkill_right_after_the_answer(serve: Callable[..., Served]) -> None:
    server = serve()
    org = seed_organization(server.engine, "alpha", "Alpha")
    _, key = ingest_key_for(server.engine, org)
    rows = [*series(3000), reading("NOT-REGISTERED")]
    body = json.dumps(rows).encode()
    response = httpx.post(
        server.url + URL,
        content=body,
        headers={"x-api-key": key, "Content-Type": "application/json", "Idempotency-Key": "kill-test"},
        timeout=60,
    )
    os.killpg(server.process.pid, signal.SIGKILL)  # no shutdown, no flush, no finally blocks
    server.process.wait(timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 3000
    files = landed(server.data_dir, org.slug)
    assert len(files) == 1
    assert pq.read_table(files[0]).num_rows == 3000
    assert [r["compressor_id"] for r in landed_rows(server.data_dir, org.slug, "refused")] == [
        "NOT-REGISTERED"
    ]


def test_concurrent_retries_with_one_key_store_one_copy_and_get_one_answer(
    serve: Callable[..., Served],
) -> None:
    server = serve(workers=2)
    org = seed_organization(server.engine, "alpha", "Alpha")
    _, key = ingest_key_for(server.engine, org)
    body = json.dumps(series(5000)).encode()
    headers = {"x-api-key": key, "Content-Type": "application/json", "Idempotency-Key": "gateway-batch-17"}
    answers: list[httpx.Response] = []
    start = threading.Barrier(6)

    def send() -> None:
        start.wait()
        answers.append(httpx.post(server.url + URL, content=body, headers=headers, timeout=120))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
    assert len({json.dumps(a.json(), sort_keys=True) for a in answers}) == 1
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 5
    assert len(landed(server.data_dir, org.slug)) == 1
    assert len(landed_rows(server.data_dir, org.slug)) == 5000
