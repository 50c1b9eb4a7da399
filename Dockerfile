# The quorumkv server image: the static binary alone, on scratch (no shell,
# no libc, no package manager). Nothing is fetched while building: the
# binary is built on the host first, then copied in. From the repository
# root (`make image` runs both):
#
#   CGO_ENABLED=0 go build -o .build/image/quorumkv ./cmd/quorumkv && mkdir -p .build/image/data
#   docker build -t quorumkv:dev .
#
# The entrypoint is the binary, so the arguments are a quorumkv command:
#   docker run quorumkv:dev server --id n1 --data /data --listen HOST:7101 ...
#   docker run --network NET quorumkv:dev get KEY --endpoints HOST:7101
FROM scratch

# /data is where a node keeps its store: an empty directory owned by the
# unprivileged user the server runs as. A named volume mounted here starts
# as a copy of it (ownership included); Kubernetes sets the owner of a
# persistent volume with the pod's fsGroup instead.
COPY --chown=65532:65532 .build/image/data /data
COPY .build/image/quorumkv /quorumkv

USER 65532:65532
WORKDIR /data
VOLUME /data
# gRPC (clients and peers), gossip (memberlist, TCP and UDP), admin HTTP.
EXPOSE 7101 7201 7201/udp 7301
ENTRYPOINT ["/quorumkv"]
CMD ["--help"]
