// Builds Livedrop's pages into web/dist: `npm run build` (in web/).
//
// dist/index.html, watch.html, host.html, analytics.html, docs.html   the pages (from src/pages)
// dist/assets/{index,watch,host,analytics,docs}.js   one bundle per page (esbuild, minified)
// dist/assets/styles.css                             the shared stylesheet
// dist/assets/uplot/                                 the analytics chart's stylesheet, from node_modules
// dist/assets/amazon-ivs-wasmworker.min.{js,wasm}    the IVS player's worker, from node_modules
// dist/assets/swagger/                               the API reference renderer, from node_modules
//
// The IVS player and the other packages come from npm at build time; nothing of theirs is in git.
import * as esbuild from "esbuild";
import { copyFile, mkdir, readdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, "dist");
const assets = path.join(dist, "assets");
const modules = path.join(here, "node_modules");
const pages = ["index", "watch", "host", "analytics", "docs"];

await rm(dist, { recursive: true, force: true });
await mkdir(path.join(assets, "swagger"), { recursive: true });
await mkdir(path.join(assets, "uplot"), { recursive: true });

const result = await esbuild.build({
  absWorkingDir: here,
  entryPoints: [...pages.map((name) => `src/${name}.ts`), "src/styles.css"],
  outdir: assets,
  bundle: true,
  minify: true,
  sourcemap: "linked",
  format: "esm",
  target: ["es2020", "chrome100", "safari15", "firefox100"],
  metafile: true,
  logLevel: "warning",
  legalComments: "linked",
  define: { "process.env.NODE_ENV": '"production"' },
});

for (const name of pages) {
  await copyFile(path.join(here, "src", "pages", `${name}.html`), path.join(dist, `${name}.html`));
}
for (const file of ["amazon-ivs-wasmworker.min.js", "amazon-ivs-wasmworker.min.wasm"]) {
  await copyFile(path.join(modules, "amazon-ivs-player", "dist", "assets", file), path.join(assets, file));
}
for (const file of ["swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE"]) {
  await copyFile(path.join(modules, "swagger-ui-dist", file), path.join(assets, "swagger", file));
}
for (const file of ["dist/uPlot.min.css", "LICENSE"]) {
  await copyFile(path.join(modules, "uplot", file), path.join(assets, "uplot", path.basename(file)));
}

// Sizes: every file under assets, then each page's own code (inputs outside node_modules).
const kb = (bytes) => `${(bytes / 1024).toFixed(1).padStart(8)} KB`;
console.log("web/dist/assets:");
for (const file of (await readdir(assets)).sort()) {
  const info = await stat(path.join(assets, file));
  if (info.isFile() && !file.endsWith(".map")) console.log(`  ${kb(info.size)}  ${file}`);
}
console.log("own code per bundle (bytes in the output from inputs outside node_modules):");
for (const [output, meta] of Object.entries(result.metafile.outputs)) {
  if (!output.endsWith(".js")) continue;
  let own = 0;
  let vendor = 0;
  for (const [input, { bytesInOutput }] of Object.entries(meta.inputs)) {
    if (input.includes("node_modules/")) vendor += bytesInOutput;
    else own += bytesInOutput;
  }
  console.log(`  ${kb(own)}  ${path.basename(output)} own code  (+${kb(vendor).trim()} from packages)`);
}
