#!/usr/bin/env node
// Build src/tether/static/tether.min.js from tether.js with terser (pinned in
// package-lock.json). The first line of the output records the source's SHA-256 (first 16 hex digits), so
// a test can tell a stale minified file without Node: tests/browser/test_build.py.
//
//   npm ci && npm run build      rewrite tether.min.js
//   npm run check                exit 1 if tether.min.js is not what the build makes
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { minify } from "terser";

const dir = new URL("../src/tether/static/", import.meta.url);
const source = readFileSync(new URL("tether.js", dir), "utf8");
const digest = createHash("sha256").update(source).digest("hex");
// The fields of tether.js's own state objects (marks, net, lead, ui, the schedule's view
// and timing). Terser renames locals but not properties: unlisted, these readable names
// would cost ~190 bytes gzipped (5,721 against 5,528, measured before the multi-tab fixes). Only names that never appear on a
// browser, server or config object may be listed (not state, online, leader, pending,
// end, at, exp, abs, idle, warn, heart, stay, checked, locks; terser also leaves DOM
// property names alone): a new field missing here still works, it just costs its length.
const INTERNAL = [
  "facts", "phase", "lastAct", "peerAct", "handled", "pushed", "stole", "asked", "warnAt",
  "want", "inflight", "retryTimer", "retryAfter", "fails", "confirming", "held", "queued", "gen", "owesCheck",
  "reachable", "count", "letGo", "hostElement", "beats", "dialogElement", "messageElement",
  "stayButton", "liveElement", "heartSign", "timeElement", "spoken", "focusBack",
  "lockable", "shown", "jitter", "slack", "deadline", "seen", "capped",
];
const result = await minify(source, {
  ecma: 2020,
  compress: { passes: 2 },
  mangle: { properties: { regex: new RegExp(`^(${INTERNAL.join("|")})$`) } },
  format: { comments: false },
});
const out = `/*! tether.js src:${digest.slice(0, 16)} */\n${result.code}\n`;
const target = new URL("tether.min.js", dir);
if (process.argv.includes("--check")) {
  let current = "";
  try {
    current = readFileSync(target, "utf8");
  } catch {}
  if (current !== out) {
    console.error("tether.min.js is out of date: run `npm run build`");
    process.exit(1);
  }
} else {
  writeFileSync(target, out);
}
console.log(`tether.min.js: ${out.length} bytes, ${gzipSync(out, { level: 9 }).length} bytes gzipped`);
