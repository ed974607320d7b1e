#!/usr/bin/env bash
# Installs Debian's chromium and chromium-driver for the console's browser tests (headless,
# WebDriver, a virtual WebAuthn authenticator). Idempotent; needs root.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null
fi
