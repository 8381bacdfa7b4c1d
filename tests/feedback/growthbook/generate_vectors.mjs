// Runs the real GrowthBook JS SDK (the version pinned in ./package.json) and writes test vectors
// for its assignment functions: hash v1/v2, getBucketRanges, chooseVariation, inNamespace and
// whole experiments through GrowthBook#run. feedback/assignment.py is tested against them and
// other SDKs can be too (docs/assignment.md).
//
// The SDK is installed outside the repository, never into it:
//   npm install --no-audit --no-fund --prefix /tmp/growthbook-sdk @growthbook/growthbook@1.8.0
//   node tests/feedback/growthbook/generate_vectors.mjs --sdk-prefix /tmp/growthbook-sdk \
//     --out docs/growthbook-vectors.json
// Without --sdk-prefix the package is resolved from this folder upward and from NODE_PATH.
// The output is deterministic (seeded strings, no timestamps): regenerating changes the file
// only when the SDK's behaviour (or the Node version in its metadata) changes.
//
// --evaluate <cases.json> --out <results.json> instead evaluates caller-given strings
// (tests/feedback/test_assignment_live.py): input {values, seeds, settings:[{num_variations,
// coverage?, weights?}]}, output {sdk_version, ranges:[per setting], results:[{value, length,
// v1:[per seed], v2:[per seed], variation:[per seed [per setting]]}]}.

import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, "..", "..", "..");
const PACKAGE = "@growthbook/growthbook";
const PINNED = JSON.parse(readFileSync(join(HERE, "package.json"), "utf8")).dependencies[PACKAGE];

// ---------------------------------------------------------------------------------------------
// The SDK. hash, getBucketRanges, chooseVariation and inNamespace live in dist/esm/util.mjs and
// are not exported from the package entry (nor reachable through its "exports" map), so the
// module is imported by file path.

async function loadSdk(prefix) {
  const require = createRequire(import.meta.url);
  let manifestPath;
  try {
    manifestPath = require.resolve(`${PACKAGE}/package.json`, prefix ? { paths: [prefix] } : undefined);
  } catch (err) {
    console.error(
      `${PACKAGE} not found (${err.code}). Install it outside the repository and pass its prefix:\n` +
        `  npm install --no-audit --no-fund --prefix /tmp/growthbook-sdk ${PACKAGE}@${PINNED}\n` +
        "  node tests/feedback/growthbook/generate_vectors.mjs --sdk-prefix /tmp/growthbook-sdk",
    );
    process.exit(2);
  }
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
  if (manifest.version !== PINNED) {
    throw new Error(
      `${PACKAGE} ${manifest.version} found at ${manifestPath}, ${PINNED} pinned in package.json`,
    );
  }
  const root = dirname(manifestPath);
  const util = await import(pathToFileURL(join(root, "dist", "esm", "util.mjs")).href);
  const entry = await import(pathToFileURL(join(root, "dist", "esm", "index.mjs")).href);
  for (const name of ["hash", "getBucketRanges", "chooseVariation", "inNamespace"]) {
    if (typeof util[name] !== "function") throw new Error(`${PACKAGE} util has no ${name}`);
  }
  return { version: manifest.version, util, GrowthBook: entry.GrowthBook };
}

// The SDK reports bad experiment settings with console.error (outside NODE_ENV=production) and
// carries on with a fallback; the messages go into the vectors so a reader sees which fired.
function capturingConsole(fn) {
  const original = console.error;
  const logs = [];
  console.error = (...args) => logs.push(args.map(String).join(" "));
  try {
    return [fn(), logs];
  } finally {
    console.error = original;
  }
}

// ---------------------------------------------------------------------------------------------
// Inputs.

// mulberry32: a small seeded PRNG, so the random strings are the same on every run.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomString(next, kind, length) {
  let out = "";
  for (let i = 0; i < length; i++) {
    const k = kind === "mixed" ? ["ascii", "bmp", "astral"][Math.floor(next() * 3)] : kind;
    let cp;
    if (k === "ascii") cp = 0x20 + Math.floor(next() * 95);
    else if (k === "bmp") {
      do cp = 0xa0 + Math.floor(next() * (0x10000 - 0xa0));
      while (cp >= 0xd800 && cp <= 0xdfff);
    } else cp = 0x10000 + Math.floor(next() * (0x110000 - 0x10000));
    out += String.fromCodePoint(cp);
  }
  return out;
}

