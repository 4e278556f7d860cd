"""Locust users for ``python -m loadtest`` (configuration from $LOADTEST_CONFIG)."""

from __future__ import annotations

import os
import random

from locust import FastHttpUser, task

from loadtest.scenarios import read_config

REQUESTS, API_KEY = read_config(os.environ["LOADTEST_CONFIG"])
WEIGHTS = [r.weight for r in REQUESTS]


class ScoringUser(FastHttpUser):
    """Sends the scenario's requests back to back (no think time), weighted at random."""

    @task
    def send(self) -> None:
        request = random.choices(REQUESTS, weights=WEIGHTS)[0]
        headers = {"Content-Type": request.content_type, **request.headers}
        if API_KEY:
            headers["Authorization"] = f"Bearer {API_KEY}"
        with self.client.post(
            request.path, data=request.body, headers=headers, name=request.name, catch_response=True
        ) as response:
            status = response.status_code
            if request.expect == "4xx":
                if 400 <= status < 500:
                    response.success()
                else:
                    response.failure(f"expected a 4xx, got {status}")
            elif not 200 <= status < 300:
                response.failure(f"HTTP {status}")
