# Images for the trainer CronJob and the inference Deployment.
#
#   docker build --target trainer   -t ghcr.io/<you>/mlops-lab-trainer:0.1.0 .
#   docker build --target inference -t ghcr.io/<you>/mlops-lab-inference:0.1.0 .
#
# Both run as the numeric non-root UID 65532 (distroless "nonroot") and need nothing writable
# but the model volume, so the Pods set readOnlyRootFilesystem: true. distroless/cc carries
# only glibc, libgcc and CA certificates: no shell, no package manager.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p trainer -p inference \
 && mkdir /out && cp target/release/trainer target/release/inference /out/

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
