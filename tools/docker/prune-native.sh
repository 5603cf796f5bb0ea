#!/bin/sh
# Removes the native binaries of other platforms from an installed node_modules (the image's
# production dependencies): onnxruntime-node ships darwin, win32 and both Linux architectures,
# tokenizers one .node file per platform. Keeps linux/<arch> (glibc) only, then checks that the
# binaries this platform loads are still there.
#   prune-native NODE_MODULES ARCH      ARCH: amd64 or arm64 (Docker's TARGETARCH)
set -eu
modules=${1:?usage: prune-native NODE_MODULES amd64|arm64}
case "${2:?usage: prune-native NODE_MODULES amd64|arm64}" in
  amd64) arch=x64 ;;
  arm64) arch=arm64 ;;
  *) echo "prune-native: unsupported architecture $2 (amd64 or arm64)" >&2; exit 1 ;;
esac
ort="$modules/onnxruntime-node/bin/napi-v6"
tok="$modules/tokenizers"
before=$(du -sk "$modules" | cut -f1)
for dir in "$ort"/*; do [ "$(basename "$dir")" = linux ] || rm -rf "$dir"; done
for dir in "$ort"/linux/*; do [ "$(basename "$dir")" = "$arch" ] || rm -rf "$dir"; done
for file in "$tok"/tokenizers.*.node; do [ "$(basename "$file")" = "tokenizers.linux-$arch-gnu.node" ] || rm -f "$file"; done
test -f "$ort/linux/$arch/onnxruntime_binding.node" || { echo "prune-native: $ort/linux/$arch/onnxruntime_binding.node missing" >&2; exit 1; }
test -f "$ort/linux/$arch/libonnxruntime.so.1" || { echo "prune-native: $ort/linux/$arch/libonnxruntime.so.1 missing" >&2; exit 1; }
test -f "$tok/tokenizers.linux-$arch-gnu.node" || { echo "prune-native: $tok/tokenizers.linux-$arch-gnu.node missing" >&2; exit 1; }
echo "prune-native: node_modules $((before / 1024)) MB -> $(( $(du -sk "$modules" | cut -f1) / 1024 )) MB (kept linux-$arch)"
