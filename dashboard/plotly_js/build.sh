#!/usr/bin/env bash
# Rebuilds plotly-map.min.js: plotly.js, at the version the installed plotly Python package
# ships (or $1), with only the traces the map draws (dashboard/map_figure.py), bundled as
# plotly.js builds its own bundles (its CUSTOM_BUNDLE.md and esbuild-config.js: esbuild, the
# same plugins and aliases). Needs node and npm; run it after upgrading plotly (a test in
# tests/test_map_drawing.py fails until then). Usage: bash dashboard/plotly_js/build.sh [version]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-$here/../../.venv/bin/python}
version=${1:-$("$python" -c "import plotly.offline; print(plotly.offline.get_plotlyjs_version())")}
traces=(scatter scattergl heatmap)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
echo '{"name": "plotly-map", "version": "1.0.0", "private": true}' > package.json
npm install --no-audit --no-fund --loglevel=error "plotly.js@$version" esbuild@0.28 \
  esbuild-plugin-glsl@1.4.2 esbuild-plugin-inline-css@0.0.1 esbuild-plugin-environment@0.5.0 \
  stream-browserify@3.0.0 buffer@6.0.3
{
  echo "var Plotly = require('plotly.js/lib/core');"
  echo "Plotly.register(["
  for trace in "${traces[@]}"; do echo "  require('plotly.js/lib/$trace'),"; done
  echo "]);"
  echo "module.exports = Plotly;"
} > entry.js
cat > build.js <<'JS'
const esbuild = require("esbuild");
const { environmentPlugin } = require("esbuild-plugin-environment");
const { glsl } = require("esbuild-plugin-glsl");
const InlineCSSPlugin = require("esbuild-plugin-inline-css");
esbuild.build({
  entryPoints: ["./entry.js"],
  outfile: "plotly-map.min.js",
  format: "iife",
  globalName: "Plotly",
  bundle: true,
  minify: true,
  plugins: [InlineCSSPlugin(), glsl({ minify: true }), environmentPlugin({ NODE_DEBUG: false })],
  alias: { regl: "@plotly/regl", stream: "stream-browserify" },
  define: { global: "window", "define.amd": "false" },
  target: "es2016",
}).catch(() => process.exit(1));
JS
node build.js
{
  echo "/* plotly.js v$version (https://github.com/plotly/plotly.js), MIT license: see LICENSE beside"
  echo "   this file. A bundle of the traces ${traces[*]} only, built by build.sh. */"
  cat plotly-map.min.js
} > "$here/plotly-map.min.js"
cp node_modules/plotly.js/LICENSE "$here/LICENSE"
echo "wrote $here/plotly-map.min.js ($(wc -c < "$here/plotly-map.min.js") bytes, plotly.js $version)"
