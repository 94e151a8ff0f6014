"""Which step a finalize failure is charged to, whether it is retried, and the retry delays."""

from __future__ import annotations

from pathlib import Path

import pytest

from voice_store.blobs import LocalBlobStore
from voice_store.errors import BlobNotFound, BlobStoreError
from voice_store.models.jobs import JobErrorStep
from workers.jobs.failures import FinalizeRetry, StepBlobs, StepFailed, step_failure


class DownStore(LocalBlobStore):
    def put(self, key: str, data: object, **kwargs: object) -> None:
        raise BlobStoreError("S3 request failed: could not connect")


def test_blob_store_failures_are_charged_to_read_or_upload_and_retried_only_when_transient(
    tmp_path: Path,
) -> None:
    blobs = StepBlobs(DownStore(tmp_path))
    with pytest.raises(StepFailed) as missing:
        blobs.get("jobs/j/segments/000000.pcm")
    assert (missing.value.step, missing.value.retryable) == (JobErrorStep.READ, False)
    assert isinstance(missing.value.__cause__, BlobNotFound)
    with pytest.raises(StepFailed) as down:
        blobs.put("jobs/j/audio.wav", b"RIFF")
    assert (down.value.step, down.value.retryable) == (JobErrorStep.UPLOAD, True)
    assert "could not connect" in str(down.value)


def test_an_encoder_that_wraps_a_read_failure_still_names_the_read() -> None:
    read = StepFailed(JobErrorStep.READ, BlobStoreError("timeout"), retryable=True)
    try:
        try:
            raise read
        except StepFailed as e:
            raise RuntimeError("the encoder's input failed") from e
    except RuntimeError as wrapped:
        assert step_failure(wrapped) is read


def test_anything_else_is_the_encode_step_and_never_retried() -> None:
    failure = step_failure(ValueError("bad sample rate"))
    assert (failure.step, failure.retryable) == (JobErrorStep.ENCODE, False)
    assert isinstance(failure.__cause__, ValueError) and "bad sample rate" in str(failure)


def test_retry_delays_double() -> None:
    assert [FinalizeRetry(first_delay_s=5).delay_s(n) for n in (1, 2, 3)] == [5, 10, 20]
