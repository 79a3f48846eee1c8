// The pure scheduling rule of tether.js, under Node's own test runner: `node --test tests/js/`.
// tether.js exports `schedule` and `timing` when it is loaded as a CommonJS module.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { schedule, timing } = require("../../src/tether/static/tether.js");

const S = 1000;
const T0 = 1_900_000_000_000;

// A session heard at T0 with `remaining` seconds of idle time, as the leader sees it.
function view(overrides = {}, { idle = 60, warn = 12, remaining = idle, absolute = 3600 } = {}) {
  return {
    facts: { exp: T0 + remaining * S, abs: T0 + absolute * S, idle, warn, at: T0 },
    phase: "active",
    leader: true,
    lockable: true,
    reachable: true,
    shown: true,
    jitter: 0,
    lastAct: 0,
    peerAct: 0,
    handled: 0,
    pushed: 0,
    stole: 0,
    asked: 0,
    ...overrides,
  };
}

test("the margin scales with the timeout: 3 s for 60 s, 60 s for 20 min, at most 90 s", () => {
  assert.equal(timing(view().facts).slack, 3 * S);
  assert.equal(timing(view({}, { idle: 1200, warn: 120 }).facts).slack, 60 * S);
  assert.equal(timing(view({}, { idle: 43200, warn: 120 }).facts).slack, 90 * S);
});

test("the deadline is the end minus warn_before minus the margin", () => {
  const t = timing(view().facts);
  assert.equal(t.end, T0 + 60 * S);
  assert.equal(t.deadline, T0 + 45 * S);
  assert.equal(t.seen, T0); // the server saw activity when it answered with a full window
  assert.equal(t.capped, false);
});

test("before the deadline the leader waits, never longer than the margin or 10 s", () => {
  assert.deepEqual(schedule(view(), T0), { step: "wait", at: T0 + 3 * S });
  const long = view({}, { idle: 1200, warn: 120 });
  assert.deepEqual(schedule(long, T0), { step: "wait", at: T0 + 10 * S });
});

test("the leader wakes exactly at the deadline", () => {
  assert.deepEqual(schedule(view(), T0 + 44.5 * S), { step: "wait", at: T0 + 45 * S });
});

test("at the deadline: activity since the server last saw some beats, none warns", () => {
  const at = T0 + 45 * S;
  assert.equal(schedule(view(), at).step, "warn");
  assert.equal(schedule(view({ lastAct: T0 + 10 * S }), at).step, "beat");
  assert.equal(schedule(view({ peerAct: T0 + 10 * S }), at).step, "beat", "activity reported by another tab");
  assert.equal(schedule(view({ lastAct: T0 - S }), at).step, "warn", "activity the server already counted");
});

test("the absolute limit warns even an active user: a beat cannot help", () => {
  const capped = view({ lastAct: T0 + 10 * S }, { absolute: 50 });
  const { deadline } = timing(capped.facts);
  assert.equal(schedule(capped, deadline).step, "warn");
});

test("each deadline is acted on once, give or take a round trip", () => {
  const at = T0 + 46 * S;
  assert.equal(schedule(view({ handled: T0 + 45 * S }), at).step, "wait");
  assert.equal(schedule(view({ handled: T0 + 44 * S }), at).step, "wait");
  assert.equal(schedule(view({ handled: T0 - 15 * S }), at).step, "warn", "an earlier deadline does not count");
});

test("a follower tells the leader about its activity half a margin before the deadline", () => {
  const follower = { leader: false, lastAct: T0 + 20 * S };
  assert.equal(schedule(view(follower), T0 + 43 * S).step, "wait");
  assert.equal(schedule(view(follower), T0 + 43.5 * S).step, "push");
  assert.equal(schedule(view({ ...follower, pushed: T0 + 45 * S }), T0 + 44 * S).step, "wait");
  assert.equal(schedule(view({ leader: false }), T0 + 44 * S).step, "wait", "nothing to tell");
});

test("a visible follower takes over from a late leader half a margin after the deadline", () => {
  const follower = { leader: false };
  assert.equal(schedule(view(follower), T0 + 46 * S).step, "wait");
  assert.equal(schedule(view(follower), T0 + 46.5 * S).step, "steal");
  assert.equal(schedule(view({ ...follower, stole: T0 + 45 * S }), T0 + 47 * S).step, "wait");
  assert.equal(schedule(view({ ...follower, shown: false }), T0 + 47 * S).step, "wait", "a hidden tab is throttled too");
  assert.equal(schedule(view({ ...follower, reachable: false }), T0 + 47 * S).step, "wait");
  assert.equal(schedule(view({ ...follower, phase: "warning" }), T0 + 47 * S).step, "wait");
});

test("at the end the leader asks the server, once per end; a follower only later", () => {
  const end = T0 + 60 * S;
  const warned = { phase: "warning", handled: T0 + 45 * S };
  assert.equal(schedule(view(warned), end).step, "check");
  assert.equal(schedule(view({ ...warned, asked: end }), end + S).step, "wait");
  const follower = { ...warned, leader: false };
  assert.equal(schedule(view(follower), end + 4 * S).step, "wait");
  assert.equal(schedule(view(follower), end + 5 * S).step, "check");
});

test("while warning, the countdown wakes on every whole second", () => {
  const warned = view({ phase: "warning", handled: T0 + 45 * S });
  assert.deepEqual(schedule(warned, T0 + 50.25 * S), { step: "wait", at: T0 + 51 * S });
});

test("without Web Locks every tab leads: it also reports its activity, and jitter spreads the decisions", () => {
  const alone = { lockable: false, lastAct: T0 + 20 * S };
  assert.equal(schedule(view(alone), T0 + 43.5 * S).step, "push");
  const late = { ...alone, jitter: 1, pushed: T0 + 45 * S };
  assert.equal(schedule(view(late), T0 + 45 * S).step, "wait");
  assert.equal(schedule(view(late), T0 + 46.5 * S).step, "beat");
});

test("after a wake-up from system sleep past the end, the first look asks the server", () => {
  assert.equal(schedule(view(), T0 + 3600 * S).step, "check");
});
