// Fingerprint and precompress the browser bundle in target/site/pkg, after wasm-split-cli,
// wasm-bindgen and wasm-opt wrote tokenflow.js, tokenflow_bg.wasm (the main module), the split
// loader __wasm_split.js and its chunks (*.wasm), snippets/ and the stylesheet tokenflow.css.
//
// Every file gets the bundle's content hash in its name (tokenflow-<hash>.js, ..._bg.wasm, .css,
// -split.js, -<chunk>.wasm, snippets-<hash>/), so the server can tell browsers to keep them
// forever (`Cache-Control: immutable`) and a new build is a new URL. The JS glue and the loader
// are rewritten to name the renamed files. `bundle-name` tells the server the new name. Each file is written
// beside itself brotli- and gzip-compressed (.br, .gz) once, here, so the server only picks one.
//
// Usage: node scripts/assets.mjs target/site/pkg
// Prints: the main wasm's size raw, gzip and brotli, then the chunks' together, in bytes.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";

const pkg = process.argv[2] ?? "target/site/pkg";
const at = (name) => path.join(pkg, name);
const files = (dir) =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)]);

// One hash over everything the bundle is made of, in a fixed order.
const hash = createHash("sha256");
const inputs = [at("tokenflow.js"), at("tokenflow_bg.wasm"), at("tokenflow.css")];
const loader = at("__wasm_split.js");
const split = fs.existsSync(loader);
const chunks = fs.readdirSync(pkg).filter((f) => f.endsWith(".wasm") && f !== "tokenflow_bg.wasm").sort();
const snippets = fs.existsSync(at("snippets")) ? files(at("snippets")).sort() : [];
for (const file of [...inputs, ...(split ? [loader] : []), ...chunks.map(at), ...snippets]) {
  hash.update(file.slice(pkg.length));
  hash.update(fs.readFileSync(file));
}
const digest = hash.digest("hex").slice(0, 16);
const name = `tokenflow-${digest}`;

const glue = fs.readFileSync(at("tokenflow.js"), "utf8")
  .replaceAll("tokenflow_bg.wasm", `${name}_bg.wasm`)
  // The import statements only: the import object's keys must keep the names the WASM imports
  // (a snippet function the WASM calls without a shim is imported under its snippet's path).
  .replace(/from (['"])\.\/snippets\//g, `from $1./snippets-${digest}/`)
  .replaceAll('from "./__wasm_split.js"', `from "./${name}-split.js"`);
fs.writeFileSync(at(`${name}.js`), glue);
fs.rmSync(at("tokenflow.js"));
if (split) {
  let code = fs.readFileSync(loader, "utf8").replaceAll('"./tokenflow.js"', `"./${name}.js"`);
  for (const chunk of chunks) {
    code = code.replaceAll(`"./${chunk}"`, `"./${name}-${chunk}"`);
    fs.renameSync(at(chunk), at(`${name}-${chunk}`));
  }
  fs.writeFileSync(at(`${name}-split.js`), code);
  fs.rmSync(loader);
}
fs.renameSync(at("tokenflow_bg.wasm"), at(`${name}_bg.wasm`));
fs.renameSync(at("tokenflow.css"), at(`${name}.css`));
if (snippets.length) fs.renameSync(at("snippets"), at(`snippets-${digest}`));
fs.writeFileSync(at("bundle-name"), `${name}\n`);

let main;
let rest = [0, 0, 0];
for (const file of files(pkg)) {
  if (!/\.(js|wasm|css)$/.test(file)) continue;
  const raw = fs.readFileSync(file);
  const gz = zlib.gzipSync(raw, { level: 9 });
  const br = zlib.brotliCompressSync(raw, {
    params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: 11,
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
      [zlib.constants.BROTLI_PARAM_MODE]: file.endsWith(".wasm") ? zlib.constants.BROTLI_MODE_GENERIC : zlib.constants.BROTLI_MODE_TEXT,
    },
  });
  fs.writeFileSync(`${file}.gz`, gz);
  fs.writeFileSync(`${file}.br`, br);
  if (file.endsWith("_bg.wasm")) main = `${raw.length} ${gz.length} ${br.length}`;
  else if (file.endsWith(".wasm")) rest = rest.map((n, i) => n + [raw.length, gz.length, br.length][i]);
}
console.log(`${main} ${rest.join(" ")}`);
