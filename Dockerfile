# hl7-harness in a container: `docker build -t hl7-harness .`
# Journeys (nightly regression, certification, CI gate, proxy) with `docker run`:
# docs/install.md, "The container image".
#
# Stage 1 builds a static binary for the musl target: one file with no C library to match, so
# the runtime stage needs nothing but a shell. ring (rustls's crypto) compiles C and assembly,
# hence musl-tools (musl-gcc) in the builder.
FROM rust:1-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN set -eu; \
    target="$(uname -m)-unknown-linux-musl"; \
    rustup target add "$target"; \
    CC="musl-gcc" cargo build --release --locked --package hl7-harness --target "$target"; \
    install -D "target/$target/release/hl7-harness" /out/hl7-harness; \
    /out/hl7-harness --version

# Stage 2: Alpine rather than an empty image, because receiver-role scenarios and command
# probes start programs through `sh`. The shipped packs sit in /opt/hl7-harness with the corpus
# they read beside them (the packs name their messages as ../../corpus/...).
FROM alpine:3
RUN addgroup -S -g 10001 hl7 \
    && adduser -S -D -H -u 10001 -G hl7 -h /work hl7 \
    && mkdir -p /work \
    && chown hl7:hl7 /work
COPY --from=build /out/hl7-harness /usr/local/bin/hl7-harness
COPY scenarios /opt/hl7-harness/scenarios
COPY corpus /opt/hl7-harness/corpus
USER 10001:10001
WORKDIR /work
ENTRYPOINT ["hl7-harness"]
CMD ["--help"]
