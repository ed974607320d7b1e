#!/usr/bin/env bash
# Installs the Debian packages the build needs beyond Rust: OpenSSL's headers and pkg-config,
# for the console's WebAuthn relying party (webauthn-rs). Idempotent; needs root.
set -euo pipefail
missing=()
for pkg in pkg-config libssl-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi
