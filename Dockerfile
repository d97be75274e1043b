# Herald container image: a static binary on an empty base (docs/container.md).
#
#   docker build -t herald --build-arg VERSION=$(git describe --always --dirty) .
#   docker run -p 6001:6001 -v herald-data:/data herald
#
# The build stage assembles /rootfs (binary, CA certificates, a passwd and
# group naming the unprivileged user 10001) and an empty /data, which the final
# stage gives to that user so that a new named volume starts writable.
# test/container_test.go lays out the same from a binary compiled on the host
# and builds this file's final stage on it (COPY --from=build /X becomes
# COPY X): keep everything the final stage copies under those two directories.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# As the Makefile's dist target: a static binary without build-machine paths.
# The commit comes from the toolchain's VCS stamp when .git is in the context
# (it is not: .dockerignore), else from these build arguments.
ARG VERSION=dev
ARG COMMIT=
ARG COMMIT_TIME=
ARG TREE_MODIFIED=
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-X main.version=${VERSION} -X main.commit=${COMMIT} -X main.commitTime=${COMMIT_TIME} -X main.treeModified=${TREE_MODIFIED}" \
      -o /rootfs/usr/local/bin/herald ./cmd/herald
RUN mkdir -p /rootfs/etc/ssl/certs /data \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\nherald:x:10001:10001:herald:/data:/sbin/nologin\n' > /rootfs/etc/passwd \
 && printf 'root:x:0:\nherald:x:10001:\n' > /rootfs/etc/group

FROM scratch
COPY --from=build /rootfs/ /
COPY --from=build --chown=10001:10001 /data /data
USER 10001:10001
# Apps, credentials, queues and dashboard history: keep them in a volume.
VOLUME /data
ENV HERALD_DATA_DIR=/data HERALD_HOST=0.0.0.0
# 6001: WebSocket, HTTP API, /ready. 6002: the admin listener (dashboard,
# /metrics) of the default set-up, which listens on 127.0.0.1 only: to reach it
# from outside set HERALD_ADMIN_LISTEN=0.0.0.0:6002 and publish it privately.
EXPOSE 6001 6002
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/herald", "health"]
ENTRYPOINT ["/usr/local/bin/herald"]
CMD ["serve"]
