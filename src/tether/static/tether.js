/*! tether.js: session keep-alive client for tether. No dependencies. */
// Readable source. tether.min.js is built from this file with terser (`npm run build`).
//
// How it works (DESIGN §5), in one paragraph: the server owns the clock and tells every
// page how long its session has left. One tab per browser (the leader, holding a Web
// Lock) keeps ONE deadline: the expiry minus warn_before minus a margin that scales with
// the timeout. At that moment it pings the server if someone was active in any tab since
// the server last saw activity, and otherwise warns in every tab. Tabs share facts over a
// BroadcastChannel (localStorage events where that is missing). Only the server's 401
// ends a session; network trouble is retried with back-off.
//
// CSP: no eval, no inline script, no <style> element, no style attributes in markup. The
// dialog lives in an open shadow root styled by a constructed stylesheet
// (adoptedStyleSheets), which `style-src 'self'` does not block; the only inline style
// written is the CSSOM `visibility` that veils a page restored from the back/forward
// cache until the server confirms the session. DOM is built with createElement, never
// innerHTML, so Trusted Types policies are satisfied too.
(() => {
  "use strict";
  const script = document.currentScript;
  const raw = script && script.getAttribute("data-tether");
  if (!raw || window.tether) return;
  let cfg;
  try {
    cfg = JSON.parse(raw);
  } catch (e) {
    console.error("tether: bad data-tether", e);
    return;
  }

  const S = 1000;
  const now = () => Date.now();
  const T = Object.assign(
    {
      title: "Are you still there?",
      body: "For your security you will be signed out in {time}.",
      absolute: "Your session reaches its time limit in {time}. Save your work: you will need to sign in again.",
      stay: "Stay signed in",
      ok: "OK",
      signout: "Sign out",
      left: "{time} left before you are signed out.",
    },
    cfg.texts
  );
  const NAME = "tether " + cfg.heartbeat;
  const DRAFT = "tether:draft:" + location.pathname + location.search;

  // -- facts and state -------------------------------------------------------------------
  // f: what the server last said, as wall-clock milliseconds (every tab of a browser
  // shares Date.now(), so absolute times can be broadcast).
  //   exp: idle expiry, abs: absolute expiry, idle/warn: policy seconds, at: when heard.
  let f = null;
  let state = "active"; // "active" | "warning" | "ended"
  let online = true;
  let leader = false;
  let lastAct = 0; // this tab's latest user activity
  let peerAct = 0; // latest activity other tabs reported
  let timer = 0;
  let handled = 0; // the deadline the leader already acted on
  let pushed = 0; // the deadline for which this tab already reported its activity
  let stole = 0; // the deadline at which this (visible) tab took over from a late leader
  let warnAt = 0;
  let pending = 0;
  let quiet = false; // our own focus() calls are not user activity
  const jitter = navigator.locks ? 0 : Math.random(); // without locks every tab leads; spread them

  const near = (a, b) => Math.abs(a - b) < S;
  const visible = () => document.visibilityState === "visible";
  const endAt = () => Math.min(f.exp, f.abs);
  // The margin absorbs late timers (background throttling, up to a minute) and the
  // round trip. It scales with the timeout: 3 s for 60 s, 60 s for 20 min.
  const margin = () => Math.min(90, Math.max(1, f.idle / 20), (f.idle - f.warn) / 4) * S;
  const deadline = () => endAt() - f.warn * S - margin();
  // When the server last saw activity: activity after this is news to it.
  const base = () => f.exp - f.idle * S;
  const capped = () => f.abs <= f.exp; // the absolute limit binds: a beat cannot help

  function emit(name, detail) {
    return document.dispatchEvent(new CustomEvent("tether:" + name, { detail, cancelable: true }));
  }
  const info = () => ({
    remaining: Math.max(0, (endAt() - now()) / S),
    absolute: capped(),
    leader,
  });

  // -- shared facts between tabs -------------------------------------------------------
  // bc: the channel; null where BroadcastChannel is missing (localStorage then carries
  // the messages); 0 while the page sits in the back/forward cache (a message would
  // evict it, and a frozen page cannot act on one anyway).
  let bc = null;
  function connect() {
    try {
      bc = new BroadcastChannel(NAME);
      bc.onmessage = (e) => receive(e.data);
    } catch (e) {
      addEventListener("storage", (ev) => {
        if (ev.key === NAME && ev.newValue) {
          try {
            receive(JSON.parse(ev.newValue)[0]);
          } catch (x) {
            /* not ours */
          }
        }
      });
    }
  }
  function send(m) {
    if (bc) bc.postMessage(m);
    else if (bc === null) {
      try {
        localStorage.setItem(NAME, JSON.stringify([m, Math.random()]));
      } catch (e) {
        /* storage disabled: each tab then works alone */
      }
    }
  }
  connect();

  function receive(m) {
    if (!m || state === "ended") return;
    switch (m.t) {
      case "fact":
        apply(m.f, m.beat);
        break;
      case "act":
        peerAct = Math.max(peerAct, m.at);
        // Activity from before the warning, heard late: the user was there after all.
        if (leader && state === "warning" && m.at > base() && m.at < warnAt && !capped()) op("beat");
        break;
      case "warn":
        if (lastAct > base() && lastAct < m.at) send({ t: "act", at: lastAct });
        else enterWarning();
        break;
      case "ok":
        dismiss(false);
        break;
      case "end":
        finish(m.reason, false);
        break;
      case "gone": // a page of this browser rendered without a session: ask the server
        op("check");
        break;
      case "net":
        net(m.ok, false);
    }
  }

  // -- server facts ----------------------------------------------------------------------
  function adopt(b, share, beat) {
    const t = now();
    const n = {
      exp: t + b.idle_remaining * S,
      abs: t + b.absolute_remaining * S,
      idle: b.idle_timeout,
      warn: b.warn_before,
      at: t,
    };
    if (f && Math.abs(n.abs - f.abs) < 2 * S) n.abs = f.abs; // fixed per session; no jitter
    if (share) send({ t: "fact", f: n, beat });
    apply(n, beat);
  }

  function apply(n, beat) {
    if (state === "ended" || (f && n.at < f.at)) return; // older news
    f = n;
    if (beat) {
      pulse();
      emit("beat", info());
    }
    if (state === "warning" && now() < deadline()) {
      state = "active";
      hideWarning();
      emit("extended", info());
    }
    tick();
  }

  // -- the one deadline ------------------------------------------------------------------
  function tick() {
    clearTimeout(timer);
    if (state === "ended" || !f) return;
    const t = now();
    const E = endAt();
    const D = deadline();
    const m = margin();
    const lead = leader && navigator.locks;
    if (state === "warning") render(t);
    if (t >= E + (leader ? 0 : m + 2 * S)) {
      op("check"); // expired by our clock, but only the server may say so (op() dedupes)
    } else {
      if (!lead && t >= D - m / 2 && !near(pushed, D)) {
        pushed = D; // tell the leader about activity here before it decides
        if (lastAct > base()) send({ t: "act", at: lastAct });
      }
      if (leader && state === "active" && t >= D + (jitter * m) / 2 && !near(handled, D)) {
        handled = D;
        decide();
      } else if (!leader && online && state === "active" && t >= D + m / 2 && visible() && !near(stole, D)) {
        stole = D; // the leader is late (a throttled background tab?): take over
        take(true);
      }
    }
    // Sleep for the next interesting instant, but never long: a wake-up after system
    // sleep must notice that the wall clock jumped.
    let next = t + Math.min(10 * S, m);
    for (const p of [D - m / 2, D, D + m / 2, E, E + m + 2 * S]) if (p > t && p < next) next = p;
    if (state === "warning") next = Math.min(next, t + ((E - t) % S || S));
    timer = setTimeout(tick, next - t);
  }

  function decide() {
    if (capped()) warn();
    else if (Math.max(lastAct, peerAct) > base()) op("beat");
    else warn();
  }

  function warn() {
    warnAt = now();
    send({ t: "warn", at: warnAt });
    enterWarning();
  }

  function enterWarning() {
    if (state !== "active") return;
    state = "warning";
    showWarning();
    emit("warning", info());
    tick();
  }

  // The absolute limit's warning can only be acknowledged; it does not come back.
  function dismiss(share) {
    if (state !== "warning") return;
    handled = deadline();
    state = "active";
    hideWarning();
    if (share) send({ t: "ok" });
    tick();
  }

  // -- talking to the server -------------------------------------------------------------
  const RANK = { check: 1, beat: 2, end: 3 };
  let want = null; // the strongest request wished for: end > beat > check
  let inflight = false;
  let retry = 0;
  let fails = 0;
  let veiled = false;

  function op(kind, user) {
    if (state === "ended") return;
    if (!want || RANK[kind] > RANK[want]) want = kind;
    if (user && retry) {
      clearTimeout(retry); // the user asked: try now, not after the back-off
      retry = 0;
    }
    if (!inflight && !retry) run();
  }

  async function run() {
    const kind = want;
    retry = 0;
    if (!kind || state === "ended") return;
    want = null;
    inflight = true;
    pending++;
    const r = await call(kind);
    inflight = false;
    try {
      if (state === "ended") return;
      if (r.s === 200 && kind === "end") {
        finish("logout", true);
      } else if (r.s === 200 && r.b && r.b.state === "active") {
        fails = 0;
        net(true);
        unveil();
        adopt(r.b, true, kind === "beat");
        if (want) run();
      } else if (r.s === 401) {
        net(true);
        finish((r.b && r.b.reason) || "none", true);
      } else {
        // Offline, 503, a proxy error: never an ending. Back off (with jitter) and retry.
        net(false);
        if (f && now() < endAt()) unveil();
        if (!want || RANK[kind] > RANK[want]) want = kind;
        const cap = Math.min(30 * S, Math.max(2 * S, f ? margin() : 0));
        const c = Math.min(cap, S * 2 ** fails++);
        retry = setTimeout(run, Math.max(c / 2 + (Math.random() * c) / 2, Math.min(r.ra, 60) * S || 0));
      }
    } finally {
      pending--;
    }
  }

  async function call(kind) {
    const post = kind !== "check";
    const ctl = new AbortController();
    const stop = setTimeout(() => ctl.abort(), 20 * S);
    try {
      const res = await fetch(cfg[kind === "check" ? "status" : kind === "beat" ? "heartbeat" : "end"], {
        method: post ? "POST" : "GET",
        credentials: "same-origin",
        cache: "no-store",
        headers: post ? { "Content-Type": "application/json" } : {},
        body: post ? "{}" : undefined,
        signal: ctl.signal,
      });
      let b = null;
      try {
        b = await res.json();
      } catch (e) {
        /* not JSON: treated as a network error below */
      }
      return { s: b ? res.status : 0, b, ra: +res.headers.get("Retry-After") || 0 };
    } catch (e) {
      return { s: 0 };
    } finally {
      clearTimeout(stop);
    }
  }

  function net(ok, share = true) {
    if (ok === online) return;
    online = ok;
    if (host) host.toggleAttribute("data-offline", !ok);
    if (share) send({ t: "net", ok });
    emit(ok ? "online" : "offline", {});
  }

  // -- the end, in every tab ---------------------------------------------------------------
  function finish(reason, share) {
    if (state === "ended") return;
    state = "ended";
    clearTimeout(timer);
    clearTimeout(retry);
    release();
    if (share) send({ t: "end", reason });
    hideWarning(true);
    const out = reason === "logout";
    if (emit(out ? "ended" : "expired", { reason })) {
      let url = cfg.login_url;
      if (!out) {
        save();
        url += (url.includes("?") ? "&" : "?") + "next=" + encodeURIComponent(location.pathname + location.search + location.hash);
      }
      location.replace(url);
    }
  }

  // -- leadership: one Web Lock per browser ------------------------------------------------
  let queued = null; // AbortController of our waiting lock request
  let gen = 0;
  let release = () => {};

  function take(steal) {
    if (leader || state === "ended") return;
    if (!navigator.locks) {
      leader = true;
      return;
    }
    if (queued) queued.abort();
    const mine = ++gen;
    queued = steal ? null : new AbortController();
    navigator.locks
      .request(NAME, steal ? { steal: true } : { signal: queued.signal }, () =>
        new Promise((done) => {
          leader = true;
          queued = null;
          release = () => {
            leader = false;
            done();
          };
          tick();
        })
      )
      .catch(() => {
        // Stolen by a tab that became visible: queue up again behind it.
        if (mine !== gen) return;
        leader = false;
        if (!veiled) take(false);
      });
  }

  function drop() {
    gen++;
    if (queued) queued.abort();
    queued = null;
    release();
  }

  // -- activity: a timestamp, nothing more ------------------------------------------------
  const mark = (e) => {
    if (e.isTrusted && !quiet) lastAct = now();
  };

  // -- drafts (WCAG 2.2.5): forms marked data-tether-preserve ------------------------------
  const forms = () => [...document.querySelectorAll("form[data-tether-preserve]")];
  const fields = (form) =>
    [...form.elements].filter(
      (el) => el.name && !/^(password|file|hidden|submit|button|reset|image)$/.test(el.type) && !el.closest("[data-tether-ignore]")
    );
  const formKey = (form, i) => form.getAttribute("id") || form.getAttribute("name") || i;

  function save() {
    const d = {};
    forms().forEach((form, i) => {
      d[formKey(form, i)] = fields(form).map((el) => [
        el.name,
        /^(checkbox|radio)$/.test(el.type) ? el.checked : el.multiple ? [...el.selectedOptions].map((o) => o.value) : el.value,
      ]);
    });
    try {
      if (Object.keys(d).length) sessionStorage.setItem(DRAFT, JSON.stringify({ who: cfg.user, at: now(), d }));
    } catch (e) {
      /* storage full or disabled */
    }
  }

  function restore() {
    let v = null;
    try {
      v = JSON.parse(sessionStorage.getItem(DRAFT));
      sessionStorage.removeItem(DRAFT);
    } catch (e) {
      return;
    }
    // Only for the same user, and only a fresh draft: a shared computer must not hand
    // one person's typing to the next.
    if (!v || v.who !== cfg.user || now() - v.at > 864e5) return;
    let n = 0;
    forms().forEach((form, i) => {
      const saved = v.d[formKey(form, i)];
      if (!saved) return;
      fields(form).forEach((el, j) => {
        const x = saved[j];
        if (!x || x[0] !== el.name) return;
        if (typeof x[1] === "boolean") el.checked = x[1];
        else if (Array.isArray(x[1])) for (const o of el.options) o.selected = x[1].includes(o.value);
        else el.value = x[1];
        el.dispatchEvent(new Event("input", { bubbles: true }));
        el.dispatchEvent(new Event("change", { bubbles: true }));
        n++;
      });
    });
    if (n) emit("restored", { fields: n });
  }

  // -- back/forward cache: show nothing until the server confirms -----------------------------
  function veil() {
    veiled = true;
    document.documentElement.style.visibility = "hidden";
  }
  function unveil() {
    if (!veiled) return;
    veiled = false;
    document.documentElement.style.visibility = "";
  }

  // -- the warning dialog, the live region and the heart ---------------------------------------
  let host = null;
  let root, dlg, desc, timeEl, live, stayBtn, outBtn, heart, back, spoken;
  let beats = 0;
  const STEPS = [10, 30, 60, 120, 300];
  const CSS =
    "dialog{max-width:min(28rem,calc(100vw - 2rem));padding:1.25rem 1.5rem;border:0;" +
    "border-radius:var(--tether-radius,.6rem);background:var(--tether-bg,#fff);color:var(--tether-fg,#1d232a);" +
    "font:var(--tether-font,inherit);box-shadow:0 .5rem 2rem #0005}" +
    "dialog::backdrop{background:var(--tether-backdrop,#0007)}" +
    "h2{margin:0 0 .5rem;font-size:1.25em}.time{font-weight:700;font-variant-numeric:tabular-nums}" +
    ".actions{display:flex;flex-wrap:wrap;gap:.75rem;margin-top:1.25rem}" +
    "button{font:inherit;padding:.5em 1em;border:2px solid var(--tether-accent,#1f4fd1);border-radius:.4rem;" +
    "background:none;color:inherit;cursor:pointer}.stay{background:var(--tether-accent,#1f4fd1);color:var(--tether-accent-fg,#fff)}" +
    "button:focus-visible{outline:3px solid var(--tether-focus,#e8a317);outline-offset:2px}" +
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}" +
    ".heart{position:fixed;right:var(--tether-heart-right,1rem);bottom:var(--tether-heart-bottom,1rem);" +
    "color:var(--tether-heart-color,#d22);font-size:var(--tether-heart-size,1.5rem);line-height:1;pointer-events:none;z-index:2147483647}" +
    ":host([data-offline]) .heart{color:var(--tether-heart-offline,#999)}";

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text) e.textContent = text;
    return e;
  }

  function focus(target) {
    quiet = true;
    try {
      target.focus();
    } finally {
      quiet = false;
    }
  }

  function ui() {
    if (cfg.ui === false) return;
    host = el("div", { "data-tether-ui": "" });
    root = host.attachShadow({ mode: "open" });
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } catch (e) {
      /* no constructable stylesheets: the browser's own dialog style remains */
    }
    dlg = el("dialog", {
      role: "alertdialog",
      "aria-modal": "true",
      "aria-labelledby": "tether-title",
      "aria-describedby": "tether-desc",
      part: "dialog",
    });
    desc = el("p", { id: "tether-desc" });
    stayBtn = el("button", { type: "button", class: "stay", part: "stay" });
    outBtn = el("button", { type: "button", class: "out", part: "signout" }, T.signout);
    live = el("p", { class: "sr", role: "status", "aria-live": "polite" });
    const actions = el("div", { class: "actions" });
    actions.append(stayBtn, outBtn);
    dlg.append(el("h2", { id: "tether-title" }, T.title), desc, actions, live);
    root.append(dlg);
    if (cfg.heart) root.append((heart = el("span", { class: "heart", part: "heart", "aria-hidden": "true" }, "\u2665")));

    stayBtn.onclick = stay;
    outBtn.onclick = () => op("end", true);
    dlg.addEventListener("cancel", (e) => {
      e.preventDefault(); // Escape means "stay"
      stay();
    });
    dlg.addEventListener("close", () => {
      // We close it only after leaving "warning"; otherwise the browser closed it
      // (a second Escape without user activation), which still means "stay".
      if (state === "warning") stay();
    });
    dlg.addEventListener("keydown", (e) => {
      if (e.key !== "Tab") return;
      const order = [stayBtn, outBtn];
      const i = order.indexOf(root.activeElement);
      if (i < 0 || i === (e.shiftKey ? 0 : order.length - 1)) {
        e.preventDefault(); // keep focus inside the dialog
        focus(order[e.shiftKey ? order.length - 1 : 0]);
      }
    });
    document.body.append(host);
  }

  function stay() {
    if (capped()) dismiss(true);
    else op("beat", true);
  }

  function fmt(s) {
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  // "10 seconds", "2 minutes", in the page's language.
  const words = (s) =>
    new Intl.NumberFormat(document.documentElement.lang || undefined, {
      style: "unit",
      unit: s < 60 ? "second" : "minute",
      unitDisplay: "long",
    }).format(s < 60 ? s : Math.round(s / 60));

  function render(t) {
    if (!dlg) return;
    const s = Math.max(0, Math.ceil((endAt() - t) / S));
    timeEl.textContent = fmt(s);
    const step = STEPS.find((x) => s <= x);
    if (step !== undefined && step < spoken) {
      spoken = step; // a polite announcement only at coarse steps, never every second
      live.textContent = T.left.replace("{time}", words(step));
    }
  }

  function showWarning() {
    if (!dlg) return;
    desc.textContent = "";
    const [before, after] = (capped() ? T.absolute : T.body).split("{time}");
    timeEl = el("span", { class: "time" });
    desc.append(before, timeEl, after || "");
    stayBtn.textContent = capped() ? T.ok : T.stay;
    const s = Math.ceil((endAt() - now()) / S);
    spoken = STEPS.find((x) => s <= x) || 1e9; // the dialog's own description says it first
    live.textContent = "";
    render(now());
    if (!dlg.open) {
      back = document.activeElement;
      dlg.showModal();
      focus(stayBtn);
    }
  }

  function hideWarning(ending) {
    if (!dlg || !dlg.open) return;
    dlg.close();
    if (!ending && back && back.isConnected && back.focus) focus(back);
    back = null;
  }

  function pulse() {
    if (!heart) return;
    heart.setAttribute("data-beats", ++beats);
    if (heart.animate && !matchMedia("(prefers-reduced-motion: reduce)").matches)
      heart.animate([{ transform: "scale(1)" }, { transform: "scale(1.4)" }, { transform: "scale(1)" }], 450);
  }

  // -- start --------------------------------------------------------------------------------------
  window.tether = Object.freeze({
    extend: () => op("beat", true),
    end: () => op("end", true),
    get state() {
      return state;
    },
    get online() {
      return online;
    },
    get leader() {
      return leader;
    },
    get expiresAt() {
      return f && state !== "ended" ? endAt() : null;
    },
    get pending() {
      return pending;
    },
  });

  function start() {
    const s = cfg.session || {};
    if (s.state !== "active") {
      state = "ended";
      // Signed out here means signed out in every tab of this browser (one cookie jar):
      // the others ask the server to confirm.
      if (s.state === "ended") send({ t: "gone" });
      return;
    }
    ui();
    // A history navigation served from the HTTP cache carries a stale config.
    const nav = performance.getEntriesByType ? performance.getEntriesByType("navigation")[0] : null;
    const stale = nav && nav.type === "back_forward" && nav.transferSize === 0;
    adopt(s, !stale, false);
    if (stale) {
      veil();
      op("check");
    }
    restore();
    for (const n of ["pointerdown", "pointermove", "keydown", "wheel", "touchstart", "scroll", "focusin"])
      addEventListener(n, mark, { capture: true, passive: true });
    const recheck = () => tick();
    document.addEventListener("visibilitychange", () => {
      if (visible()) take(true); // the tab the user looks at leads: its timers run on time
      else if (lastAct > base()) send({ t: "act", at: lastAct });
      recheck();
    });
    addEventListener("focus", () => {
      take(true);
      recheck();
    });
    document.addEventListener("resume", recheck);
    addEventListener("online", () => {
      if (retry) op("check", true);
      recheck();
    });
    addEventListener("pagehide", (e) => {
      if (!e.persisted || state === "ended") return;
      veil(); // into the back/forward cache: come back hidden
      drop();
      if (bc) bc.close(), (bc = 0);
    });
    addEventListener("pageshow", (e) => {
      if (!e.persisted || state === "ended") return;
      veil();
      if (bc === 0) connect();
      take(visible());
      op("check", true);
    });
    take(visible());
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
