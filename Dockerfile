# slostream, built from this repository. Base images are pinned to exact versions: the builder's
# Rust must be at least Cargo.toml's rust-version, and both stages must be the same Debian release
# (the binary links that release's glibc). tests/it/image.rs checks this file without a Docker
# engine: those versions, the files the build copies, the libraries the runtime installs (what
# `ldd` lists for the binary), the user and the state volume.
FROM rust:1.89.0-bookworm AS build
# rdkafka-sys builds librdkafka with its own configure script; these are the headers of the
# libraries it links (OpenSSL for SSL and SASL/SCRAM, zlib).
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY config config
COPY benches benches
RUN cargo build --release --locked --bin slostream

FROM debian:12.11-slim
# libssl3, zlib1g and libgcc-s1: the shared libraries the binary links besides glibc.
# ca-certificates for TLS to Kafka and Alertmanager; curl for the compose healthcheck.
# A fixed numeric user, so Kubernetes' runAsNonRoot can verify it without a passwd lookup.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 zlib1g libgcc-s1 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 slostream \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin slostream \
 && mkdir -p /var/lib/slostream \
 && chown 10001:10001 /var/lib/slostream
COPY --from=build /src/target/release/slostream /usr/local/bin/slostream
COPY config /etc/slostream
# The only directory slostream writes (checkpoints): the root filesystem can be read-only.
VOLUME /var/lib/slostream
USER 10001:10001
EXPOSE 9464
ENTRYPOINT ["slostream"]
CMD ["run", "--config", "/etc/slostream/docker.yaml"]
