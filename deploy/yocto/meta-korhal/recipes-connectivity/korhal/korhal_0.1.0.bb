SUMMARY = "Korhal device agent: Carrier, Archon and Bolter"
DESCRIPTION = "carrier-agent attaches the device to its home nodes in a \
Korhal ring, publishes its signed presence and lets authorized vendors \
reach local TCP ports; archon is the content-addressed store of the \
device's apps and bolter the OCI runtime they run in."
HOMEPAGE = "https://github.com/korhalio/korhal"
SECTION = "net"
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://LICENSE;md5=3b83ef96387f14655fc854ddc3c6bd57"

SRC_URI = "https://github.com/korhalio/korhal/releases/download/v${PV}/korhal-${PV}.tar.gz \
           file://carrier-agent.init \
           file://carrier-agent.service \
           "
SRC_URI[sha256sum] = "ec30fbbed73cb8b1b7ad1134a29080a5a7822a9c22682e2d69320a407399b85d"

DEPENDS = "libsodium libevent protobuf-c protobuf-c-native lmdb zstd json-c libseccomp"

inherit cmake pkgconfig systemd update-rc.d

# Only the device programs (no ring node, no vendor CLI), no tests, no
# test-only modes.
EXTRA_OECMAKE = "-DCR_DEVICE_ONLY=ON -DCR_TESTS=OFF -DCR_TEST_MODES=OFF -DCR_WERROR=OFF"

PACKAGECONFIG ??= "tls bolter"
PACKAGECONFIG[tls] = "-DCR_DEVICE_TLS=ON -DCR_TLS_BACKEND=openssl,-DCR_DEVICE_TLS=OFF,openssl"
PACKAGECONFIG[bolter] = "-DCR_BOLTER=ON,-DCR_BOLTER=OFF"

do_install:append() {
	install -d ${D}${sysconfdir}/carrier
	install -m 0600 ${S}/deploy/systemd/agent.conf.example ${D}${sysconfdir}/carrier/agent.conf
	# The project's own unit (cmake --install) is replaced by the layer's.
	rm -rf ${D}${prefix}/lib/systemd
	if ${@bb.utils.contains('DISTRO_FEATURES', 'systemd', 'true', 'false', d)}; then
		install -d ${D}${systemd_system_unitdir}
		install -m 0644 ${UNPACKDIR}/carrier-agent.service ${D}${systemd_system_unitdir}/
		sed -i -e 's,/usr/bin/,${bindir}/,g' ${D}${systemd_system_unitdir}/carrier-agent.service
	fi
	if ${@bb.utils.contains('DISTRO_FEATURES', 'sysvinit', 'true', 'false', d)}; then
		install -d ${D}${sysconfdir}/init.d
		install -m 0755 ${UNPACKDIR}/carrier-agent.init ${D}${sysconfdir}/init.d/carrier-agent
		sed -i -e 's,/usr/bin/,${bindir}/,g' ${D}${sysconfdir}/init.d/carrier-agent
	fi
}

SYSTEMD_SERVICE:${PN} = "carrier-agent.service"
INITSCRIPT_NAME = "carrier-agent"
INITSCRIPT_PARAMS = "defaults 30"

CONFFILES:${PN} = "${sysconfdir}/carrier/agent.conf"
FILES:${PN} += "${datadir}/bash-completion"
