#!/usr/bin/env python3
"""Structural checks of deploy/: the Kubernetes manifests and the
Containerfile.  Catches what `kubectl apply` would only find on a cluster,
or never: a Secret or ConfigMap key a pod reads that nothing provides, a
probe or Service port no container exposes, a volume mount without a
volume, a node.conf path outside every mount, a missing hardening setting.

    check_deploy.py DEPLOY_DIR

Prints one line per problem and exits 1 when there is any, else prints
"deploy OK" and exits 0.
"""
import os
import re
import sys

import yaml

problems = []


def bad(msg):
    problems.append(msg)


def load_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def generator_keys(gen):
    keys = set()
    for f in gen.get("files", []):
        keys.add(f.split("=", 1)[0] if "=" in f else os.path.basename(f))
    for lit in gen.get("literals", []):
        keys.add(lit.split("=", 1)[0])
    return keys


def subset(sel, labels):
    return all(labels.get(k) == v for k, v in (sel or {}).items())


def port_ok(ref, ports):
    if isinstance(ref, int):
        return any(p.get("containerPort") == ref for p in ports)
    return any(p.get("name") == ref for p in ports)


def check_kubernetes(kdir):
    kpath = os.path.join(kdir, "kustomization.yaml")
    if not os.path.exists(kpath):
        bad("%s: missing" % kpath)
        return
    kust = yaml.safe_load(open(kpath, encoding="utf-8"))
    objs = []
    for r in kust.get("resources", []):
        p = os.path.join(kdir, r)
        if not os.path.exists(p):
            bad("kustomization: resource %s does not exist" % r)
            continue
        for d in load_docs(p):
            for field in ("apiVersion", "kind", "metadata"):
                if field not in d:
                    bad("%s: a document has no %s" % (r, field))
            objs.append(d)
    cms, secrets = {}, {}
    for g in kust.get("configMapGenerator", []):
        cms[g["name"]] = generator_keys(g)
    for g in kust.get("secretGenerator", []):
        secrets[g["name"]] = generator_keys(g)
    by_kind = {}
    for o in objs:
        by_kind.setdefault(o.get("kind"), []).append(o)
        if o.get("kind") == "ConfigMap":
            cms[o["metadata"]["name"]] = set(o.get("data", {})) | set(
                o.get("binaryData", {}))
        if o.get("kind") == "Secret":
            secrets[o["metadata"]["name"]] = set(o.get("data", {})) | set(
                o.get("stringData", {}))

    stss = by_kind.get("StatefulSet", [])
    if not stss:
        bad("no StatefulSet")
    for sts in stss:
        check_statefulset(sts, by_kind, cms, secrets)