// [label, string]; labels name the case in the vectors and in pytest ids.
function strings() {
  const fixed = {
    ascii: ["", "a", "b", "ab", "0", "123", "user-1", "user_42", "ABC", "Hello World",
      "jane.doe@example.com", "550e8400-e29b-41d4-a716-446655440000", "!@#$%^&*()_+-=[]{}|;':,./<>?",
      "~`\\\"", "12345678901234567890"],
    latin: ["é", "José", "Müller", "Ñandú", "façade", "Zoë", "Ångström", "straße", "ÿ", "Œuvre"],
    combining: ["e\u0301", "Jose\u0301", "Mu\u0308ller", "N\u0303andu\u0301", "Zoe\u0308",
      "A\u030angstro\u0308m", "a\u0300\u0301\u0302\u0303\u0308"],
    cjk: ["用户", "用户123", "東京", "日本語のユーザー", "사용자", "ユーザー", "中文用户名测试", "ｆｕｌｌｗｉｄｔｈ"],
    script: ["пользователь", "χρήστης", "مستخدم", "משתמש", "उपयोगकर्ता", "ผู้ใช้", "Ελληνικά-7"],
    astral: ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𠜎𠜱", "user-🚀", "\u{10000}",
      "\u{10FFFF}", "😀😀", "a😀b", "🎉🎊🎈"],
    bmp_edge: ["\u007f", "\u0080", "\u00ff", "\u0100", "\u07ff", "\u0800", "\ud7ff", "\ue000",
      "\ufeff", "\ufffd", "\ufffe", "\uffff"],
    lone_surrogate: ["\ud800", "\udbff", "\udc00", "\udfff", "a\ud800b", "\udc00\ud800",
      "x\ud83d", "\ude00y", "\ud83d-\ude00"],
    whitespace: [" ", "  ", "\t", "\n", "\r\n", "\u0000", "a\u0000b", "\u0001", "\u001f",
      "\u0085", "\u00a0", "\u2028", "\u2029", "\u3000", "\u200b", "\u200d", " leading",
      "trailing ", "in side"],
    mixed: ["ü-7-用户", "user-ü-😀", "José_東京_🚀", "Müller\u0000用户", "ñ😀e\u0301用",
      "abc-ÄÖÜ-äöü-ß", "id:\u00e9|e\u0301"],
  };
  const out = [];
  for (const [kind, list] of Object.entries(fixed)) {
    list.forEach((s, i) => out.push([`${kind}-${i}`, s]));
  }
  const next = rng(20240601);
  for (const kind of ["ascii", "bmp", "astral", "mixed"]) {
    for (let i = 0; i < 12; i++) {
      out.push([`random_${kind}-${i}`, randomString(next, kind, 1 + Math.floor(next() * 24))]);
    }
  }
  return out;
}

function longStrings() {
  const next = rng(7);
  return [
    ["long-ascii-1000", "a".repeat(1000)],
    ["long-digits-2048", Array.from({ length: 2048 }, (_, i) => String(i % 10)).join("")],
    ["long-cjk-1000", "用".repeat(1000)],
    ["long-astral-600", "😀".repeat(600)],
    ["long-mixed-1500", "ü-7-用户-".repeat(250)],
    ["long-random-1200", randomString(next, "mixed", 1200)],
  ];
}

const SEEDS = [
  ["empty", ""], ["seed", "seed"], ["foo", "foo"], ["exp", "homepage-2024"],
  ["ns", "__homepage"], ["latin", "ü-seed"], ["cjk", "用户实验"], ["emoji", "😀"],
  // Each half of a surrogate pair: seed + value makes the pair back when value is the other half.
  ["high", "\ud83d"], ["low", "\ude00"],
];

