// compare.mjs - measures chatkitd's token estimator (src/agent/tokens.c,
// through the `estimate` tool built by the Makefile) against a real BPE
// tokenizer (gpt-tokenizer: o200k_base, the encoding of the default model,
// and cl100k_base) on four kinds of text taken from this repository:
//   english  Markdown prose (docs/, README files), paragraphs
//   code     C and Python sources, 40-line chunks
//   json     the JSON Schemas of tests/schemas, as stored and compacted, 1500-byte chunks
//   nonlatin bench/tokens/samples (Russian, Chinese, Japanese, Arabic, Greek, Hindi), paragraphs
// Prints, per kind and encoding: samples, reference and estimated totals,
// the total bias, the mean absolute error per sample and the worst
// under-estimate.  Usage: node compare.mjs ESTIMATE_BINARY REPO_ROOT [--check]
// With --check it exits 1 when, against o200k_base, a kind's mean absolute
// error exceeds 20% or its total is under-estimated by more than 5%.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import * as o200k from "gpt-tokenizer/encoding/o200k_base";
import * as cl100k from "gpt-tokenizer/encoding/cl100k_base";

const [tool, root, flag] = process.argv.slice(2);
if (!tool || !root) {
  console.error("usage: node compare.mjs ESTIMATE_BINARY REPO_ROOT [--check]");
  process.exit(2);
}

function walk(dir, ext, out = []) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, ext, out);
    else if (ext.some((e) => name.endsWith(e))) out.push(p);
  }
  return out;
}

function paragraphs(text) {
  return text.split(/\n\s*\n/).map((s) => s.trim()).filter((s) => s.length >= 40);
}

function lineChunks(text, n) {
  const lines = text.split("\n");
  const out = [];
  for (let i = 0; i < lines.length; i += n) {
    const c = lines.slice(i, i + n).join("\n");
    if (c.trim().length >= 40) out.push(c);
  }
  return out;
}

function byteChunks(text, n) {
  const out = [];
  for (let i = 0; i < text.length; i += n) out.push(text.slice(i, i + n));
  return out.filter((c) => c.length >= 40);
}

const kinds = {
  english: [...walk(join(root, "docs"), [".md"]), join(root, "README.md"),
            ...walk(join(root, "src"), ["README.md"])].flatMap((f) => paragraphs(readFileSync(f, "utf8"))),
  code: [...walk(join(root, "src"), [".c"]), ...walk(join(root, "tests/acceptance"), [".py"])]
          .flatMap((f) => lineChunks(readFileSync(f, "utf8"), 40)),
  json: walk(join(root, "tests/schemas"), [".json"]).flatMap((f) => {
    const text = readFileSync(f, "utf8");
    return [...byteChunks(text, 1500), ...byteChunks(JSON.stringify(JSON.parse(text)), 1500)];
  }),
  nonlatin: walk(join(root, "bench/tokens/samples"), [".txt"]).flatMap((f) => paragraphs(readFileSync(f, "utf8"))
    .concat(readFileSync(f, "utf8").split("\n").filter((l) => l.trim().length > 0))),
};

function estimate(samples) {
  const input = Buffer.concat(samples.map((s, i) => Buffer.concat([i ? Buffer.from([0]) : Buffer.alloc(0), Buffer.from(s)])));
  const r = spawnSync(tool, [], { input, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error("estimate failed: " + r.stderr);
  const counts = r.stdout.toString().trim().split("\n").map(Number);
  if (counts.length !== samples.length) throw new Error(`estimate printed ${counts.length} counts for ${samples.length} samples`);
  return counts;
}

let failed = false;
console.log("kind      encoding     samples  reference  estimate  bias    mean|err|  worst under");
for (const [kind, samples] of Object.entries(kinds)) {
  const est = estimate(samples);
  for (const [name, enc] of [["o200k_base", o200k], ["cl100k_base", cl100k]]) {
    const ref = samples.map((s) => enc.encode(s).length);
    const sumRef = ref.reduce((a, b) => a + b, 0);
    const sumEst = est.reduce((a, b) => a + b, 0);
    const errs = ref.map((r, i) => (est[i] - r) / r);
    const mae = errs.reduce((a, e) => a + Math.abs(e), 0) / errs.length;
    const worst = Math.min(0, ...errs);
    const bias = (sumEst - sumRef) / sumRef;
    console.log(`${kind.padEnd(9)} ${name.padEnd(12)} ${String(samples.length).padStart(7)}  ${String(sumRef).padStart(9)}  ` +
                `${String(sumEst).padStart(8)}  ${(bias * 100).toFixed(1).padStart(5)}%  ${(mae * 100).toFixed(1).padStart(7)}%  ` +
                `${(worst * 100).toFixed(1).padStart(9)}%`);
    if (name === "o200k_base" && (mae > 0.20 || bias < -0.05)) failed = true;
  }
}
if (flag === "--check" && failed) {
  console.error("token estimator outside its bounds (mean |error| <= 20%, total bias >= -5% against o200k_base)");
  process.exit(1);
}
