# syntax=docker/dockerfile:1
# One image with both siteward binaries; docker-compose.yml picks one with `entrypoint`.
#   docker build -t siteward .
#   docker run --rm siteward --version
#   docker run --rm --entrypoint siteward-receiver siteward --version

FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
# Pure Go (the SQLite driver is modernc.org/sqlite), so a static binary runs on distroless.
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/prometheus/common/version.Version=${VERSION} -X github.com/prometheus/common/version.Revision=${REVISION}" \
      -o /out/ ./cmd/siteward-exporter ./cmd/siteward-receiver \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/siteward-exporter /out/siteward-receiver /usr/local/bin/
# The receiver's SQLite database lives here; owned by the image's user so that a fresh named
# volume mounted on /data is writable.
COPY --from=build --chown=65532:65532 /out/data /data
USER nonroot
WORKDIR /data
EXPOSE 9115 9096
ENTRYPOINT ["/usr/local/bin/siteward-exporter"]
CMD ["--config.file=/etc/siteward/exporter.yml"]
