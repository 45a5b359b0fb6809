#!/bin/sh
# OpenWrt's package test (openwrt/packages CI runs it in an OpenWrt
# container after installing the package): test.sh PACKAGE VERSION.

# The CI may pass the version with its release (0.1.0-r1).
version=${2%-r[0-9]*}

case "$1" in
korhal)
	carrier-agent --version | grep -Fx "carrier-agent $version" || exit 1
	archon --version | grep -Fx "archon $version" || exit 1
	carrier-agent --help | grep -q -- '--config' || exit 1
	;;
esac
