# Images for the trainer CronJob and the inference Deployment, for one platform or several:
#
#   docker buildx build --platform linux/amd64,linux/arm64 --target trainer \
#     -t ghcr.io/<you>/mlops-lab-trainer:0.1.0 --push .
#   docker buildx build --platform linux/amd64,linux/arm64 --target inference \
#     -t ghcr.io/<you>/mlops-lab-inference:0.1.0 --push .
#
# The Rust build runs once per target on the build machine's own platform and cross-compiles
# (the Rust target and Debian's cross linker picked by TARGETARCH), instead of emulating a whole
# arm64 build on an amd64 laptop; only the runtime stage is per target platform.
# `cargo lab images` builds the same images without Docker.
#
# Both run as the numeric non-root UID 65532 (distroless "nonroot") and need nothing writable
# but the model volume, so the Pods set readOnlyRootFilesystem: true. distroless/cc carries
# only glibc, libgcc and CA certificates: no shell, no package manager.

FROM --platform=$BUILDPLATFORM rust:1.95-bookworm AS build
ARG TARGETARCH
ARG BUILDARCH
WORKDIR /src
# The target's cross linker and glibc, unless it is the build machine's own architecture.
RUN case "$TARGETARCH" in \
      amd64) gnu=x86_64-linux-gnu ;; \
      arm64) gnu=aarch64-linux-gnu ;; \
      *) echo "unsupported TARGETARCH $TARGETARCH (amd64 and arm64 are)" >&2; exit 1 ;; \
    esac \
 && echo "$gnu" > /target-gnu \
 && if [ "$TARGETARCH" != "$BUILDARCH" ]; then \
      apt-get update \
      && apt-get install -y --no-install-recommends "gcc-$(echo $gnu | tr _ -)" "libc6-dev-$TARGETARCH-cross" \
      && rm -rf /var/lib/apt/lists/*; \
    fi
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,id=target-$TARGETARCH \
    gnu=$(cat /target-gnu) \
 && target=$(echo "$gnu" | sed 's/-linux-gnu$/-unknown-linux-gnu/') \
 && rustup target add "$target" \
 && export "CARGO_TARGET_$(echo "$target" | tr a-z- A-Z_)_LINKER=$gnu-gcc" \
 && cargo build --release --locked -p trainer -p inference --target "$target" \
 && mkdir /out && cp "target/$target/release/trainer" "target/$target/release/inference" /out/

FROM gcr.io/distroless/cc-debian12:nonroot AS trainer
COPY --from=build /out/trainer /usr/local/bin/trainer
USER 65532:65532
ENV MODEL_DIR=/models
ENTRYPOINT ["/usr/local/bin/trainer"]

FROM gcr.io/distroless/cc-debian12:nonroot AS inference
COPY --from=build /out/inference /usr/local/bin/inference
USER 65532:65532
ENV MODEL_DIR=/models LISTEN_ADDR=0.0.0.0:8080 LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/inference"]
