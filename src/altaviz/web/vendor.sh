#!/usr/bin/env bash
# Re-create the vendored browser assets in static/vendor from the npm registry (no CDN at run time).
# Versions and licences: static/vendor/VENDORED.md. Needs node and npm; run from anywhere.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund --silent echarts@5.6.0 esbuild@0.28.2 htmx.org@2.0.11 us-atlas@3.0.1 \
  topojson-client@3.1.0
out="$here/static/vendor"
# ECharts: a custom bundle of only the chart types and components the pages use (echarts/entry.js,
# kept in step with the list at the top of static/app.js), not the whole 1 MB library.
cp "$here/echarts/entry.js" entry.js
npx esbuild entry.js --bundle --minify --format=iife --target=es2017 --legal-comments=none \
  --define:process.env.NODE_ENV='"production"' \
  --banner:js='/*! Apache ECharts 5.6.0, custom build for Altaviz (web/echarts/entry.js) | Apache-2.0 */' \
  --outfile="$out/echarts-5.6.0-altaviz.min.js"
cp node_modules/htmx.org/dist/htmx.min.js "$out/htmx-2.0.11.min.js"
cp node_modules/echarts/LICENSE "$out/LICENSE-echarts.txt"
cp node_modules/htmx.org/LICENSE "$out/LICENSE-htmx.txt"
cp node_modules/us-atlas/LICENSE "$out/LICENSE-us-atlas.txt"
# The region the demo stations lie in (Texas and its neighbours), as GeoJSON, coordinates rounded to
# 0.01° (about 1 km): the map is drawn from this outline, no tile server.
node -e '
const topo = require("topojson-client");
const us = require("us-atlas/states-10m.json");
const keep = new Set(["Texas", "Louisiana", "Oklahoma", "New Mexico", "Arkansas"]);
const all = topo.feature(us, us.objects.states);
const round = (c) => Array.isArray(c[0]) ? c.map(round) : [Math.round(c[0] * 100) / 100, Math.round(c[1] * 100) / 100];
const features = all.features.filter((f) => keep.has(f.properties.name)).map((f) => ({
  type: "Feature", properties: { name: f.properties.name },
  geometry: { type: f.geometry.type, coordinates: round(f.geometry.coordinates) },
}));
process.stdout.write(JSON.stringify({ type: "FeatureCollection", features }));
' > "$out/region-south-central-us.geo.json"
ls -la "$out"
