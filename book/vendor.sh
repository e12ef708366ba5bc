#!/usr/bin/env bash
# Vendor the JavaScript the static book needs, from npm packages, into book/_vendor (not committed), so the built
# pages load nothing from the network: MathJax 3, trimmed to TeX input and CommonHTML output.
# Idempotent: does nothing when _vendor is complete. Versions are pinned here.
set -euo pipefail
cd "$(dirname "$0")"
MATHJAX=mathjax@3.2.2
STAMP="_vendor/.complete-$MATHJAX"
[ -f "$STAMP" ] && exit 0
command -v npm >/dev/null || { echo "book/vendor.sh: npm is needed (apt-get install npm)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$MATHJAX" >/dev/null 2>&1)
rm -rf _vendor.new && mkdir -p _vendor.new/mathjax
for pkg in "$tmp"/*.tgz; do mkdir -p "$tmp/$(basename "$pkg" .tgz)" && tar -xzf "$pkg" -C "$tmp/$(basename "$pkg" .tgz)"; done
mj="$tmp/mathjax-3.2.2/package/es5"
# MathJax: the TeX→CommonHTML bundle plus what it loads lazily (fonts, TeX extensions, menu, accessibility)
cp "$mj/tex-chtml.js" _vendor.new/mathjax/
mkdir -p _vendor.new/mathjax/output/chtml && cp -r "$mj/output/chtml/fonts" _vendor.new/mathjax/output/chtml/
cp -r "$mj/input" "$mj/ui" "$mj/a11y" "$mj/sre" _vendor.new/mathjax/
rm -rf _vendor && mv _vendor.new _vendor && touch "$STAMP"
echo "book/_vendor: $(du -sh _vendor | cut -f1) of vendored MathJax"
