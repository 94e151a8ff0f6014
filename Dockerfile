# qwen3-tts on NVIDIA GPUs: one image for the API (`qwen3-tts serve`) and the workers (`qwen3-tts worker`).
# The PyPI torch wheel bundles the CUDA runtime; the host needs only the driver and the NVIDIA container toolkit.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HOME=/cache/huggingface

RUN useradd --create-home --uid 1000 tts && mkdir -p /cache/huggingface /data && chown tts /cache/huggingface /data
WORKDIR /app

COPY . .
RUN pip install ".[distributed]"

USER tts
ENV QWEN_TTS_DATA_DIR=/data
EXPOSE 8880
CMD ["qwen3-tts", "serve", "--host", "0.0.0.0"]
