#!/usr/bin/env bash
# Build the real Kubernetes control plane the realkube tests run against, from Go modules at
# pinned releases, into a cache outside the repository (built once per machine, never committed):
#   kube-apiserver, kube-controller-manager,
#   kube-scheduler, kubectl                            (k8s.io/kubernetes)
#   etcd                                               (go.etcd.io/etcd/server/v3)
#   kwok                                               (sigs.k8s.io/kwok: simulated Nodes and Pods)
#   helm                                               (helm.sh/helm/v4: lints and renders the chart)
#   metallb-controller (only with --with-metallb)      (go.universe.tf/metallb: the benchmark's peer)
# Usage: tests/kube-real/build.sh [--print-dir | --with-metallb]
# The cache is $LBTUI_K8S_CACHE (default ~/.cache/lbtui-k8s)/<KUBERNETES_VERSION>/bin; a binary
# already there is not built again. Each build runs in a throwaway module under $WORK.
set -euo pipefail

KUBERNETES_VERSION=v1.37.2    # its go.mod says go 1.26.0: this machine's Go builds it
STAGING_VERSION=v0.37.2       # the staging modules (k8s.io/api, ...) of that release
ETCD_VERSION=v3.7.3
KWOK_VERSION=v0.8.0
HELM_VERSION=v4.3.2
METALLB_VERSION=v0.15.2       # for tests/bench/kube_real.py only: v0.16.2 needs frr-k8s v0.0.27,
                              # which the module proxy refuses ("not available")
FRR_K8S_VERSION=v0.0.21       # v0.15.2 asks for v0.0.20 (not served); the next one served

CACHE_ROOT=${LBTUI_K8S_CACHE:-$HOME/.cache/lbtui-k8s}
BIN=$CACHE_ROOT/$KUBERNETES_VERSION/bin
if [[ ${1:-} == --print-dir ]]; then echo "$BIN"; exit 0; fi

command -v go >/dev/null || { echo "build.sh: no 'go' on PATH; the realkube tests need the Go toolchain" >&2; exit 2; }
mkdir -p "$BIN"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lbtui-k8s-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN=local

say() { printf '%s build.sh: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

missing() { for name in "$@"; do [[ -x $BIN/$name ]] || return 0; done; return 1; }

# A throwaway module that requires $1 and replaces the modules given as "path version" lines on stdin.
throwaway() {
    local dir=$WORK/$2 module=$1
    mkdir -p "$dir"
    (cd "$dir" && go mod init "lbtui.local/build-$2" >/dev/null 2>&1)
    while read -r path version; do
        [[ -n $path ]] && (cd "$dir" && go mod edit -replace "$path=$path@$version")
    done
    (cd "$dir" && go mod edit -require "$module")
    echo "$dir"
}

build_kubernetes() {
    missing kube-apiserver kube-controller-manager kube-scheduler kubectl || return 0
    say "kubernetes $KUBERNETES_VERSION (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl)"
    local gomod staging dir
    gomod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    # Every staging module the release's go.mod replaces with ./staging/src/... is pinned instead
    # to the same release on the proxy.
    staging=$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod")
    dir=$(for m in $staging; do echo "$m $STAGING_VERSION"; done | throwaway "k8s.io/kubernetes@$KUBERNETES_VERSION" kubernetes)
    # The version the binaries report (what `make` stamps in a release build).
    local minor=${KUBERNETES_VERSION#v1.}
    minor=${minor%%.*}
    local stamp="-s"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        stamp+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
        stamp+=" -X $pkg.gitTreeState=clean"
    done
    (cd "$dir" && go build -trimpath -ldflags="$stamp" -o "$BIN/" \
        k8s.io/kubernetes/cmd/kube-apiserver \
        k8s.io/kubernetes/cmd/kube-controller-manager \
        k8s.io/kubernetes/cmd/kube-scheduler \
        k8s.io/kubernetes/cmd/kubectl)
}

build_etcd() {
    missing etcd || return 0
    say "etcd $ETCD_VERSION"
    local dir v=${ETCD_VERSION}
    # etcd's server module replaces its sibling modules with ../ paths; pin them to the release.
    dir=$(printf '%s\n' "go.etcd.io/etcd/api/v3 $v" "go.etcd.io/etcd/client/pkg/v3 $v" \
        "go.etcd.io/etcd/client/v3 $v" "go.etcd.io/etcd/pkg/v3 $v" \
        | throwaway "go.etcd.io/etcd/server/v3@$v" etcd)
    (cd "$dir" && go build -trimpath -ldflags=-s -o "$BIN/etcd" go.etcd.io/etcd/server/v3)
}

build_kwok() {
    missing kwok || return 0
    say "kwok $KWOK_VERSION"
    local dir
    dir=$(throwaway "sigs.k8s.io/kwok@$KWOK_VERSION" kwok </dev/null)
    (cd "$dir" && go build -trimpath -ldflags=-s -o "$BIN/kwok" sigs.k8s.io/kwok/cmd/kwok)
}

kwok_stages() {
    # kwok runs no stage it is not given: the "fast" lifecycle of its own module (Nodes Ready
    # with a Lease heartbeat, Pods Running with IPs, deleted Pods gone), one file for -c.
    [[ -s $BIN/kwok-stages.yaml ]] && return 0
    local src
    src=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')/kustomize/stage
    for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
        pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
        echo "---"
        cat "$src/$f"
    done >"$BIN/kwok-stages.yaml.tmp"
    mv "$BIN/kwok-stages.yaml.tmp" "$BIN/kwok-stages.yaml"
}

build_helm() {
    missing helm || return 0
    say "helm $HELM_VERSION"
    local dir
    dir=$(throwaway "helm.sh/helm/v4@$HELM_VERSION" helm </dev/null)
    (cd "$dir" && go build -trimpath -ldflags=-s -o "$BIN/helm" helm.sh/helm/v4/cmd/helm)
}

build_metallb() {
    missing metallb-controller || return 0
    say "metallb $METALLB_VERSION (controller, for the benchmark)"
    local dir
    dir=$(echo "github.com/metallb/frr-k8s $FRR_K8S_VERSION" \
        | throwaway "go.universe.tf/metallb@$METALLB_VERSION" metallb)
    (cd "$dir" && go build -trimpath -ldflags=-s -o "$BIN/metallb-controller" go.universe.tf/metallb/controller)
}

build_etcd
build_kwok
kwok_stages
build_helm
build_kubernetes
if [[ ${1:-} == --with-metallb ]]; then build_metallb; fi
say "ready: $BIN"
ls "$BIN" >&2
