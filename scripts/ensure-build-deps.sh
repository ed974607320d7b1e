#!/usr/bin/env bash
# Installs the Debian packages the build needs beyond Rust: OpenSSL's headers and pkg-config,
# for the console's WebAuthn relying party (webauthn-rs); MIT Kerberos' headers and libclang,
# for the directory's Kerberos bind (ldap3's `gssapi`: libgssapi-sys generates its bindings
# with bindgen, which loads libclang). Idempotent; needs root.
set -euo pipefail
missing=()
for pkg in pkg-config libssl-dev libkrb5-dev libclang-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi
