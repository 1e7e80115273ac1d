#!/usr/bin/env bash
# Installs the tools `provisioner` and its tests need, each only when it is
# missing, with `pip install --user` (into ~/.local/bin: no root, no
# virtualenv). Safe to run again: a present tool is left as it is.
#
#   cargo-lambda  builds the Lambda functions (`provisioner synth`)
#   ziglang       the linker cargo-lambda uses to target Lambda's glibc 2.34
#   checkov       policy checks of the synthesised templates (tests)
#
# Versions are pinned: the Lambda zips' sha256 (their S3 keys) depend on the
# linker, so every machine should link with the same zig.
set -euo pipefail

CARGO_LAMBDA_VERSION="1.9.2"
ZIGLANG_VERSION="0.14.1"
CHECKOV_VERSION="3.3.30"

user_bin="$(python3 -m site --user-base)/bin"
export PATH="$user_bin:$PATH"

# `pip install --user` fails inside a virtualenv; there, install into it.
pip_install() {
    if python3 -c 'import sys; sys.exit(0 if sys.prefix != sys.base_prefix else 1)'; then
        python3 -m pip install --quiet --disable-pip-version-check "$@"
    else
        python3 -m pip install --quiet --disable-pip-version-check --user "$@"
    fi
}

installed_version() { # <pip package>
    python3 -m pip show "$1" 2>/dev/null | sed -n 's/^Version: //p'
}

ensure() { # <pip package> <version> <check command...>
    local package="$1" version="$2"
    shift 2
    if "$@" >/dev/null 2>&1; then
        echo "install-tools: $package present ($(installed_version "$package" || true))"
        return
    fi
    echo "install-tools: installing $package==$version (pip --user)"
    pip_install "$package==$version"
    if ! "$@" >/dev/null 2>&1; then
        echo "install-tools: $package installed but \`$*\` still fails; is $user_bin on PATH?" >&2
        exit 1
    fi
}

ensure cargo-lambda "$CARGO_LAMBDA_VERSION" cargo-lambda lambda --version
# cargo-lambda (through cargo-zigbuild) finds zig on PATH or as the
# `ziglang` Python module.
ensure ziglang "$ZIGLANG_VERSION" python3 -m ziglang version
ensure checkov "$CHECKOV_VERSION" checkov --version

echo "install-tools: done; tools are in $user_bin (add it to PATH)"