def check_statefulset(sts, by_kind, cms, secrets):
    name = sts["metadata"]["name"]
    spec = sts["spec"]
    tmpl = spec["template"]
    labels = tmpl["metadata"].get("labels", {})
    pod = tmpl["spec"]
    replicas = spec.get("replicas", 1)
    where = "StatefulSet %s" % name

    if not subset(spec["selector"].get("matchLabels"), labels):
        bad("%s: selector does not match the pod labels" % where)
    svcs = {s["metadata"]["name"]: s for s in by_kind.get("Service", [])}
    svc = svcs.get(spec.get("serviceName"))
    if svc is None:
        bad("%s: serviceName %s names no Service" % (where, spec.get("serviceName")))
    elif svc["spec"].get("clusterIP") != "None":
        bad("Service %s: not headless (clusterIP: None)" % svc["metadata"]["name"])
    pdbs = [p for p in by_kind.get("PodDisruptionBudget", [])
            if subset(p["spec"]["selector"].get("matchLabels"), labels)]
    if not pdbs:
        bad("%s: no PodDisruptionBudget selects its pods" % where)

    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    claims = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])}
    for vname, v in volumes.items():
        if "configMap" in v:
            cm = v["configMap"]["name"]
            if cm not in cms:
                bad("volume %s: ConfigMap %s does not exist" % (vname, cm))
            for it in v["configMap"].get("items", []):
                if it["key"] not in cms.get(cm, set()):
                    bad("volume %s: ConfigMap %s has no key %s" % (vname, cm, it["key"]))
        if "secret" in v:
            sn = v["secret"]["secretName"]
            if sn not in secrets:
                bad("volume %s: Secret %s does not exist" % (vname, sn))
            for it in v["secret"].get("items", []):
                if it["key"] not in secrets.get(sn, set()):
                    bad("volume %s: Secret %s has no key %s" % (vname, sn, it["key"]))

    psc = pod.get("securityContext", {})
    all_ports = []
    containers = pod.get("containers", [])
    for c in pod.get("initContainers", []) + containers:
        cw = "container %s" % c["name"]
        sc = c.get("securityContext", {})
        ports = c.get("ports", [])
        all_ports += [(p, c) for p in ports]
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        for m in c.get("volumeMounts", []):
            if m["name"] not in volumes and m["name"] not in claims:
                bad("%s: mounts volume %s that is not defined" % (cw, m["name"]))
        for e in c.get("env", []):
            vf = e.get("valueFrom", {})
            if "configMapKeyRef" in vf:
                r = vf["configMapKeyRef"]
                if r["key"] not in cms.get(r["name"], set()):
                    bad("%s: env %s: ConfigMap %s has no key %s" % (cw, e["name"], r["name"], r["key"]))
            if "secretKeyRef" in vf:
                r = vf["secretKeyRef"]
                if r["key"] not in secrets.get(r["name"], set()):
                    bad("%s: env %s: Secret %s has no key %s" % (cw, e["name"], r["name"], r["key"]))
        # A per-pod key picked by the pod's name: every ordinal needs one.
        text = " ".join(c.get("command", []) + c.get("args", []))
        for m in re.finditer(r"(/[\w/.-]*)/\$\{?POD_NAME\}?([\w.-]*)", text):
            mdir, suffix = m.group(1), m.group(2)
            vname = mounts.get(mdir)
            v = volumes.get(vname, {})
            if "secret" not in v:
                bad("%s: %s is not a Secret mount" % (cw, mdir))
                continue
            sn = v["secret"]["secretName"]
            for i in range(replicas):
                k = "%s-%d%s" % (name, i, suffix)
                if k not in secrets.get(sn, set()):
                    bad("%s: pod %s-%d needs key %s in Secret %s" % (cw, name, i, k, sn))
        if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
            bad("%s: not runAsNonRoot" % cw)
        if sc.get("allowPrivilegeEscalation") is not False:
            bad("%s: allowPrivilegeEscalation is not false" % cw)
        if sc.get("readOnlyRootFilesystem") is not True:
            bad("%s: readOnlyRootFilesystem is not true" % cw)
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            bad("%s: capabilities not dropped" % cw)
        res = c.get("resources", {})
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in res.get(kind, {}):
                    bad("%s: no %s %s" % (cw, kind, r))
    for c in containers:
        cw = "container %s" % c["name"]
        ports = c.get("ports", [])
        for probe in ("livenessProbe", "readinessProbe"):
            if probe not in c:
                bad("%s: no %s" % (cw, probe))
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            pr = c.get(probe)
            if pr is None:
                continue
            for h in ("httpGet", "tcpSocket", "grpc"):
                if h in pr and not port_ok(pr[h]["port"], ports):
                    bad("%s: %s port %s is not a container port" % (cw, probe, pr[h]["port"]))
        check_node_conf(c, volumes, cms, ports)
    if svc is not None:
        for sp in svc["spec"].get("ports", []):
            tp = sp.get("targetPort", sp["port"])
            proto = sp.get("protocol", "TCP")
            if not any(port_ok(tp, [p]) and p.get("protocol", "TCP") == proto
                       for p, _ in all_ports):
                bad("Service %s: targetPort %s/%s is not a container port" % (svc["metadata"]["name"], tp, proto))


