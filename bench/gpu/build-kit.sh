#!/usr/bin/env bash
# Builds the GPU kit: one archive that a GPU machine with a driver and Python but without Node.js,
# node_modules or network unpacks and runs (docs/backends.md, "GPU kit"). Run it here, in a tree
# where `npm install` has run (node_modules with the `webgpu` package, native/ built):
#   bash bench/gpu/build-kit.sh            → bench/gpu/dist/trainyard-gpu-kit.tar.xz (≤ 64 MiB)
# The kit holds: Node (this machine's, stripped; NODE_BIN= names another), the bench bundled into
# one file (bench/gpu/kit-bench.ts with src/ and TF.js), the native addons (trainyard_native.node,
# Dawn's dawn.node) with what they load that a bare CUDA machine may lack (OpenBLAS, libgfortran,
# the Vulkan loader, libstdc++ as a fallback) taken from Debian's packages, PyTorch's side of the
# bench and run.sh. tfjs-node-gpu is not in it: with libtensorflow it is hundreds of MB.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo="$PWD"
limit=$((64 * 1024 * 1024))
dist="$repo/bench/gpu/dist"
name=trainyard-gpu-kit
stage="$dist/stage/$name"
archive="$dist/$name.tar.xz"
node_bin="${NODE_BIN:-$(command -v node)}"
arch="$(uname -m)"
[ "$arch" = x86_64 ] || { echo "build-kit: only x86_64 kits are built (this machine is $arch)" >&2; exit 1; }

dawn="node_modules/webgpu/dist/linux-x64/dawn.node"
addon="native/build/Release/trainyard_native.node"
[ -f "$dawn" ] || { echo "build-kit: $dawn is missing: run npm install first" >&2; exit 1; }
[ -f "$addon" ] || { echo "build-kit: $addon is missing: npm install builds it where libopenblas-dev is installed" >&2; exit 1; }

rm -rf "$dist/stage" "$archive"
mkdir -p "$stage/bin" "$stage/lib/vulkan" "$stage/lib/libstdcxx" "$stage/native" \
  "$stage/node_modules/webgpu/dist/linux-x64" "$stage/node_modules/@tensorflow/tfjs-backend-wasm/dist"

# Strips a copy when binutils are here: Node's debug info alone is 12 MB, Dawn's symbols 4 MB.
copy_binary() {
  cp -L "$1" "$2"
  if command -v strip >/dev/null; then strip --strip-unneeded "$2" 2>/dev/null || strip "$2"; fi
}

echo "== node: $node_bin ($("$node_bin" --version))"
copy_binary "$node_bin" "$stage/bin/node"
"$stage/bin/node" -e 'process.exit(0)'

echo "== bundle: bench/gpu/kit-bench.ts + src + TF.js → bench.mjs"
# ESM, as src uses import.meta.url; the CommonJS parts of TF.js call require() and tfjs-backend-wasm's
# Emscripten loader reads __dirname, which an ESM module lacks, hence the banner. webgpu stays a package (its index.js finds dawn.node beside itself);
# tfjs-node(-gpu) stays outside (not bundled; found in the kit's node_modules if installed there).
node_modules/.bin/esbuild bench/gpu/kit-bench.ts --bundle --platform=node --format=esm --target=node20 \
  --outfile="$stage/bench.mjs" --log-level=warning --legal-comments=none --minify-whitespace --minify-syntax \
  --external:webgpu --external:@tensorflow/tfjs-node --external:@tensorflow/tfjs-node-gpu --external:'*.node' \
  --banner:js="import { createRequire as __kitCreateRequire } from 'node:module'; import { fileURLToPath as __kitPath } from 'node:url'; globalThis.require ??= __kitCreateRequire(import.meta.url); globalThis.__filename ??= __kitPath(import.meta.url); globalThis.__dirname ??= __kitPath(new URL('.', import.meta.url));"
cp bench/pytorch_throughput.py "$stage/"

