#!/usr/bin/env bash
# Provisions the offline Bazel environment: a Debian sid root filesystem holding Debian's
# packaged Bazel 7 stack (bazel-bootstrap, rules_rust, rules_proto, ...), protoc, a C toolchain,
# PostgreSQL, SecantusDB (MongoDB-compatible test server), Chromium and chromedriver (browser
# tests) and cargo-bazel built from the rules_rust source that Debian ships.
#
# Idempotent: each step leaves a stamp and is skipped when its stamp matches. Safe to run
# concurrently (a lock serialises runs). Needs root (mmdebstrap, chroot, mount).
#
# Usage: provision.sh ROOT_DIR
set -euo pipefail

root=${1:?usage: provision.sh ROOT_DIR}
mirror=${BAZEL_OFFLINE_MIRROR:-http://deb.debian.org/debian}
suite=${BAZEL_OFFLINE_SUITE:-sid}
secantus_version=0.7.0b3

# Packages of the sid root. Changing this list re-runs the apt step on the existing root.
packages=(
  bazel-bootstrap bazel-rules-rust bazel-rules-proto bazel-skylib bazel-platforms
  bazel-rules-cc bazel-features bazel-rules-java bazel-rules-license
  protobuf-compiler libprotobuf-dev build-essential pkg-config
  postgresql
  chromium chromium-driver
  python3.13 python3.13-venv
  python3-grpcio python3-protobuf protobuf-compiler-grpc
  ca-certificates ca-certificates-java
  cargo rustc
  git curl procps tzdata
)

log() { printf '[bazel-offline] %s\n' "$*" >&2; }
stamp_ok() { [ -f "$root/.stamps/$1" ] && [ "$(cat "$root/.stamps/$1")" = "$2" ]; }
stamp_set() { mkdir -p "$root/.stamps"; printf '%s' "$2" >"$root/.stamps/$1"; changed=1; }
changed=0

if [ "$(id -u)" != 0 ]; then
  log "provisioning needs root (mmdebstrap, chroot, mounts)"; exit 1
fi

# Runs a command inside the root, in a private mount namespace (no mount outlives it).
in_root() {
  cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
  unshare --mount --propagation private -- /bin/sh -euc '
    r=$1; shift
    mount -t proc proc "$r/proc"
    mount --rbind /sys "$r/sys"
    mount --rbind /dev "$r/dev"
    exec chroot "$r" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
  ' sh "$root" "$@"
}

# 1. Host tools.
if ! command -v mmdebstrap >/dev/null 2>&1; then
  log "installing mmdebstrap on the host"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq mmdebstrap >/dev/null
fi

# 2. The sid root itself.
if [ ! -x "$root/usr/bin/bazel" ] || ! stamp_ok base "$suite"; then
  if [ -e "$root" ]; then
    # Never delete a root that something still has mounted (the workspace would go with it).
    if grep -q " $root/" /proc/self/mountinfo; then
      log "refusing to rebuild $root: something is mounted inside it"; exit 1
    fi
    log "removing incomplete root $root"
    rm -rf --one-file-system "$root"
  fi
  log "building a Debian $suite root in $root (about 700 MB download, a few minutes)"
  tmp="$root.tmp.$$"
  rm -rf --one-file-system "$tmp"
  mkdir -p "$(dirname "$root")"
  mmdebstrap --variant=apt --mode=root \
    --aptopt='Acquire::Check-Valid-Until "false"' \
    --aptopt='APT::Install-Recommends "false"' \
    --aptopt='Acquire::Retries "5"' \
    --include="$(IFS=,; echo "${packages[*]}")" \
    --customize-hook='mkdir -p "$1/usr/local/share/ca-certificates"' \
    --customize-hook='cp -L /usr/local/share/ca-certificates/*.crt "$1/usr/local/share/ca-certificates/" 2>/dev/null || true' \
    --customize-hook='chroot "$1" update-ca-certificates --fresh >/dev/null' \
    "$suite" "$tmp" "$mirror"
  mv "$tmp" "$root"
  stamp_set base "$suite"
  stamp_set packages "${packages[*]}"
fi

# 3. Keep the package list in step with this script; refresh CA certificates from the host.
if ! stamp_ok packages "${packages[*]}"; then
  log "updating packages in $root"
  in_root /bin/sh -c 'apt-get -o Acquire::Check-Valid-Until=false update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null' sh "${packages[@]}"
  stamp_set packages "${packages[*]}"
fi
certs=$(cat /usr/local/share/ca-certificates/*.crt 2>/dev/null | sha256sum | cut -c1-16)
if ! stamp_ok certs "$certs"; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp -L /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
  in_root update-ca-certificates --fresh >/dev/null
  stamp_set certs "$certs"
fi
# Apt in the root must keep accepting sid's (often expired) Release file.
echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/99no-check-valid-until"
# The processes that run as the unprivileged `postgres` user (throwaway test databases) must be
# able to reach folders below /root, where Bazel's output root is mounted.
chmod 0755 "$root/root"

# 4. SecantusDB, the MongoDB-compatible test server, as `secantusd-py` on PATH. Its wheels stop
#    at CPython 3.13 (sid's default python3 is newer, and the sdist needs a long WiredTiger build).
if ! stamp_ok secantus "$secantus_version" || [ ! -x "$root/opt/secantus/bin/secantusd-py" ]; then
  log "installing SecantusDB $secantus_version"
  in_root /bin/sh -euc '
    rm -rf /opt/secantus
    python3.13 -m venv /opt/secantus
    /opt/secantus/bin/pip install -q --disable-pip-version-check --only-binary=:all: "SecantusDB==$1"
    ln -sf /opt/secantus/bin/secantusd-py /usr/local/bin/secantusd-py
  ' sh "$secantus_version"
  stamp_set secantus "$secantus_version"
fi

# 5. cargo-bazel (crate_universe's resolver) from the rules_rust source Debian ships; the
#    release binary would come from GitHub, which is unreachable. Its manifest parser
#    (cargo_toml 0.20.5) predates `resolver = "3"`: a one-line patch reads "3" as "2" (resolver 3
#    only changes how Cargo picks versions for a new Cargo.lock; cargo-bazel follows the lock).
cargo_bazel_key="$(cat "$root/usr/share/bazel/rules/rust/version.bzl" 2>/dev/null | sha256sum | cut -c1-16)-resolver3"
if ! stamp_ok cargo-bazel "$cargo_bazel_key" || [ ! -x "$root/opt/cargo-bazel/bin/cargo-bazel" ]; then
  log "building cargo-bazel from /usr/share/bazel/rules/rust/crate_universe (about 3-6 minutes)"
  in_root /bin/sh -euc '
    src=/var/tmp/cargo-bazel-src
    rm -rf "$src"
    cp -a /usr/share/bazel/rules/rust/crate_universe "$src"
    cd "$src"
    cargo fetch --locked --quiet
    ct=$(ls -d /root/.cargo/registry/src/*/cargo_toml-0.20.5 | head -n 1)
    mkdir -p patches
    cp -a "$ct" patches/cargo_toml
    perl -0pi -e "s/#\[serde\(rename = \"2\"\)\]\n(\s*)V2 = 2,/#[serde(rename = \"2\", alias = \"3\")]\n\1V2 = 2,/" patches/cargo_toml/src/cargo_toml.rs
    grep -q "alias = \"3\"" patches/cargo_toml/src/cargo_toml.rs
    printf "\n[patch.crates-io]\ncargo_toml = { path = \"patches/cargo_toml\" }\n" >>Cargo.toml
    cargo build --release --quiet --bin cargo-bazel
    mkdir -p /opt/cargo-bazel/bin
    cp target/release/cargo-bazel /opt/cargo-bazel/bin/cargo-bazel.new
    mv /opt/cargo-bazel/bin/cargo-bazel.new /opt/cargo-bazel/bin/cargo-bazel
    cd /; rm -rf "$src"
  '
  stamp_set cargo-bazel "$cargo_bazel_key"
fi

# 6. cargo >= 1.85 renamed its crates.io index cache folder; cargo-bazel still looks for the old
#    name. Point the old name at the new one.
idx="$root/root/.cargo/registry/index"
mkdir -p "$idx/index.crates.io-1949cf8c6b5b557f"
if [ ! -e "$idx/index.crates.io-6f17d22bba15001f" ]; then
  ln -s index.crates.io-1949cf8c6b5b557f "$idx/index.crates.io-6f17d22bba15001f"
fi

[ "$changed" = 1 ] && log "environment ready in $root"
exit 0