def check_node_conf(c, volumes, cms, ports):
    """node.conf from a ConfigMap: its paths must lie in the container's
    mounts, its listen and metrics ports must be container ports."""
    mounts = c.get("volumeMounts", [])
    conf = None
    for m in mounts:
        v = volumes.get(m["name"], {})
        if "configMap" in v and (m.get("subPath") == "node.conf" or
                                 m["mountPath"].endswith("node.conf")):
            conf = cms_data.get(v["configMap"]["name"], {}).get("node.conf")
    if conf is None:
        return
    kv = {}
    for line in conf.splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            k, v = line.split("=", 1)
            kv[k.strip()] = v.strip()
    for key in ("key", "ring", "data"):
        path = kv.get(key)
        if path is None:
            bad("node.conf: no %s" % key)
            continue
        if not any(path == m["mountPath"] or path.startswith(m["mountPath"].rstrip("/") + "/")
                   for m in mounts):
            bad("node.conf: %s = %s is outside every volume mount of %s" % (key, path, c["name"]))
    for key, proto in (("listen", "UDP"), ("metrics", "TCP")):
        addr = kv.get(key)
        if addr is None:
            continue
        port = int(addr.rsplit(":", 1)[1])
        if not any(p.get("containerPort") == port and p.get("protocol", "TCP") == proto
                   for p in ports):
            bad("node.conf: %s port %d/%s is not a container port" % (key, port, proto))


cms_data = {}


def collect_cm_data(kdir):
    kust = yaml.safe_load(open(os.path.join(kdir, "kustomization.yaml"), encoding="utf-8"))
    for r in kust.get("resources", []):
        p = os.path.join(kdir, r)
        if os.path.exists(p):
            for d in load_docs(p):
                if d.get("kind") == "ConfigMap":
                    cms_data[d["metadata"]["name"]] = d.get("data", {})


def check_containerfile(path, root):
    if not os.path.exists(path):
        bad("%s: missing" % path)
        return
    text = open(path, encoding="utf-8").read()
    lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
    froms = [l for l in lines if l.upper().startswith("FROM ")]
    if len(froms) < 2:
        bad("Containerfile: not multi-stage")
    base = re.search(r"^ARG BASE=(\S+)", text, re.M)
    if base is None or not base.group(1).endswith("debian:12"):
        bad("Containerfile: BASE is not Debian 12")
    user = [l for l in lines if l.upper().startswith("USER ")]
    if not user or user[-1].split()[1].split(":")[0] in ("0", "root"):
        bad("Containerfile: the final stage does not run as a non-root USER")
    if not re.search(r"^VOLUME .*/var/lib/carrier", text, re.M):
        bad("Containerfile: no VOLUME for /var/lib/carrier")
    if not re.search(r"^HEALTHCHECK ", text, re.M):
        bad("Containerfile: no HEALTHCHECK")
    if not re.search(r"^EXPOSE .*7000/udp", text, re.M):
        bad("Containerfile: UDP port 7000 not exposed")
    for m in re.finditer(r"^COPY (?!--from)(\S+)", text, re.M):
        src = m.group(1)
        if src != "." and not os.path.exists(os.path.join(root, src)):
            bad("Containerfile: COPY source %s does not exist" % src)


def main():
    if len(sys.argv) != 2:
        print("usage: check_deploy.py DEPLOY_DIR", file=sys.stderr)
        return 2
    deploy = sys.argv[1]
    root = os.path.dirname(os.path.abspath(deploy.rstrip("/")))
    kdir = os.path.join(deploy, "kubernetes")
    try:
        collect_cm_data(kdir)
        check_kubernetes(kdir)
    except (KeyError, TypeError, ValueError, yaml.YAMLError, OSError) as e:
        bad("kubernetes: cannot read the manifests: %r" % e)
    check_containerfile(os.path.join(deploy, "container", "Containerfile"), root)
    for p in problems:
        print(p)
    if problems:
        return 1
    print("deploy OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
