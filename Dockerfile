# Gantry: the kernel, every plugin of this repository, tesseract (OCR) and the GDCM codecs.
#   docker build -t gantry .
#   docker run --rm -v "$PWD:/data" gantry deidentify /data/incoming /data/research
# The working stores (original headers: PHI) and the project secret live under /data/.gantry
# and /data/.config: keep that volume private, or set GANTRY_HOME / GANTRY_SECRET_FILE.
FROM python:3.11-slim-bookworm

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# make runs the project's own install steps (Makefile: runtime-deps, install-runtime)
# hadolint ignore=DL3008
RUN apt-get update && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/gantry-src
COPY . .
RUN make runtime-deps \
    && make install-runtime PYTHON=python3 VENV=/opt/gantry \
    && rm -rf /opt/gantry-src/.venv

RUN groupadd --gid 10001 gantry \
    && useradd --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin gantry \
    && mkdir -p /data \
    && chown 10001:10001 /data \
    && chmod 0700 /data

ENV PATH=/opt/gantry/bin:$PATH \
    GANTRY_HOME=/data/.gantry \
    XDG_CONFIG_HOME=/data/.config

USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
ENTRYPOINT ["gantry"]
CMD ["--help"]
