#!/usr/bin/env bash
# Runs the training bench on a GPU machine without network access, from a tree prepared by
# bench/gpu/prepare.sh: WebGPU through Dawn's Vulkan backend next to the CPU backends, one table.
#   bash bench/gpu/run.sh [--budget-ms 8000]      (prints the table; also written to $OUT if set)
# Needs an NVIDIA (or other Vulkan) driver on the machine; everything else comes with the tree.
set -euo pipefail
cd "$(dirname "$0")/../.."
vendor=bench/gpu/vendor
root=bench/gpu/.root
mkdir -p "$root"

# Node: the machine's own if it is recent enough, else the one brought along.
node_bin="$(command -v node || true)"
if [ -z "$node_bin" ] || ! "$node_bin" -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=19)?0:1)'; then
  node_bin="$vendor/node"
fi
echo "node: $node_bin $("$node_bin" --version)"

# The Vulkan loader: the machine's, or the .deb brought along, unpacked here (no root needed).
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1'; then
  for deb in "$vendor"/*.deb; do
    if command -v dpkg-deb >/dev/null; then dpkg-deb -x "$deb" "$root"
    else (cd "$root" && ar p "$OLDPWD/$deb" data.tar.xz | tar -xJ); fi
  done
  export LD_LIBRARY_PATH="$PWD/$root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "vulkan loader: unpacked from" "$vendor"/*.deb
fi

# NVIDIA's Vulkan driver is libGLX_nvidia.so.0; containers often lack the ICD file that names it.
if [ -z "${VK_ICD_FILENAMES:-}" ] && ! ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json >/dev/null 2>&1; then
  nvidia_glx="$(ldconfig -p 2>/dev/null | awk '/libGLX_nvidia.so.0/ {print $NF; exit}')"
  if [ -n "$nvidia_glx" ]; then
    printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' "$nvidia_glx" > "$root/nvidia_icd.json"
    export VK_ICD_FILENAMES="$PWD/$root/nvidia_icd.json"
    echo "vulkan ICD: $nvidia_glx (written to $VK_ICD_FILENAMES)"
  fi
fi
if command -v nvidia-smi >/dev/null; then nvidia-smi -L || true; fi

out="${OUT:-$root}/gpu-bench.txt"
WEBGPU_BACKEND="${WEBGPU_BACKEND:-vulkan}" "$node_bin" --import tsx bench/run.ts --only throughput --backends tensorflow,webgpu,wasm,cpu "$@" | tee "$out"
echo "table written to $out"
