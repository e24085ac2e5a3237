# pgscale image. Uses the very same steps as CI and developers (deploy/install-deps.sh, then the
# CMake build); nothing here is a step CI does not run, because CI has no Docker engine.
#
#   docker build -t pgscale .
#   docker run -p 6432:6432 -v /path/to/pgscale.yaml:/etc/pgscale/pgscale.yaml:ro pgscale
# In a container the YAML's listen.address must be 0.0.0.0 for the published port to reach pgscale.
# SIGHUP (docker kill -s HUP) reloads the YAML; SIGTERM (docker stop) drains.
FROM debian:bookworm

ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src

# Dependencies first: this layer is reused until install-deps.sh changes.
COPY deploy/install-deps.sh deploy/install-deps.sh
RUN deploy/install-deps.sh && rm -rf /var/lib/apt/lists/*

COPY . .
# A build directory copied from the host would carry the host's CMake cache: build in /build.
RUN cmake -S /src -B /build \
 && cmake --build /build -j"$(nproc)" \
 && install -m 0755 /build/bin/pgscale /usr/local/bin/pgscale \
 && /usr/local/bin/pgscale --version

RUN useradd --system --no-create-home --shell /usr/sbin/nologin pgscale \
 && mkdir -p /etc/pgscale
USER pgscale
EXPOSE 6432
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/pgscale", "--config", "/etc/pgscale/pgscale.yaml"]