const BUCKET_SETTINGS = [
  // [label, numVariations, coverage (undefined: omitted), weights (undefined: omitted)]
  ["2-default", 2, undefined, undefined],
  ["2-half", 2, 1, [0.5, 0.5]],
  ["2-uneven", 2, 1, [0.1, 0.9]],
  ["2-uneven-cov", 2, 0.5, [0.1, 0.9]],
  ["2-cov-0", 2, 0, [0.5, 0.5]],
  ["2-cov-0.01", 2, 0.01, [0.5, 0.5]],
  ["2-cov-0.99", 2, 0.99, [0.5, 0.5]],
  ["2-cov-negative", 2, -0.2, [0.5, 0.5]],
  ["2-cov-above-1", 2, 1.5, [0.5, 0.5]],
  ["2-one-zero", 2, 1, [0, 1]],
  ["2-sum-0.995", 2, 1, [0.5, 0.495]],
  ["2-sum-1.005", 2, 1, [0.5, 0.505]],
  ["2-sum-0.98", 2, 1, [0.5, 0.48]],
  ["2-sum-2", 2, 1, [1, 1]],
  ["2-relative-1-3", 2, 1, [1, 3]],
  ["2-percent", 2, 1, [50, 50]],
  ["2-negative-weight", 2, 1, [1.5, -0.5]],
  ["2-wrong-length", 2, 1, [0.2, 0.3, 0.5]],
  ["2-empty-weights", 2, 1, []],
  ["3-default", 3, undefined, undefined],
  ["3-thirds", 3, 1, [1 / 3, 1 / 3, 1 / 3]],
  ["3-uneven", 3, 1, [0.2, 0.3, 0.5]],
  ["3-uneven-cov", 3, 0.4, [0.2, 0.3, 0.5]],
  ["3-sum-below-1", 3, 1, [0.7, 0.2, 0.1]],
  ["3-rounded", 3, 1, [0.33, 0.33, 0.34]],
  ["4-default-cov", 4, 0.75, undefined],
  ["5-fifths", 5, 1, [0.2, 0.2, 0.2, 0.2, 0.2]],
  ["7-sevenths", 7, 0.3, Array(7).fill(1 / 7)],
  ["10-tenths", 10, 1, Array(10).fill(0.1)],
  ["10-tenths-cov", 10, 0.5, Array(10).fill(0.1)],
  ["20-twentieths", 20, 1, Array(20).fill(0.05)],
  ["1-variation", 1, 1, [1]],
  ["0-variations", 0, 1, []],
  ["-1-variations", -1, 1, undefined],
];

const NS = [["homepage", 0, 0.4], ["homepage", 0.4, 1], ["checkout", 0.25, 0.5], ["checkout", 0, 1],
  ["用户", 0.1, 0.9], ["emoji😀", 0.5, 0.75], ["empty-range", 0.3, 0.3]];

// ---------------------------------------------------------------------------------------------
// Vectors.

function hashCases(sdk) {
  const cases = [];
  const seen = new Set();
  const add = (label, seedLabel, seed, value, version) => {
    const id = `v${version}/${seedLabel}/${label}`;
    if (seen.has(id)) return;
    seen.add(id);
    cases.push({
      id,
      seed,
      value,
      version,
      value_length: value.length,
      expected: sdk.util.hash(seed, value, version),
    });
  };
  const all = strings();
  all.forEach(([label, value], i) => {
    add(label, "empty", "", value, 1);
    add(label, "ns", "__homepage", value, 1);
    add(label, "seed", "seed", value, 2);
    add(label, "exp", "homepage-2024", value, 2);
    // Every seed on every eighth string, so non-ASCII seeds meet every kind of value.
    if (i % 8 === 0) {
      for (const [seedLabel, seed] of SEEDS.slice(2)) {
        for (const version of [1, 2]) {
          if (!(seedLabel === "ns" && version === 1) && !(seedLabel === "exp" && version === 2)) {
            add(label, seedLabel, seed, value, version);
          }
        }
      }
    }
  });
  for (const [label, value] of all.filter(([l]) => l.startsWith("lone_surrogate"))) {
    for (const [seedLabel, seed] of SEEDS.slice(-2)) {
      for (const version of [1, 2]) add(label, seedLabel, seed, value, version);
    }
  }
  for (const [label, value] of longStrings()) {
    add(label, "empty", "", value, 1);
    add(label, "seed", "seed", value, 2);
  }
  // Unknown versions: the SDK returns null and the experiment is skipped.
  for (const version of [0, 3]) add("ascii-1", "seed", "seed", "a", version);
  return cases;
}

function rangeCases(sdk) {
  return BUCKET_SETTINGS.map(([label, n, coverage, weights]) => {
    const [ranges, logs] = capturingConsole(() => sdk.util.getBucketRanges(n, coverage, weights));
    const c = { id: label, num_variations: n };
    if (coverage !== undefined) c.coverage = coverage;
    if (weights !== undefined) c.weights = weights;
    c.expected = ranges;
    if (logs.length) c.sdk_log = logs;
    return c;
  });
}

