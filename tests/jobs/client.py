"""Small HTTP helpers for the jobs tests."""

from __future__ import annotations

import time
from typing import Any

import httpx

TERMINAL = {"succeeded", "failed", "canceled"}


def wait_for_job(
    client: httpx.Client, job_id: str, *, timeout_s: float = 60.0, until: set[str] = TERMINAL
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(f"/v1/jobs/{job_id}").raise_for_status().json()
        if job["status"] in until:
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {job['status']} after {timeout_s} s: {job['progress']}")
        time.sleep(0.05)


def wait_for_progress(
    client: httpx.Client, job_id: str, done: int, *, timeout_s: float = 60.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(f"/v1/jobs/{job_id}").raise_for_status().json()
        if job["progress"]["segments_done"] >= done or job["status"] in TERMINAL:
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} has {job['progress']} after {timeout_s} s")
        time.sleep(0.02)


BOOK = [
    {"title": "One", "text": "It was a bright cold day. The clocks were striking. Nobody noticed. " * 2},
    {"title": "Two", "text": "Chapter two begins here. It is short."},
    {"title": "Three", "text": "The end is near! Or is it? It is. " * 2},
]
