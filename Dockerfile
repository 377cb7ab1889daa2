# syntax=docker/dockerfile:1
# The marketdata image: a static binary (no embedded store) on distroless, running as non-root.
# GO_VERSION must equal versions.env (a test checks it); `make image` passes it explicitly.
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum Makefile versions.env ./
COPY service/ service/
ARG MARKETDATA_VERSION=dev
# The same make target the image test builds, so tags and flags cannot drift apart. No
# `go mod download`: it would fetch every module of go.mod, the Pulumi and Kubernetes SDKs of
# infra/ included; the build fetches only what the service imports, into a cache kept between builds.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    make image-bin IMAGE_BIN=/out/marketdata MARKETDATA_VERSION="${MARKETDATA_VERSION}"

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/marketdata /marketdata
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/marketdata"]
