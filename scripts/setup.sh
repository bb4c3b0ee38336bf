#!/usr/bin/env bash
# Idempotent set-up on Debian 12 (as root): installs every package hvrun needs
# to build, run and test; builds hvrun; installs it to /usr/local/bin; builds
# the guest kernels (cached outside the checkout); imports the built-in
# example image busybox:latest (made from Debian's busybox-static, no network).
#
#   scripts/setup.sh             everything
#   scripts/setup.sh --no-image  skip the example image (tests use their own stores)
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
BUILD=${HVRUN_BUILD_DIR:-$SRC/build}
want_image=1
for a in "$@"; do
  case "$a" in
    --no-image) want_image=0 ;;
    *) echo "setup.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" != 0 ]; then
  echo "setup.sh: run as root (it installs packages and writes /var/lib/hvrun)" >&2
  exit 1
fi

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libcli11-dev libspdlog-dev libfmt-dev libseccomp-dev libcap-dev
  libgtest-dev libgmock-dev nlohmann-json3-dev libarchive-dev libssl-dev libmnl-dev
  libcurl4-openssl-dev  # registry/: pull, push, login (HTTP via libcurl, dlopen-ed: registry/curl_api.hpp)
  docker-registry skopeo podman apache2-utils python3-jwt python3-cryptography  # registry tests and bench
  nettle-dev liblzma-dev libbz2-dev zlib1g-dev  # static archives hvrun links (image/CMakeLists.txt)
  libacl1-dev  # --userns private: ACLs that let the mapped root reach the store (engine/userns.cpp)
  libext2fs-dev  # static libext2fs: VM-mode diff/commit read the guest disk (engine/CMakeLists.txt)
  busybox-static e2fsprogs erofs-utils zstd xz-utils gzip cpio iproute2 util-linux
  runc crun bubblewrap qemu-system-x86
  containerd  # hvrun-oci under containerd's runc shim (tests/integration/oci_containerd_test.cpp)
  libboost-dev  # hvrun serve: HTTP over Boost.Beast (api/http.cpp)
  curl  # tests/integration/serve_docker*_test.cpp: raw API requests
  docker.io python3-docker  # the real docker CLI and docker-py drive hvrun serve in tests (the daemon stays off)
  linux-source-6.1 flex bison bc libelf-dev
  clang libclang-rt-14-dev  # scripts/fuzz.sh: libFuzzer targets (tests/fuzz), clang's ASan/UBSan runtimes
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  apt-get update -qq
  # docker.io is installed for its client only: hvrun serve is the daemon
  # here, so no service may start during the install (policy-rc.d), and
  # dockerd is not enabled for the next boot either.
  policy_made=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d && policy_made=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  [ $policy_made = 1 ] && rm -f /usr/sbin/policy-rc.d
  if [[ " ${missing[*]} " == *" docker.io "* ]] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl disable --now docker.service docker.socket >/dev/null 2>&1 || true
  fi
fi

# The unprivileged user hvrun-vmm becomes in its jail (vmm/jail.hpp,
# docs/security.md): no home, no shell, no files of its own.
if ! getent passwd hvrun-vmm >/dev/null; then
  useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin hvrun-vmm
fi

# Members of the group hvrun may use hvrun serve's socket (root:hvrun 0660).
if ! getent group hvrun >/dev/null; then
  groupadd --system hvrun
fi

cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHVRUN_WERROR=${HVRUN_WERROR:-ON} >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
install -s -m 0755 "$BUILD/cli/hvrun" /usr/local/bin/hvrun
# The OCI runtime (runc's command line) for podman --runtime, containerd, CRI-O.
install -s -m 0755 "$BUILD/oci/hvrun-oci" /usr/local/bin/hvrun-oci
ln -sf hvrun-oci /usr/local/bin/hvrun-oci-vm  # every bundle in a microVM (oci/vm.hpp)
if [ -x "$BUILD/guest-init/hvrun-guest-init" ]; then
  install -d /usr/local/lib/hvrun
  install -s -m 0755 "$BUILD/guest-init/hvrun-guest-init" /usr/local/lib/hvrun/guest-init
fi
if [ -x "$BUILD/vmm/tool/hvrun-vmm" ]; then  # the VMM process of `hvrun vmm` and `hvrun --vm`
  install -d /usr/local/lib/hvrun
  install -s -m 0755 "$BUILD/vmm/tool/hvrun-vmm" /usr/local/lib/hvrun/hvrun-vmm
fi
if [ -x "$BUILD/compare/hvrun-suite" ]; then  # hvrun compare's micro-workloads
  install -d /usr/local/lib/hvrun
  install -s -m 0755 "$BUILD/compare/hvrun-suite" /usr/local/lib/hvrun/hvrun-suite
fi

# hvrun serve as a systemd service: installed, not enabled or started
# (systemctl enable --now hvrun).
if [ -d /etc/systemd/system ]; then
  install -m 0644 scripts/hvrun.service /etc/systemd/system/hvrun.service
fi

# Bash completion, generated from the CLI definition of the hvrun just built.
install -d /usr/share/bash-completion/completions
/usr/local/bin/hvrun completion bash > /usr/share/bash-completion/completions/hvrun

if [ -x scripts/build-kernel.sh ]; then
  scripts/build-kernel.sh
fi

if [ $want_image = 1 ]; then
  scripts/make-busybox-rootfs.sh /tmp/hvrun-busybox-rootfs.$$
  hvrun image import /tmp/hvrun-busybox-rootfs.$$ --name busybox:latest >/dev/null
  rm -rf /tmp/hvrun-busybox-rootfs.$$
fi
echo "setup.sh: done. Try: hvrun --container busybox echo hello"
