# slostream, built from this repository.
FROM rust:1.85-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY config config
COPY benches benches
RUN cargo build --release --locked --bin slostream

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/slostream /usr/local/bin/slostream
COPY config /etc/slostream
RUN mkdir -p /var/lib/slostream && chown nobody:nogroup /var/lib/slostream
VOLUME /var/lib/slostream
USER nobody
EXPOSE 9464
ENTRYPOINT ["slostream"]
CMD ["run", "--config", "/etc/slostream/docker.yaml"]
