#!/usr/bin/env bash
# Vendor what the static book needs from npm, so the built pages load nothing from the network. Versions pinned here.
#  1. MathJax 3, trimmed to TeX input and CommonHTML output, into book/_vendor (not committed).
#  2. The generator's WebAssembly kernel: _generator/fmd-kernels.wat assembled with wabt's wat2wasm (npm, run by node)
#     into _vendor/fmd-kernels.js, the module as base64 in a classic script (a page opened from disk may not
#     fetch a .wasm file). Redone when the .wat changes.
# Idempotent: does nothing when both are up to date.
set -euo pipefail
cd "$(dirname "$0")"
MATHJAX=mathjax@3.2.2
WABT=wabt@1.0.39
STAMP="_vendor/.complete-$MATHJAX"
KERNELS_STAMP="_vendor/.kernels-$WABT-$(sha256sum _generator/fmd-kernels.wat | cut -c1-16)"
[ -f "$STAMP" ] && [ -f "$KERNELS_STAMP" ] && exit 0
command -v npm >/dev/null || { echo "book/vendor.sh: npm is needed (apt-get install npm)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unpack() { (cd "$tmp" && npm pack --silent "$1" >/dev/null 2>&1) && for pkg in "$tmp"/*.tgz; do
  mkdir -p "$tmp/$(basename "$pkg" .tgz)" && tar -xzf "$pkg" -C "$tmp/$(basename "$pkg" .tgz)" && rm "$pkg"; done; }

if [ ! -f "$STAMP" ]; then
  unpack "$MATHJAX"
  rm -rf _vendor.new && mkdir -p _vendor.new/mathjax
  mj="$tmp/mathjax-3.2.2/package/es5"
  # MathJax: the TeX→CommonHTML bundle plus what it loads lazily (fonts, TeX extensions, menu, accessibility)
  cp "$mj/tex-chtml.js" _vendor.new/mathjax/
  mkdir -p _vendor.new/mathjax/output/chtml && cp -r "$mj/output/chtml/fonts" _vendor.new/mathjax/output/chtml/
  cp -r "$mj/input" "$mj/ui" "$mj/a11y" "$mj/sre" _vendor.new/mathjax/
  rm -rf _vendor && mv _vendor.new _vendor && touch "$STAMP"
  echo "book/_vendor: $(du -sh _vendor | cut -f1) of vendored MathJax"
fi

if [ ! -f "$KERNELS_STAMP" ]; then
  unpack "$WABT"
  node - "$tmp/wabt-1.0.39/package" _generator/fmd-kernels.wat _vendor/fmd-kernels.js <<'JS'
const [wabtDir, source, target] = process.argv.slice(2);
const fs = require("fs");
require(require("path").resolve(wabtDir))().then((wabt) => {
  const module = wabt.parseWat(source, fs.readFileSync(source, "utf8"), { simd: true });
  module.validate();
  const bytes = Buffer.from(module.toBinary({}).buffer);
  fs.writeFileSync(target + ".partial", "// Assembled from fmd-kernels.wat by book/vendor.sh (wabt's wat2wasm); do not edit.\n" +
    `window.FMD_KERNELS = "${bytes.toString("base64")}";\n`);
  fs.renameSync(target + ".partial", target);
  console.log(`book/_vendor/fmd-kernels.js: ${bytes.length} bytes of WebAssembly`);
});
JS
  rm -f _vendor/.kernels-* && touch "$KERNELS_STAMP"
fi
