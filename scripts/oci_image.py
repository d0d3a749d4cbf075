#!/usr/bin/env python3
"""Writes an OCI image archive (an OCI image layout in a tar) of kgents-gate without a container
engine: the layout the Containerfile builds (the binary at /usr/local/bin/kgents-gate, user
65532:65532, working directory /home/nonroot, no shell, entrypoint the binary), with glibc, libgcc
and the CA bundle taken from this machine instead of the distroless base image.

Reproducible: every file has mtime 0, owner 0 (the home directory 65532), sorted entries, and the
gzip header carries no time or name, so one binary always gives the same digests.

usage: oci_image.py BINARY OUT.tar REF      e.g. REF=localhost/kgents-gate:0.1.0
"""
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

VERSION_LABEL = "org.opencontainers.image.version"


def shared_libraries(binary):
    """Absolute paths the dynamic loader opens for BINARY (ldd), the interpreter included."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if out.returncode != 0:
        if "not a dynamic executable" in (out.stdout + out.stderr):
            return []
        sys.exit(f"ldd {binary} failed: {out.stderr.strip()}")
    libs = []
    for line in out.stdout.splitlines():
        line = line.strip()
        if "=>" in line:
            path = line.split("=>", 1)[1].strip().split(" ")[0]
        else:
            path = line.split(" ")[0]
        if path.startswith("/"):
            libs.append(path)
    return libs


def add_dir(tar, path, mode=0o755, uid=0):
    info = tarfile.TarInfo(path)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    info.uid = info.gid = uid
    info.mtime = 0
    tar.addfile(info)


def add_bytes(tar, path, data, mode=0o644):
    info = tarfile.TarInfo(path)
    info.size = len(data)
    info.mode = mode
    info.uid = info.gid = 0
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def layer(binary):
    files = {"usr/local/bin/kgents-gate": (open(binary, "rb").read(), 0o755)}
    for lib in shared_libraries(binary):
        # The path the loader asks for, holding the file it resolves to.
        files[lib.lstrip("/")] = (open(os.path.realpath(lib), "rb").read(), 0o755)
    files["etc/passwd"] = (b"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n", 0o644)
    files["etc/group"] = (b"root:x:0:\nnonroot:x:65532:\n", 0o644)
    for bundle in ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"]:
        if os.path.isfile(bundle):
            files["etc/ssl/certs/ca-certificates.crt"] = (open(bundle, "rb").read(), 0o644)
            break
    dirs = set()
    for path in files:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in sorted(dirs | {"tmp", "home", "home/nonroot"}):
            if d == "tmp":
                add_dir(tar, d, 0o1777)
            elif d == "home/nonroot":
                add_dir(tar, d, 0o700, 65532)
            else:
                add_dir(tar, d)
        for path in sorted(files):
            data, mode = files[path]
            add_bytes(tar, path, data, mode)
    diff = raw.getvalue()
    gz = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=gz, mtime=0, compresslevel=6) as z:
        z.write(diff)
    return diff, gz.getvalue()


def blob(obj):
    data = json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()
    return data, "sha256:" + hashlib.sha256(data).hexdigest()


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    binary, out, ref = sys.argv[1:]
    name, _, tag = ref.rpartition(":")
    if not name or "/" in tag:
        sys.exit(f"REF must be NAME:TAG, got {ref!r}")
    diff, gz = layer(binary)
    diff_id = "sha256:" + hashlib.sha256(diff).hexdigest()
    layer_digest = "sha256:" + hashlib.sha256(gz).hexdigest()
    labels = {
        "org.opencontainers.image.title": "kgents-gate",
        "org.opencontainers.image.description": "Production-readiness checker and launch gate for Kubernetes",
        "org.opencontainers.image.licenses": "Apache-2.0",
        VERSION_LABEL: tag,
    }
    config, config_digest = blob({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": "65532:65532",
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"],
            "Entrypoint": ["/usr/local/bin/kgents-gate"],
            "Cmd": ["audit", "--help"],
            "WorkingDir": "/home/nonroot",
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "scripts/oci_image.py"}],
    })
    manifest, manifest_digest = blob({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": len(gz)}],
        "annotations": labels,
    })
    index, _ = blob({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": len(manifest),
            "annotations": {"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": tag},
        }],
    })
    tmp = out + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        add_dir(tar, "blobs")
        add_dir(tar, "blobs/sha256")
        add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add_bytes(tar, "index.json", index)
        for digest, data in sorted([(config_digest, config), (manifest_digest, manifest), (layer_digest, gz)]):
            add_bytes(tar, "blobs/sha256/" + digest.split(":", 1)[1], data)
    os.replace(tmp, out)
    print(f"{out}: {ref} manifest {manifest_digest}, layer {len(gz) // 1024} KiB")


if __name__ == "__main__":
    main()