echo "== addons and their packages' runtime files"
copy_binary "$addon" "$stage/native/trainyard_native.node"
copy_binary "$dawn" "$stage/$dawn"
cp node_modules/webgpu/package.json node_modules/webgpu/index.js node_modules/webgpu/LICENSE.md "$stage/node_modules/webgpu/"
cp node_modules/@tensorflow/tfjs-backend-wasm/package.json "$stage/node_modules/@tensorflow/tfjs-backend-wasm/"
cp node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm "$stage/node_modules/@tensorflow/tfjs-backend-wasm/dist/"

echo "== libraries a bare CUDA machine may lack, from Debian's packages"
# Downloaded rather than taken from this machine, so that a build host without them installed still
# builds the kit; the machine's own copies are the fallback when the Debian registry is unreachable.
debs="$dist/stage/debs"
mkdir -p "$debs/root"
packages=(libopenblas0-pthread libgfortran5 libquadmath0 libvulkan1 libstdc++6)
if (cd "$debs" && apt-get download "${packages[@]}" >/dev/null 2>&1); then
  for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$debs/root"; done
  libdir="$debs/root/usr/lib/x86_64-linux-gnu"
  echo "from: $(cd "$debs" && ls ./*.deb | xargs -n1 basename | tr '\n' ' ')"
  cp -L "$libdir/openblas-pthread/libopenblas.so.0" "$libdir/libgfortran.so.5" "$libdir/libquadmath.so.0" "$stage/lib/"
  cp -L "$libdir/libvulkan.so.1" "$stage/lib/vulkan/"
  cp -L "$libdir/libstdc++.so.6" "$stage/lib/libstdcxx/"
else
  echo "apt-get download failed: taking this machine's copies"
  find_lib() { ldconfig -p | awk -v lib="$1" '$1 == lib && /x86-64/ {print $NF; exit}'; }
  for lib in libopenblas.so.0 libgfortran.so.5 libquadmath.so.0; do cp -L "$(find_lib "$lib")" "$stage/lib/"; done
  cp -L "$(find_lib libvulkan.so.1)" "$stage/lib/vulkan/"
  cp -L "$(find_lib libstdc++.so.6)" "$stage/lib/libstdcxx/"
fi
if command -v strip >/dev/null; then strip --strip-unneeded "$stage"/lib/*.so.* "$stage"/lib/*/*.so.* 2>/dev/null || true; fi
# Every library the addons link must now resolve inside the kit or in glibc/libstdc++ (always there).
missing="$(LD_LIBRARY_PATH="$stage/lib:$stage/lib/libstdcxx" ldd "$stage/native/trainyard_native.node" "$stage/$dawn" "$stage/bin/node" | grep 'not found' || true)"
[ -z "$missing" ] || { echo "build-kit: unresolved libraries: $missing" >&2; exit 1; }

cp bench/gpu/run.sh "$stage/run.sh"
chmod +x "$stage/run.sh" "$stage/bin/node"
(cd "$stage" && {
  echo "trainyard GPU kit"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "node: $("$stage/bin/node" --version)"
  # What each binary asks of the machine's glibc (and libstdc++): the kit runs where these are met.
  for binary in bin/node native/trainyard_native.node "$dawn" lib/*.so.* lib/*/*.so.*; do
    echo "needs: $binary glibc $(objdump -T "$binary" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1 | cut -d_ -f2)" \
      "$(objdump -T "$binary" 2>/dev/null | grep -o 'GLIBCXX_[0-9.]*' | sort -uV | tail -1)"
  done
  echo "run: ./run.sh [--budget-ms 3000] [--backends ...]   (docs/backends.md, GPU kit)"
} > VERSION)

echo "== archive"
du -sh "$stage"
# xz -9 over two threads: the Node binary is most of the archive and compresses to a quarter.
(cd "$dist/stage" && tar -cf - "$name" | xz -9 -T2 > "$archive")
rm -rf "$dist/stage"
size=$(stat -c %s "$archive")
awk -v f="$archive" -v s="$size" -v l="$limit" 'BEGIN { printf "kit: %s, %d bytes (%.1f MiB of the %d MiB limit)\n", f, s, s / 1048576, l / 1048576 }'
if [ "$size" -gt "$limit" ]; then
  echo "build-kit: the kit is over 64 MiB" >&2
  exit 1
fi
