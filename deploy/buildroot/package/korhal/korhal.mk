################################################################################
#
# korhal
#
################################################################################

KORHAL_VERSION = 0.1.0
KORHAL_SITE = https://github.com/korhalio/korhal/releases/download/v$(KORHAL_VERSION)
KORHAL_LICENSE = Apache-2.0
KORHAL_LICENSE_FILES = LICENSE
KORHAL_DEPENDENCIES = \
	host-pkgconf \
	host-protobuf-c \
	json-c \
	libevent \
	libseccomp \
	libsodium \
	lmdb \
	protobuf-c \
	zstd
# Only the device programs (no ring node, no vendor CLI), no tests, and no
# test-only modes; cmake-package sets the build type and install prefix.
KORHAL_CONF_OPTS = \
	-DCR_DEVICE_ONLY=ON \
	-DCR_TESTS=OFF \
	-DCR_TEST_MODES=OFF \
	-DCR_WERROR=OFF

ifeq ($(BR2_PACKAGE_KORHAL_TLS),y)
KORHAL_DEPENDENCIES += openssl
KORHAL_CONF_OPTS += -DCR_DEVICE_TLS=ON -DCR_TLS_BACKEND=openssl
else
KORHAL_CONF_OPTS += -DCR_DEVICE_TLS=OFF
endif

ifeq ($(BR2_PACKAGE_KORHAL_BOLTER),y)
KORHAL_CONF_OPTS += -DCR_BOLTER=ON
else
KORHAL_CONF_OPTS += -DCR_BOLTER=OFF
endif

define KORHAL_INSTALL_CONF
	$(INSTALL) -D -m 0600 $(@D)/deploy/systemd/agent.conf.example \
		$(TARGET_DIR)/etc/carrier/agent.conf
endef
KORHAL_POST_INSTALL_TARGET_HOOKS += KORHAL_INSTALL_CONF

define KORHAL_INSTALL_INIT_SYSV
	$(INSTALL) -D -m 0755 $(KORHAL_PKGDIR)/S50carrier-agent \
		$(TARGET_DIR)/etc/init.d/S50carrier-agent
endef

define KORHAL_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(KORHAL_PKGDIR)/carrier-agent.service \
		$(TARGET_DIR)/usr/lib/systemd/system/carrier-agent.service
endef

$(eval $(cmake-package))