// Points on and next to every range end: the ends themselves, and the hash values (multiples of
// 1/10000, computed as the SDK does) on either side, where float rounding of the cumulative
// weights decides the variation (10 x 0.1: the third range ends at 0.30000000000000004).
function variationCases(sdk, ranges) {
  const cases = [];
  const seen = new Set();
  for (const r of ranges) {
    const key = JSON.stringify(r.expected);
    // Longer range lists are in bucket_ranges only: each case repeats its ranges.
    if (r.expected.length === 0 || r.expected.length > 10 || seen.has(key)) continue;
    seen.add(key);
    const points = [-0.0001, 0.5, 0.9999, 1];
    for (const end of r.expected.flat()) {
      const k = Math.round(end * 10000);
      points.push(end, (k - 1) / 10000, k / 10000);
    }
    const ns = [...new Set(points)].sort((a, b) => a - b);
    for (const n of ns) {
      cases.push({
        id: `${r.id}/n=${n}`,
        n,
        ranges: r.expected,
        expected: sdk.util.chooseVariation(n, r.expected),
      });
    }
  }
  cases.push({ id: "no-ranges/n=0.5", n: 0.5, ranges: [], expected: sdk.util.chooseVariation(0.5, []) });
  return cases;
}

function namespaceCases(sdk) {
  const cases = [];
  const values = strings().filter((_, i) => i % 6 === 0);
  for (const ns of NS) {
    for (const [label, value] of values) {
      if (value === "") continue; // the SDK never hashes an empty id (getHashAttribute)
      cases.push({
        id: `${ns[0]}[${ns[1]},${ns[2]})/${label}`,
        value,
        namespace: ns,
        hash: sdk.util.hash(`__${ns[0]}`, value, 1),
        expected: sdk.util.inNamespace(value, ns),
      });
    }
  }
  return cases;
}

// Whole experiments through GrowthBook#run: the hashing, ranges and namespace as the SDK
// combines them. hashVersion 2 is what the server uses; the SDK defaults to 1.
function experimentCases(sdk) {
  const settings = [
    ["2-half", { weights: [0.5, 0.5] }],
    ["2-uneven-cov", { weights: [0.1, 0.9], coverage: 0.5 }],
    ["3-uneven", { weights: [0.2, 0.3, 0.5] }],
    ["3-default-cov", { coverage: 0.6 }],
    ["10-tenths", { weights: Array(10).fill(0.1) }],
    ["2-namespace", { weights: [0.5, 0.5], namespace: ["homepage", 0, 0.5] }],
    ["2-half-v1", { weights: [0.5, 0.5], hashVersion: 1 }],
  ];
  const values = strings().filter(([label], i) => i % 6 === 1 || label === "ascii-0");
  const cases = [];
  for (const [label, extra] of settings) {
    const n = extra.weights ? extra.weights.length : 3;
    for (const [valueLabel, value] of values) {
      const experiment = {
        key: "exp-key",
        seed: "homepage-2024",
        hashVersion: 2,
        variations: Array.from({ length: n }, (_, i) => i),
        ...extra,
      };
      const gb = new sdk.GrowthBook({ attributes: { id: value } });
      const [result] = capturingConsole(() => gb.run(experiment));
      gb.destroy();
      const c = {
        id: `${label}/${valueLabel}`,
        value,
        seed: experiment.seed,
        hash_version: experiment.hashVersion,
        num_variations: n,
      };
      for (const key of ["weights", "coverage", "namespace"]) {
        if (experiment[key] !== undefined) c[key] = experiment[key];
      }
      c.in_experiment = result.inExperiment;
      c.variation_id = result.inExperiment ? result.variationId : -1;
      if (result.bucket !== undefined) c.bucket = result.bucket;
      if (value === "") c.note = "an empty id is never hashed: the SDK skips the experiment";
      cases.push(c);
    }
  }
  return cases;
}

function checkRoundTrip(vectors) {
  // Well-formed JSON.stringify writes lone surrogates as \udXXX escapes, which JSON.parse (and
  // Python's json.loads) read back into the same code unit: every string round-trips.
  const back = JSON.parse(JSON.stringify(vectors));
  for (const [kind, cases] of Object.entries(vectors)) {
    if (!Array.isArray(cases)) continue;
    cases.forEach((c, i) => {
      for (const key of ["seed", "value"]) {
        if (key in c && back[kind][i][key] !== c[key]) {
          throw new Error(`${kind} ${c.id}: ${key} does not round-trip through JSON`);
        }
      }
    });
  }
}

