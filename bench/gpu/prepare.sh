#!/usr/bin/env bash
# Prepares this working tree to run the training bench on a GPU machine that has no network
# (bench/gpu/run.sh there). Run it here, where the npm and Debian registries are reachable:
#   bash bench/gpu/prepare.sh
# It installs node_modules (with Dawn's prebuilt dawn.node from the `webgpu` package) and puts
# into bench/gpu/vendor/ what a bare GPU machine may lack: Node itself and Debian's Vulkan loader
# (libvulkan1) as .deb files, unpacked by run.sh at start. Copy the whole tree across afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."
vendor=bench/gpu/vendor
mkdir -p "$vendor"

[ -d node_modules/webgpu ] || npm ci --no-audit --no-fund

# Node: the binary this tree was installed and tested with (glibc-linked, x86_64).
cp "$(command -v node)" "$vendor/node"
"$vendor/node" --version > "$vendor/node.version"

# The Vulkan loader (libvulkan.so.1); the NVIDIA driver on the GPU machine supplies the ICD.
(cd "$vendor" && rm -f ./*.deb && apt-get download libvulkan1)

ls -la "$vendor"
echo "prepared: copy this tree to the GPU machine and run bash bench/gpu/run.sh there"
