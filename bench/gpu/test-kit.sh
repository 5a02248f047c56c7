#!/usr/bin/env bash
# Checks the built kit as a bare machine would run it: unpacked into an empty folder, with no Node on
# PATH (a folder of links to this machine's tools, node/npm/npx left out), no node_modules, HOME empty.
#   bash bench/gpu/test-kit.sh [run.sh flags]        (after bench/gpu/build-kit.sh)
# Without flags it measures the MLP for 1 s on webgpu-opengl, native, wasm and pytorch-cpu and fails
# unless the wasm, native and webgpu (Mesa llvmpipe) rows have numbers and Node was the kit's own.
# Not part of the test suite: it needs the archive (a 75 s build) and Mesa's EGL/llvmpipe.
set -euo pipefail
archive="$(cd "$(dirname "$0")" && pwd)/dist/trainyard-gpu-kit.tar.xz"
[ -f "$archive" ] || { echo "test-kit: $archive is missing: run bench/gpu/build-kit.sh first" >&2; exit 1; }
dir="$(mktemp -d /tmp/trainyard-kit-test.XXXXXX)"
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/tools" "$dir/out"
for tool in /usr/local/bin/* /usr/bin/* /bin/* /usr/sbin/* /sbin/*; do
  name="$(basename "$tool")"
  case "$name" in node | nodejs | npm | npx | corepack) continue ;; esac
  [ -e "$dir/tools/$name" ] || ln -s "$tool" "$dir/tools/$name"
done
(cd "$dir" && tar -xJf "$archive")
env -i HOME="$dir" PATH="$dir/tools" bash -c '! command -v node' >/dev/null || { echo "test-kit: node is still on PATH" >&2; exit 1; }
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--models 0 --budget-ms 1000 --backends webgpu-opengl,native,wasm,pytorch-cpu)
env -i HOME="$dir" PATH="$dir/tools" OUT="$dir/out" "$dir/trainyard-gpu-kit/run.sh" "${args[@]}"

table="$dir/out/gpu-kit-table.txt"
failed=0
grep -q "^node v.* ($dir/trainyard-gpu-kit/bin/node)" "$table" || { echo "test-kit: Node was not the kit's" >&2; failed=1; }
# The rows every x86_64 machine with Mesa must produce (checked for the default flags, or any that keep them).
for backend in webgpu-opengl native wasm; do
  case ",${args[*]}," in *--backends*) [[ "${args[*]}" == *"$backend"* ]] || continue ;; esac
  # A row with a number in the samples/s column (the fourth).
  awk -F'|' -v b="$backend" '$2 ~ "^ " b " " && $5 ~ /[0-9]/ { found = 1 } END { exit !found }' "$table" || { echo "test-kit: no $backend numbers" >&2; failed=1; }
  if [ "$backend" = native ]; then
    grep -q "libopenblas.so.0: the kit's lib/libopenblas.so.0" "$table" || { echo "test-kit: native did not use the kit's OpenBLAS" >&2; failed=1; }
  fi
done
[ "$failed" = 0 ] && echo "test-kit: ok (kit's node; wasm, native and webgpu rows measured)"
exit "$failed"
