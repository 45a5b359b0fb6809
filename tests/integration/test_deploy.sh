#!/usr/bin/env bash
# deploy/: the systemd unit (the template deploy/systemd/carrier-node.service.in,
# its paths filled in as cmake --install does) passes `systemd-analyze verify`
# and keeps its hardening; the example node.conf is accepted by `carrier-node --check`;
# the Kubernetes manifests and the Containerfile pass the structural checks
# of tests/tools/check_deploy.py (and `kubectl kustomize` renders them when
# kubectl is installed); and each of those checks fails on a copy of the
# manifests broken on purpose (a missing Secret key, a ConfigMap key, a
# probe port, a volume, a Service port), so the checker can fail.
# The image build itself runs in deploy/container/build-image.sh (minutes,
# needs podman): not here.
. "$(dirname "$0")/lib.sh"
: "${KORHAL_SRC:?run through ctest}"
D=$KORHAL_SRC/deploy

PY=python3
"$PY" -c 'import yaml' 2>/dev/null || PY=/usr/bin/python3
"$PY" -c 'import yaml' 2>/dev/null || fail "python3-yaml is not installed"
check() { "$PY" "$KORHAL_SRC/tests/tools/check_deploy.py" "$1"; }

# ---- systemd -------------------------------------------------------------
unit=$D/systemd/carrier-node.service.in
for want in 'User=carrier' 'NoNewPrivileges=yes' 'ProtectSystem=strict' \
	'PrivateDevices=yes' 'CapabilityBoundingSet=$' 'SystemCallFilter=@system-service' \
	'SystemCallErrorNumber=EPERM' 'StateDirectory=carrier' 'MemoryDenyWriteExecute=yes' \
	'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX$' \
	'ExecStartPre=@CMAKE_INSTALL_FULL_BINDIR@/carrier-node --config /etc/carrier/node.conf --check' \
	'Documentation=man:carrier-node(8) file:@CMAKE_INSTALL_FULL_DOCDIR@/README.md'; do
	grep -q "^$want" "$unit" || fail "carrier-node.service.in lacks $want"
done
if command -v systemd-analyze >/dev/null; then
	# verify checks that ExecStart's binary exists: point it at the build.
	# The man page it names is checked on an install (test_install.sh).
	sed -e "s#@CMAKE_INSTALL_FULL_BINDIR@#$(dirname "$CARRIER_NODE")#g" \
		-e "s#@CMAKE_INSTALL_FULL_DOCDIR@#$KORHAL_SRC#g" "$unit" >"$T/carrier-node.service"
	! grep -n "@CMAKE" "$T/carrier-node.service" || fail "the unit has placeholders left"
	systemd-analyze verify --man=no "$T/carrier-node.service" >"$T/verify.log" 2>&1 ||
		fail "systemd-analyze verify: $(cat "$T/verify.log")"
	ok "carrier-node.service passes systemd-analyze verify"
else
	echo "systemd-analyze missing: unit checked by grep only"
fi

# The example config, with its paths moved here, is a valid configuration.
make_ring 1
sed -e "s#/etc/carrier/node.key#${NODE_KEY[0]}#" -e "s#/etc/carrier/ring#$T/ring#" \
	-e "s#/var/lib/carrier#$T/node0.d#" -e "s#0.0.0.0:7000#${NODE_ADDR[0]}#" \
	-e "s#127.0.0.1:9100#127.0.0.1:$(free_port)#" \
	"$D/systemd/node.conf.example" >"$T/node.conf"
out=$("$CARRIER_NODE" --config "$T/node.conf" --check 2>&1) || fail "node.conf.example: $out"
[ "$out" = "configuration OK" ] || fail "--check said: $out"
ok "node.conf.example passes carrier-node --check"

# ---- Kubernetes and the Containerfile -----------------------------------
out=$(check "$D") || fail "check_deploy: $out"
ok "manifests and Containerfile: $out"

if command -v kubectl >/dev/null; then
	cp -r "$D/kubernetes" "$T/k8s"
	mkdir -p "$T/k8s/keys"
	cp "$T/ring" "$T/k8s/ring"
	for i in 0 1 2; do "$CARRIER" keygen --type node -o "$T/k8s/keys/carrier-node-$i.key" >/dev/null; done
	timeout 60 kubectl kustomize "$T/k8s" >"$T/rendered.yaml" 2>"$T/kustomize.log" ||
		fail "kubectl kustomize: $(cat "$T/kustomize.log")"
	for kind in Namespace ConfigMap Secret Service StatefulSet PodDisruptionBudget; do
		grep -q "^kind: $kind$" "$T/rendered.yaml" || fail "rendered manifests lack a $kind"
	done
	ok "kubectl kustomize renders the manifests"
fi

# Every broken copy must be caught, with the reason named.
broken() { # broken NAME FILE SED-EXPRESSION EXPECTED-MESSAGE
	local dir=$T/broken-$1/deploy
	mkdir -p "$dir"
	cp -r "$D/kubernetes" "$D/container" "$dir/"
	sed -i -e "$3" "$dir/$2"
	cmp -s "$D/$2" "$dir/$2" && fail "$1: the edit changed nothing"
	if out=$(check "$dir"); then fail "$1: the broken copy passed"; fi
	grep -q -- "$4" <<<"$out" || fail "$1: expected '$4', got: $out"
	ok "caught $1: $(head -1 <<<"$out")"
}
broken secret-key kubernetes/kustomization.yaml '/carrier-node-2.key=/d' \
	'pod carrier-node-2 needs key carrier-node-2.key'
broken configmap-key kubernetes/statefulset.yaml 's/- key: node.conf/- key: node.cfg/' \
	'ConfigMap carrier-node-config has no key node.cfg'
broken ring-configmap kubernetes/kustomization.yaml 's/- name: carrier-ring/- name: carrier-rings/' \
	'ConfigMap carrier-ring does not exist'
broken probe-port kubernetes/statefulset.yaml '0,/path: \/metrics, port: metrics/s//path: \/metrics, port: metric/' \
	'port metric is not a container port'
broken volume kubernetes/statefulset.yaml '/^      volumes:/,$ s/- name: run$/- name: runtime/' \
	'mounts volume run that is not defined'
broken service-port kubernetes/service.yaml 's/targetPort: carrier/targetPort: 7001/' \
	'targetPort 7001/UDP is not a container port'
broken conf-port kubernetes/configmap-node.yaml 's/listen = 0.0.0.0:7000/listen = 0.0.0.0:7010/' \
	'listen port 7010/UDP is not a container port'
broken root-user container/Containerfile 's/^USER 10001:10001/USER root/' \
	'does not run as a non-root USER'
broken no-volume container/Containerfile '/^VOLUME/d' 'no VOLUME'
