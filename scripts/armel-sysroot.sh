#!/usr/bin/env bash
# The armel sysroot (kept for its old name): scripts/cross-sysroot.sh armel.
#
#   scripts/armel-sysroot.sh [DIR]     default DIR: <repo>/.sysroot-armel
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/cross-sysroot.sh" armel "$@"
