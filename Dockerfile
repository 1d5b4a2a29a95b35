# Robust Canvas web app + REST API on a CUDA PyTorch image (CPU-only hosts work too).
#   docker build -t robust-canvas .
#   docker run --gpus all -p 8000:8000 robust-canvas [--model ID ...] [--token SECRET]
# torch and torchvision come from the base image; pick a tag whose torch matches pyproject.toml.
ARG BASE_IMAGE=pytorch/pytorch:2.14.1-cuda12.8-cudnn9-runtime
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    HOME=/home/app ROBUST_CANVAS_CACHE=/home/app/.cache/robust-canvas

WORKDIR /app
# Dependencies first (a layer that survives code changes): everything in pyproject.toml but
# torch/torchvision, which the base image already has for its CUDA version, plus the optional
# extras named in EXTRAS (e.g. --build-arg EXTRAS=ray for a Ray cluster's image, docs/DEPLOY.md).
ARG EXTRAS=""
COPY pyproject.toml README.md* ./
RUN EXTRAS="$EXTRAS" python -c "import os, re, tomllib; \
project = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
deps = project['dependencies'] + [d for e in os.environ['EXTRAS'].split(',') if e for d in project['optional-dependencies'][e]]; \
print('\n'.join(d for d in deps if re.split(r'[<>=!~ \[]', d)[0] not in ('torch', 'torchvision')))" \
    > /tmp/requirements.txt && pip install -r /tmp/requirements.txt

COPY server/ server/
COPY frontend/ frontend/
COPY models/ models/
# Editable, so the app finds frontend/ and models/ beside its code; --no-deps keeps the base torch.
RUN pip install --no-deps -e . \
    && useradd --create-home --home-dir /home/app --uid 1000 app \
    && mkdir -p /home/app/.cache/robust-canvas && chown -R app:app /home/app

USER app
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=4)"
ENTRYPOINT ["robust-canvas", "serve", "--host", "0.0.0.0", "--port", "8000"]
CMD []
