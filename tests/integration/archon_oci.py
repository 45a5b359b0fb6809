#!/usr/bin/env python3
"""Builds test images for the Archon integration tests.

  archon_oci.py layout DIR LAYER.tar[.gz|.zst]...   OCI image layout (tag "latest")
  archon_oci.py tar OUT.tar SPEC...                 a layer; SPEC is
      f:PATH:TEXT  F:PATH:HOSTFILE  d:PATH  l:PATH:TARGET  h:PATH:TARGET  c:PATH:MAJOR:MINOR
      w:PATH (a whiteout of PATH)  o:DIR (opaque DIR)
  archon_oci.py docker OUT.tar LAYER.tar...          docker-archive
  archon_oci.py multi DIR AMD64.tar ARM64.tar        OCI layout whose "latest" is an
                                                    image index of two platforms
"""
import hashlib, io, json, os, sys, tarfile


def add(t, name, typ, data=b"", target="", major=0, minor=0, mode=0o644):
    ti = tarfile.TarInfo(name)
    ti.type = typ
    ti.mode = mode
    ti.mtime = 1700000000
    ti.linkname = target
    ti.devmajor, ti.devminor = major, minor
    ti.size = len(data) if typ == tarfile.REGTYPE else 0
    t.addfile(ti, io.BytesIO(data) if typ == tarfile.REGTYPE else None)


def make_tar(out, specs):
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
        for s in specs:
            kind, rest = s.split(":", 1)
            if kind == "f":
                p, text = rest.split(":", 1)
                add(t, p, tarfile.REGTYPE, text.encode(), mode=0o755 if "bin/" in p else 0o644)
            elif kind == "F":
                p, src = rest.split(":", 1)
                add(t, p, tarfile.REGTYPE, open(src, "rb").read(), mode=0o755)
            elif kind == "d":
                add(t, rest, tarfile.DIRTYPE, mode=0o755)
            elif kind == "l":
                p, target = rest.split(":", 1)
                add(t, p, tarfile.SYMTYPE, target=target, mode=0o777)
            elif kind == "h":
                p, target = rest.split(":", 1)
                add(t, p, tarfile.LNKTYPE, target=target)
            elif kind == "c":
                p, ma, mi = rest.split(":")
                add(t, p, tarfile.CHRTYPE, major=int(ma), minor=int(mi), mode=0o666)
            elif kind == "w":
                d, b = os.path.split(rest)
                add(t, os.path.join(d, ".wh." + b), tarfile.REGTYPE)
            elif kind == "o":
                add(t, os.path.join(rest, ".wh..wh..opq"), tarfile.REGTYPE)


def blob(dir, data):
    h = hashlib.sha256(data).hexdigest()
    os.makedirs(os.path.join(dir, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(dir, "blobs", "sha256", h), "wb") as f:
        f.write(data)
    return "sha256:" + h, len(data)


def media(path):
    if path.endswith(".gz"):
        return "application/vnd.oci.image.layer.v1.tar+gzip"
    if path.endswith(".zst"):
        return "application/vnd.oci.image.layer.v1.tar+zstd"
    return "application/vnd.oci.image.layer.v1.tar"


def image(dir, layers, arch="amd64"):
    config = json.dumps({"architecture": arch, "os": "linux",
                         "config": {"Cmd": ["/bin/app"], "Env": ["A=1"]},
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    cd, cs = blob(dir, config)
    ls = []
    for l in layers:
        d, s = blob(dir, open(l, "rb").read())
        ls.append({"mediaType": media(l), "digest": d, "size": s})
    man = json.dumps({"schemaVersion": 2,
                      "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                 "digest": cd, "size": cs},
                      "layers": ls}).encode()
    md, ms = blob(dir, man)
    return {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
            "size": ms, "platform": {"architecture": arch, "os": "linux"}}


def write_index(dir, desc):
    desc["annotations"] = {"org.opencontainers.image.ref.name": "latest"}
    with open(os.path.join(dir, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [desc]}, f)
    with open(os.path.join(dir, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')


def layout(dir, layers):
    os.makedirs(dir, exist_ok=True)
    write_index(dir, image(dir, layers))


def multi(dir, layers):
    os.makedirs(dir, exist_ok=True)
    ms = [image(dir, [layers[0]], "amd64"), image(dir, [layers[1]], "arm64")]
    data = json.dumps({"schemaVersion": 2,
                       "mediaType": "application/vnd.oci.image.index.v1+json",
                       "manifests": ms}).encode()
    d, s = blob(dir, data)
    write_index(dir, {"mediaType": "application/vnd.oci.image.index.v1+json",
                      "digest": d, "size": s})


def docker(out, layers):
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["/bin/app"]}}).encode()
    with tarfile.open(out, "w") as t:
        def put(name, data):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        put("cfg.json", config)
        names = []
        for i, l in enumerate(layers):
            names.append("l%d/layer.tar" % i)
            put(names[-1], open(l, "rb").read())
        put("manifest.json", json.dumps([{"Config": "cfg.json", "RepoTags": ["x:y"],
                                          "Layers": names}]).encode())


if __name__ == "__main__":
    cmd, out, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    {"layout": layout, "tar": make_tar, "docker": docker, "multi": multi}[cmd](out, rest)