// One case a line: small enough to publish, and a regenerated file diffs case by case.
function format(vectors) {
  const parts = Object.entries(vectors).map(([kind, value]) =>
    Array.isArray(value)
      ? `${JSON.stringify(kind)}: [\n${value.map((c) => `  ${JSON.stringify(c)}`).join(",\n")}\n ]`
      : `${JSON.stringify(kind)}: ${JSON.stringify(value, null, 2).replace(/\n/g, "\n ")}`,
  );
  return `{\n ${parts.join(",\n ")}\n}\n`;
}

async function generate(sdk, out) {
  const ranges = rangeCases(sdk);
  const vectors = {
    metadata: {
      sdk: PACKAGE,
      sdk_version: sdk.version,
      sdk_source: "packages/sdk-js/src/util.ts (hashFnv32a, hash, getBucketRanges, chooseVariation, inNamespace), src/core.ts (runExperiment)",
      node_version: process.version,
      generated_by: "tests/feedback/growthbook/generate_vectors.mjs",
      command:
        `npm install --no-audit --no-fund --prefix /tmp/growthbook-sdk ${PACKAGE}@${PINNED} && ` +
        "node tests/feedback/growthbook/generate_vectors.mjs --sdk-prefix /tmp/growthbook-sdk " +
        "--out docs/growthbook-vectors.json",
      strings: "FNV-1a 32 runs over UTF-16 code units (String.prototype.charCodeAt); lengths are in UTF-16 units. Lone surrogates are written as \\udXXX escapes and read back as the same unit.",
      kinds: {
        hash: "hash(seed, value, version) -> number, or null for an unknown version",
        bucket_ranges: "getBucketRanges(num_variations, coverage, weights) -> [[start, end], ...]; a missing key is undefined; sdk_log is what the SDK printed with console.error",
        choose_variation: "chooseVariation(n, ranges) -> index, or -1",
        in_namespace: "inNamespace(value, [name, start, end]) -> boolean; hash is hash('__' + name, value, 1)",
        experiment: "new GrowthBook({attributes: {id: value}}).run({key, seed, hashVersion, variations: [0..num_variations), weights, coverage, namespace}) -> in_experiment, variation_id (-1 when not in the experiment), bucket",
      },
      excluded: "nothing: every string round-trips through JSON",
    },
    hash: hashCases(sdk),
    bucket_ranges: ranges,
    choose_variation: variationCases(sdk, ranges),
    in_namespace: namespaceCases(sdk),
    experiment: experimentCases(sdk),
  };
  checkRoundTrip(vectors);
  writeFileSync(out, format(vectors), "utf8");
  const counts = Object.entries(vectors)
    .filter(([, v]) => Array.isArray(v))
    .map(([k, v]) => `${k} ${v.length}`);
  console.log(`${relative(process.cwd(), out)}: ${counts.join(", ")} (${sdk.version})`);
}

function evaluate(sdk, input, out) {
  const { values, seeds, settings } = JSON.parse(readFileSync(input, "utf8"));
  const ranges = settings.map((s) => {
    const [r] = capturingConsole(() => sdk.util.getBucketRanges(s.num_variations, s.coverage, s.weights));
    return r;
  });
  const results = values.map((value) => {
    const v2 = seeds.map((seed) => sdk.util.hash(seed, value, 2));
    return {
      value,
      length: value.length,
      v1: seeds.map((seed) => sdk.util.hash(seed, value, 1)),
      v2,
      variation: v2.map((n) => ranges.map((r) => sdk.util.chooseVariation(n, r))),
    };
  });
  writeFileSync(out, JSON.stringify({ sdk_version: sdk.version, ranges, results }), "utf8");
}

const { values: args } = parseArgs({
  options: {
    "sdk-prefix": { type: "string" },
    out: { type: "string", default: join(REPO, "docs", "growthbook-vectors.json") },
    evaluate: { type: "string" },
  },
});
const sdk = await loadSdk(args["sdk-prefix"]);
if (args.evaluate) evaluate(sdk, args.evaluate, args.out);
else await generate(sdk, args.out);
