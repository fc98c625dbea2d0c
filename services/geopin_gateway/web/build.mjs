// Bundles src/ (with Leaflet from node_modules) into ../static/geopin.{js,css}, which the
// repository commits so that the gateway needs no Node.js. Each output starts with the sha256
// of the sources it came from; tests/unit/gateway/test_web_bundle.py checks it is current.
import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import * as esbuild from "esbuild";

export function sourcesHash() {
  const files = ["build.mjs", "package-lock.json", ...readdirSync("src").sort().map((f) => `src/${f}`)];
  const hash = createHash("sha256");
  for (const file of files) hash.update(`${file}\0`).update(readFileSync(file)).update("\0");
  return hash.digest("hex");
}

const banner = `/* geopin-web sources sha256:${sourcesHash()} */`;
await esbuild.build({
  entryPoints: { geopin: "src/main.js" },
  outdir: "../static",
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  // Leaflet's CSS names images for layer controls and default markers, which the page does not use.
  loader: { ".png": "empty", ".svg": "empty" },
  banner: { js: banner, css: banner },
  legalComments: "eof",
  logLevel: "info",
});
