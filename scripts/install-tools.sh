#!/usr/bin/env bash
# Installs the tools `provisioner` and its tests need, each only when it is
# missing; safe to run again. Prints what it finds and what it does.
#
#   cargo-lambda  builds the Lambda functions (`provisioner synth`)
#   ziglang       the linker cargo-lambda uses to target Lambda's glibc 2.34
#   checkov       policy checks of the synthesised templates (tests)
#   fakecloud     with --fakecloud: the local AWS that runs Lambda code
#                 (scripts/local, the end-to-end test); a test tool only,
#                 AGPL-3.0, run as a separate server process. With
#                 --fakecloud-only, fakecloud alone: scripts/test starts
#                 its build before the other tools install.
#
# cargo-lambda and ziglang have no Python dependencies and go to the user
# site (`pip install --user`, executables in ~/.local/bin). checkov pins
# boto3/botocore versions that would shadow the system's (and break the
# aws CLI and moto), so it gets a virtualenv of its own, linked into
# ~/.local/bin.
#
# Versions are pinned: the Lambda zips' sha256 (their S3 keys) depend on the
# compiler and the linker, so every machine should build with the same ones.
set -euo pipefail

CARGO_LAMBDA_VERSION="1.9.2"
ZIGLANG_VERSION="0.17.1"
CHECKOV_VERSION="3.3.30"
# Keep in step with provisioner/src/local/emulator.rs (FAKECLOUD_VERSION).
FAKECLOUD_VERSION="0.51.0"

user_base="$(python3 -m site --user-base)"
user_bin="$user_base/bin"
tools_dir="$user_base/share/provisioner-tools"
export PATH="$user_bin:$PATH"

say() { echo "install-tools: $*"; }

pip_quiet=(--quiet --disable-pip-version-check --root-user-action=ignore)

# `pip install --user` is refused inside a virtualenv; there, install into it.
pip_install_user() {
    if python3 -c 'import sys; sys.exit(0 if sys.prefix != sys.base_prefix else 1)'; then
        python3 -m pip install "${pip_quiet[@]}" "$@"
    else
        python3 -m pip install "${pip_quiet[@]}" --user "$@"
    fi
}

# Present with another version than the pinned one: keep it (it may be the
# user's own), but say that zips may then hash differently from CI's.
note_version() { # <tool> <found> <pinned>
    if [ "$2" != "$3" ]; then
        say "$1 $2 present (pinned: $3; zips built with it may differ from CI's)"
    else
        say "$1 $2 present"
    fi
}

# fakecloud is built from crates.io into the target folder, where a warm
# run finds it: a debug build without debug info of 0.51.0 took 14 min 52 s
# alone on 2 cores on a slow day (1,500 CPU-seconds, 813 units: its own
# binary 199 s of them, aws-lc-sys 86 s), 7.3 min (715 CPU-seconds) on a
# fast one (2026-12-07); the default release build is far longer.
install_fakecloud() {
    local root fakecloud_root
    root="$(cd "$(dirname "$0")/.." && pwd)"
    fakecloud_root="${CARGO_TARGET_DIR:-$root/target}/tools/fakecloud-$FAKECLOUD_VERSION"
    if [ -x "$fakecloud_root/bin/fakecloud" ]; then
        say "fakecloud $FAKECLOUD_VERSION present ($fakecloud_root)"
    else
        say "installing fakecloud $FAKECLOUD_VERSION into $fakecloud_root (about 15 minutes on 2 cores)"
        CARGO_PROFILE_DEV_DEBUG=0 cargo install fakecloud --version "$FAKECLOUD_VERSION" \
            --locked --debug --quiet --root "$fakecloud_root"
    fi
}

if [ "${1:-}" = "--fakecloud-only" ]; then
    install_fakecloud
    exit 0
fi

install=()
if cargo_lambda_version="$(cargo-lambda lambda --version 2>/dev/null)"; then
    note_version cargo-lambda "$(echo "$cargo_lambda_version" | awk '{print $2}')" "$CARGO_LAMBDA_VERSION"
else
    # With ziglang pinned alongside: cargo-lambda's own ziglang dependency is
    # unpinned and would pull the newest zig.
    install+=("cargo-lambda==$CARGO_LAMBDA_VERSION" "ziglang==$ZIGLANG_VERSION")
fi
# cargo-lambda (through cargo-zigbuild) runs `zig` from PATH, else the
# `ziglang` Python module.
if zig_version="$(zig version 2>/dev/null || python3 -m ziglang version 2>/dev/null)"; then
    note_version zig "$zig_version" "$ZIGLANG_VERSION"
elif [ ${#install[@]} -eq 0 ]; then
    install+=("ziglang==$ZIGLANG_VERSION")
fi
if [ ${#install[@]} -gt 0 ]; then
    say "installing ${install[*]} (pip --user)"
    pip_install_user "${install[@]}"
    cargo-lambda lambda --version >/dev/null
    python3 -m ziglang version >/dev/null
fi

if checkov_version="$(checkov --version 2>/dev/null)"; then
    note_version checkov "$checkov_version" "$CHECKOV_VERSION"
else
    say "installing checkov==$CHECKOV_VERSION (virtualenv in $tools_dir/checkov)"
    python3 -m venv "$tools_dir/checkov"
    "$tools_dir/checkov/bin/python" -m pip install "${pip_quiet[@]}" "checkov==$CHECKOV_VERSION"
    mkdir -p "$user_bin"
    ln -sf "$tools_dir/checkov/bin/checkov" "$user_bin/checkov"
    checkov --version >/dev/null
fi

if [ "${1:-}" = "--fakecloud" ]; then
    install_fakecloud
fi

say "done; the tools are in $user_bin (scripts/test and scripts/provisioner put it on PATH)"
