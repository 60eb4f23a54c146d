#!/bin/bash
# Builds a real kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kubeadm (v1.20.2)
# from Debian's `kubernetes` source package with Debian's Go, and caches them. Prints the folder that holds the binaries.
# About 5-6 minutes and 1.5 GB of memory the first time on 2 cores (the two leader-elected components
# ~5 more); instant once cached.
# (A copy of the team's shared/tools/kube-apiserver.sh, so that a clean clone can build it in CI.)
# Usage: scripts/kube-apiserver.sh   (root; uses apt-get)   KUBEHA_K8S_CACHE overrides the cache folder.
set -euo pipefail
CACHE=${KUBEHA_K8S_CACHE:-/var/cache/kubeha-k8s}
BIN=$CACHE/bin
COMPONENTS="kube-apiserver kube-controller-manager kube-scheduler kubectl kubeadm"
# Binaries built before the reflect2 fix (below) crash on JSON with maps: built again.
FIXED=$BIN/.reflect2-1.0.2
[ -e "$FIXED" ] || rm -f "$BIN"/kube-*  "$BIN"/kubectl "$BIN"/kubeadm 2>/dev/null || true
have_all=1; for c in $COMPONENTS; do [ -x "$BIN/$c" ] || have_all=0; done
if [ $have_all = 1 ]; then echo "$BIN"; exit 0; fi
mkdir -p "$CACHE/apt/sources.list.d" "$CACHE/apt/lists/partial" "$CACHE/apt/cache/archives/partial" "$CACHE/src" "$BIN"

# Source entries: this machine's own Debian entries, turned into deb-src.
rm -f "$CACHE/apt/sources.list.d/"*
for f in /etc/apt/sources.list.d/*.sources; do
  grep -q '^Suites:.*bookworm' "$f" || continue
  sed 's/^Types: deb$/Types: deb-src/' "$f" > "$CACHE/apt/sources.list.d/$(basename "$f")"
done
O=(-o Dir::Etc::sourcelist=/dev/null -o "Dir::Etc::sourceparts=$CACHE/apt/sources.list.d"
   -o "Dir::State::Lists=$CACHE/apt/lists" -o "Dir::Cache=$CACHE/apt/cache")
apt-get "${O[@]}" update -qq >&2
(cd "$CACHE/src" && apt-get "${O[@]}" source --download-only -qq kubernetes >&2)
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go make rsync jq golang-github-modern-go-reflect2-dev >&2

# Unpack the upstream tree and generate the code the tarball leaves out.
TREE=$(tar tzf "$CACHE"/src/kubernetes_*.orig.tar.gz | sed -n 1p | cut -d/ -f1)
[ -d "$CACHE/src/$TREE" ] || tar xzf "$CACHE"/src/kubernetes_*.orig.tar.gz -C "$CACHE/src"
export GOCACHE=$CACHE/gocache GOPROXY=off CGO_ENABLED=0
(cd "$CACHE/src/$TREE" && make generated_files >&2)
# The vendored modern-go/reflect2 v1.0.1 predates Go 1.18's map iterator: built with Debian's Go
# 1.19, the apiserver segfaults (reflect2 UnsafeMapType.UnsafeIterate, from json-iterator) on the
# first JSON answer with a non-empty map, such as the labels of the `kubernetes` EndpointSlice.
# Debian's reflect2 1.0.2 has the fix and the same API.
R2=$CACHE/src/$TREE/vendor/github.com/modern-go/reflect2
rm -rf "$R2" && cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$R2"

# Kubernetes 1.20 builds in GOPATH mode (its hack/lib/init.sh sets GO111MODULE=off).
GP=$CACHE/gopath; mkdir -p "$GP/src/k8s.io"
[ -L "$GP/src/k8s.io/kubernetes" ] || ln -s "$CACHE/src/$TREE" "$GP/src/k8s.io/kubernetes"
cd "$GP/src/k8s.io/kubernetes"
LDF="-s -w"
for p in k8s.io/kubernetes/vendor/k8s.io/component-base/version k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
  LDF="$LDF -X $p.gitVersion=v1.20.2 -X $p.gitMajor=1 -X $p.gitMinor=20 -X $p.gitTreeState=archive"
done
# One go build for every missing component: the packages they share are compiled once and one
# binary links while the next compiles; into a scratch folder, then moved into place.
MISSING=(); for c in $COMPONENTS; do [ -x "$BIN/$c" ] || MISSING+=("./cmd/$c"); done
OUT=$BIN/.building; rm -rf "$OUT"; mkdir -p "$OUT"
GO111MODULE=off GOPATH=$GP go build -ldflags "$LDF" -o "$OUT/" "${MISSING[@]}" >&2
for p in "${MISSING[@]}"; do mv "$OUT/${p#./cmd/}" "$BIN/"; done
rm -rf "$OUT"
rm -rf "$CACHE/gocache"
touch "$FIXED"
echo "$BIN"
