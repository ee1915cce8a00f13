# The production worker (which is also the gateway: DSR_ROLE), the starter
# CLI, and the demo SaaS the compose file's example company uses. The
# embedded Temporal server of dev mode is not in this image: ./dev is not
# built.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /out/ ./worker ./starter ./dev/mailwave \
 && mkdir -p /state/var/lib/dsr/exports /state/var/lib/mailwave

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/worker /out/starter /out/mailwave /usr/local/bin/
# Owned by the image's user, so that a new named volume mounted there is
# too (Docker copies the ownership into it).
COPY --from=build --chown=65532:65532 /state/var/lib /var/lib
ENTRYPOINT ["/usr/local/bin/worker"]
