#!/usr/bin/env bash
# The GPU kit's entry (copied into the kit by bench/gpu/build-kit.sh; it runs from the unpacked kit,
# not from the repository). On a machine with a GPU driver and Python, without Node.js or network:
#   tar -xJf trainyard-gpu-kit.tar.xz && trainyard-gpu-kit/run.sh [--budget-ms 3000] [--backends …]
# prints samples/s and ms/step of the bench models on every backend it finds (webgpu on Vulkan and on
# OpenGL, tfjs-node-gpu if installed beside it, native, wasm) and of PyTorch on CUDA and on the CPU,
# as one table; also written to $OUT/gpu-kit-table.txt when OUT is set. Flags go to bench.mjs
# (--backends, --models, --threads, --timeout-s, --python; docs/backends.md, "GPU kit").
set -uo pipefail
kit="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Scratch files (an ICD file, the table) beside the kit, or in /tmp when the kit is read-only.
scratch="$kit/.run"
mkdir -p "$scratch" 2>/dev/null && [ -w "$scratch" ] || scratch="$(mktemp -d)"
report="$scratch/gpu-kit-table.txt"
: > "$report"
say() { echo "$*" | tee -a "$report"; }

# A library as the machine's dynamic loader would find it (the cache, else the usual folders).
system_lib() {
  local ldconfig
  ldconfig="$(command -v ldconfig || echo /sbin/ldconfig)"
  if [ -x "$ldconfig" ] || command -v "$ldconfig" >/dev/null 2>&1; then
    "$ldconfig" -p 2>/dev/null | awk -v lib="$1" '$1 == lib && /x86-64/ {print $NF; exit}'
  else
    ls /usr/lib/x86_64-linux-gnu/"$1" /usr/lib64/"$1" /lib/x86_64-linux-gnu/"$1" 2>/dev/null | head -1
  fi
}

say "kit: $kit ($(sed -n 2p "$kit/VERSION" 2>/dev/null))"
# PyTorch gets back the library path the machine had (bench.mjs restores it for python).
export TRAINYARD_KIT_LD_LIBRARY_PATH="${LD_LIBRARY_PATH-}"
# The kit's OpenBLAS (and libgfortran, libquadmath) for the native addon, whatever the machine has.
libs="$kit/lib"
# The Vulkan loader only where the machine has none: a system loader matches its driver.
vulkan_loader="$(system_lib libvulkan.so.1)"
if [ -z "$vulkan_loader" ]; then
  libs="$libs:$kit/lib/vulkan"
  say "vulkan loader: the kit's (lib/vulkan; the machine has none)"
else
  say "vulkan loader: $vulkan_loader"
fi
# dawn.node needs libstdc++ from GCC 12 or later (GLIBCXX_3.4.30); older machines get the kit's,
# which itself needs glibc 2.36 (Debian 12's). The kit's other binaries need glibc 2.34 (VERSION).
glibc="$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')"
say "glibc: ${glibc:-unknown} (native and webgpu need 2.34 or later, Node 2.28)"
libstdcxx="$(system_lib libstdc++.so.6)"
if [ -z "$libstdcxx" ] || ! grep -qa 'GLIBCXX_3\.4\.30' "$libstdcxx"; then
  if printf '2.36\n%s\n' "${glibc:-0}" | sort -CV; then
    libs="$libs:$kit/lib/libstdcxx"
    say "libstdc++: the kit's (the machine's ${libstdcxx:-is missing} lacks GLIBCXX_3.4.30)"
  else
    say "libstdc++: the machine's lacks GLIBCXX_3.4.30 and its glibc is older than the kit's libstdc++ needs: webgpu will not load"
  fi
fi
export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export TRAINYARD_NATIVE_ADDON="$kit/native/trainyard_native.node"

# NVIDIA's Vulkan driver is libGLX_nvidia.so.0; containers often lack the ICD file that names it.
if [ -z "${VK_ICD_FILENAMES:-}" ] && ! ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json >/dev/null 2>&1; then
  nvidia_glx="$(system_lib libGLX_nvidia.so.0)"
  if [ -n "$nvidia_glx" ]; then
    printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' "$nvidia_glx" > "$scratch/nvidia_icd.json"
    export VK_ICD_FILENAMES="$scratch/nvidia_icd.json"
    say "vulkan ICD: $nvidia_glx (no nvidia_icd.json on the machine; written to $VK_ICD_FILENAMES)"
  elif command -v nvidia-smi >/dev/null 2>&1; then
    # The driver is there but not its graphics half: NVIDIA's container runtime mounts it only with that capability.
    say "vulkan ICD: none (no libGLX_nvidia.so.0: a container needs NVIDIA_DRIVER_CAPABILITIES=graphics,compute,utility or all for Vulkan)"
  fi
fi
if command -v nvidia-smi >/dev/null 2>&1; then
  say "nvidia-smi: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -4 | tr '\n' ';')"
else
  say "nvidia-smi: not found"
fi
say ""

# Node is always the kit's own: the bundle and its addons were built for that ABI.
"$kit/bin/node" "$kit/bench.mjs" --out "$scratch/table.txt" "$@"
status=$?
[ -f "$scratch/table.txt" ] && cat "$scratch/table.txt" >> "$report" && rm -f "$scratch/table.txt"
if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then cp "$report" "$OUT/gpu-kit-table.txt" && echo "table written to $OUT/gpu-kit-table.txt"; fi
echo "table written to $report"
exit "$status"
