/*! tether.js: session keep-alive client for tether. No dependencies. */
// Readable source. tether.min.js is built from this file with terser (`npm run build`).
//
// How it works, in one paragraph: the server owns the clock and tells every page how
// long its session has left. One tab per browser (the leader, holding a Web Lock) keeps
// ONE deadline: the expiry minus warn_before minus a margin that scales with the
// timeout. At that moment it pings the server if someone was active in any tab since the
// server last saw activity, and otherwise confirms with the server and warns in every
// tab. Tabs share what the leader learns over a BroadcastChannel (localStorage events
// where that is missing), so the server sees one request per event however many tabs are
// open. Only the server's 401 ends a session; network trouble is retried with back-off.
// The rule "what to do next" is the pure function `schedule`, tested under Node
// (tests/js/), which loads this file as a CommonJS module.
//
// CSP: no eval, no inline script, no <style> element, no style attributes in markup. The
// dialog lives in an open shadow root styled by a constructed stylesheet
// (adoptedStyleSheets), which `style-src 'self'` does not block; the only inline style
// written is the CSSOM `visibility` that veils a page restored from the back/forward
// cache until the server confirms the session. DOM is built with createElement, never
// innerHTML, so Trusted Types policies are satisfied too.
//
// Names that travel between tabs (terser does not shorten them, so they stay short):
//   message {t, ...}      t: "fact" {f, beat} | "act" {at} | "warn" {at} | "ok"
//                         | "end" {reason} | "gone" | "net" {ok}
//   facts f               exp: idle expiry, abs: absolute expiry (epoch ms; every tab of
//                         a browser shares Date.now()), idle/warn: the policy's
//                         idle_timeout and warn_before (s), at: when heard (epoch ms)
//   beat                  true when the fact is a heartbeat's answer (the heart beats)
//   localStorage value    [message, random] (the random part makes every write an event)
//   sessionStorage draft  {who: user hash, at: epoch ms, d: {form key: [[name, value]]}}
(() => {
  "use strict";
  const SECOND = 1000;

  // -- the schedule: pure, no DOM ------------------------------------------------------------
  // The times every decision uses, from the facts.
  function timing(facts) {
    const end = Math.min(facts.exp, facts.abs);
    // The margin absorbs late timers (background throttling, up to a minute) and the
    // round trip. It scales with the timeout: 3 s for 60 s, 60 s for 20 min.
    const margin = Math.min(90, Math.max(1, facts.idle / 20), (facts.idle - facts.warn) / 4) * SECOND;
    return {
      end,
      slack: margin, // the margin
      deadline: end - facts.warn * SECOND - margin, // beat or warn from here on
      seen: facts.exp - facts.idle * SECOND, // when the server last saw activity
      capped: facts.abs <= facts.exp, // the absolute limit binds: a beat cannot help
    };
  }

  // What this tab does next, given what it knows (`view`) at `now` (epoch ms):
  //   {step: "check"}  ask the server (expired by our clock; only the server may say so)
  //   {step: "push"}   tell the leader about activity here before it decides
  //   {step: "beat"}   the leader's deadline, someone was active: heartbeat
  //   {step: "warn"}   the leader's deadline, nobody was active (or the limit is
  //                    absolute): confirm with the server, then warn every tab
  //   {step: "steal"}  the leader is late (a throttled background tab?): take over
  //   {step: "wait", at}  nothing now; look again at `at`
  // view: {facts, state, leader, lockable, online, visible, jitter, lastAct, peerAct,
  //        handled, pushed, stole, asked}; the last four are the deadline (or end)
  // each step was last taken for, so that each is taken once.
  function schedule(view, now) {
    const { end, slack: margin, deadline, seen, capped } = timing(view.facts);
    const active = view.phase === "active";
    const grace = view.leader ? 0 : margin + 2 * SECOND; // a follower asks only if the leader did not
    const pushAt = deadline - margin / 2;
    const decideAt = deadline + (view.jitter * margin) / 2; // without locks every tab leads: spread them
    const stealAt = deadline + margin / 2;
    // The same deadline, give or take a round trip: a step is taken once per deadline.
    // (Every real move is far larger: a beat moves it by most of an idle window.)
    const near = (mark) => Math.abs(mark - deadline) < Math.max(SECOND, margin / 2);
    if (now >= end + grace) {
      if (view.asked !== end) return { step: "check" };
    } else {
      if (!(view.leader && view.lockable) && now >= pushAt && view.lastAct > seen && !near(view.pushed))
        return { step: "push" };
      if (view.leader && active && now >= decideAt && !near(view.handled))
        return { step: !capped && Math.max(view.lastAct, view.peerAct) > seen ? "beat" : "warn" };
      if (!view.leader && view.reachable && active && view.shown && now >= stealAt && !near(view.stole))
        return { step: "steal" };
    }
    // Never sleep long: a wake-up after system sleep must notice that the clock jumped.
    let at = now + Math.min(10 * SECOND, margin);
    for (const point of [pushAt, deadline, decideAt, stealAt, end, end + grace]) if (point > now && point < at) at = point;
    if (view.phase === "warning") at = Math.min(at, now + ((end - now) % SECOND || SECOND)); // the countdown
    return { step: "wait", at };
  }

  if (typeof document === "undefined") {
    if (typeof module === "object") module.exports = { schedule, timing };
    return;
  }

  // -- configuration ---------------------------------------------------------------------------
  const script = document.currentScript;
  const raw = script && script.getAttribute("data-tether");
  if (!raw || window.tether) return;
  let cfg;
  try {
    cfg = JSON.parse(raw);
  } catch (error) {
    console.error("tether: bad data-tether", error);
    return;
  }
  const now = () => Date.now();
  const texts = Object.assign(
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

  // -- state: two values and four groups -----------------------------------------------------
  let facts = null; // what the server last said (see the table above); null before
  let phase = "active"; // "active" | "warning" | "ended"
  // When things happened (epoch ms), and the deadline each step was last taken for.
  const marks = { lastAct: 0, peerAct: 0, handled: 0, pushed: 0, stole: 0, asked: 0, warnAt: 0 };
  // Requests: the strongest one wished for (end > beat > check), one at a time.
  const net = { reachable: true, want: null, inflight: false, retryTimer: 0, fails: 0, count: 0, confirming: false };
  // Leadership: our waiting lock request, a generation count, how to let go, and whether
  // a page rendered signed out while we did not lead.
  const lead = { held: false, queued: null, gen: 0, letGo: () => {}, owesCheck: false };
  let timer = 0;
  let quiet = false; // focus moved by tether itself (see quietly) is not user activity
  let veiled = false;
  const jitter = navigator.locks ? 0 : Math.random();

  const visible = () => document.visibilityState === "visible";
  const times = () => timing(facts);

  function emit(name, detail) {
    return document.dispatchEvent(new CustomEvent("tether:" + name, { detail, cancelable: true }));
  }
  const info = () => ({
    remaining: Math.max(0, (times().end - now()) / SECOND),
    absolute: times().capped,
    leader: lead.held,
  });

  // -- the channel between tabs ----------------------------------------------------------------
  // null where BroadcastChannel is missing (localStorage then carries the messages); 0
  // while the page sits in the back/forward cache (a message would evict it, and a
  // frozen page cannot act on one anyway).
  let channel = null;
  function connect() {
    try {
      channel = new BroadcastChannel(NAME);
      channel.onmessage = (event) => receive(event.data);
    } catch (error) {
      addEventListener("storage", (event) => {
        if (event.key === NAME && event.newValue) {
          try {
            receive(JSON.parse(event.newValue)[0]);
          } catch (notOurs) {
            /* not ours */
          }
        }
      });
    }
  }
  function send(message) {
    if (channel) channel.postMessage(message);
    else if (channel === null) {
      try {
        localStorage.setItem(NAME, JSON.stringify([message, Math.random()]));
      } catch (error) {
        /* storage disabled: each tab then works alone */
      }
    }
  }
  connect();

  function receive(message) {
    if (!message || phase === "ended") return;
    switch (message.t) {
      case "fact":
        apply(message.f, message.beat);
        break;
      case "act": {
        marks.peerAct = Math.max(marks.peerAct, message.at);
        // Activity from before the warning, heard late: the user was there after all.
        const { seen, capped } = times();
        if (lead.held && phase === "warning" && message.at > seen && message.at < marks.warnAt && !capped) op("beat");
        break;
      }
      case "warn":
        if (marks.lastAct > times().seen && marks.lastAct < message.at) send({ t: "act", at: marks.lastAct });
        else enterWarning();
        break;
      case "ok":
        dismiss(false);
        break;
      case "end":
        finish(message.reason, false);
        break;
      case "gone": // a page of this browser rendered without a session: the leader asks
        if (lead.held) op("check");
        else lead.owesCheck = true; // (the leader may be that very page: its successor asks)
        break;
      case "net":
        setOnline(message.ok, false);
    }
  }

  // -- server facts ------------------------------------------------------------------------------
  function adopt(body, share, beat) {
    const heard = now();
    const news = {
      exp: heard + body.idle_remaining * SECOND,
      abs: heard + body.absolute_remaining * SECOND,
      idle: body.idle_timeout,
      warn: body.warn_before,
      at: heard,
    };
    if (facts && Math.abs(news.abs - facts.abs) < 2 * SECOND) news.abs = facts.abs; // fixed per session; no jitter
    if (share) send({ t: "fact", f: news, beat });
    apply(news, beat);
  }

  function apply(news, beat) {
    if (phase === "ended" || (facts && news.at < facts.at)) return; // older news
    facts = news;
    if (beat) {
      pulse();
      emit("beat", info());
    }
    if (phase === "warning" && now() < times().deadline) {
      phase = "active";
      hideWarning();
      emit("extended", info());
    }
    tick();
  }

  // -- the one deadline: ask `schedule`, do what it says -------------------------------------------
  function tick() {
    clearTimeout(timer);
    if (phase === "ended" || !facts) return;
    const time = now();
    const view = {
      ...marks,
      facts,
      phase,
      leader: lead.held,
      lockable: !!navigator.locks,
      reachable: net.reachable,
      shown: visible(),
      jitter,
    };
    if (phase === "warning") render(time);
    const next = schedule(view, time);
    if (next.step === "wait") {
      timer = setTimeout(tick, next.at - time);
      return;
    }
    // Each step marks what it was taken for, so the schedule moves on to the next one.
    const { end, deadline } = times();
    if (next.step === "check") {
      marks.asked = end;
      op("check");
    } else if (next.step === "push") {
      marks.pushed = deadline;
      send({ t: "act", at: marks.lastAct });
    } else if (next.step === "steal") {
      marks.stole = deadline;
      take(true);
    } else {
      marks.handled = deadline;
      if (next.step === "beat") op("beat");
      else {
        net.confirming = true; // another browser, or the app's own requests, may have extended it
        op("check");
      }
    }
    tick();
  }

  function warn() {
    marks.warnAt = now();
    send({ t: "warn", at: marks.warnAt });
    enterWarning();
  }

  function enterWarning() {
    if (phase !== "active") return;
    phase = "warning";
    showWarning();
    emit("warning", info());
    tick();
  }

  // The absolute limit's warning can only be acknowledged; it does not come back.
  function dismiss(share) {
    if (phase !== "warning") return;
    marks.handled = times().deadline;
    phase = "active";
    hideWarning();
    if (share) send({ t: "ok" });
    tick();
  }

  // -- talking to the server ---------------------------------------------------------------------
  const RANK = { check: 1, beat: 2, end: 3 };

  function op(kind, user) {
    if (phase === "ended") return;
    if (!net.want || RANK[kind] > RANK[net.want]) net.want = kind;
    if (user && net.retryTimer) {
      clearTimeout(net.retryTimer); // the user asked: try now, not after the back-off
      net.retryTimer = 0;
    }
    if (!net.inflight && !net.retryTimer) run();
  }

  // A warning waits for the server's word; without one (offline) it shows anyway.
  function confirmed() {
    if (!net.confirming) return;
    net.confirming = false;
    if (phase === "active" && now() >= times().deadline) warn();
  }

  async function run() {
    const kind = net.want;
    net.retryTimer = 0;
    if (!kind || phase === "ended") return;
    net.want = null;
    net.inflight = true;
    net.count++;
    const answer = await call(kind);
    net.inflight = false;
    try {
      if (phase === "ended") return;
      if (answer.status === 200 && kind === "end") {
        finish("logout", true);
      } else if (answer.status === 200 && answer.body && answer.body.state === "active") {
        net.fails = 0;
        setOnline(true);
        unveil();
        adopt(answer.body, true, kind === "beat");
        confirmed();
        if (net.want) run();
      } else if (answer.status === 401) {
        setOnline(true);
        finish((answer.body && answer.body.reason) || "none", true);
      } else {
        // Offline, 503, a proxy error: never an ending. Back off (with jitter) and retry.
        setOnline(false);
        confirmed();
        if (facts && now() < times().end) unveil();
        if (!net.want || RANK[kind] > RANK[net.want]) net.want = kind;
        const cap = Math.min(30 * SECOND, Math.max(2 * SECOND, facts ? times().slack : 0));
        const backoff = Math.min(cap, SECOND * 2 ** net.fails++);
        const wait = backoff / 2 + (Math.random() * backoff) / 2;
        net.retryTimer = setTimeout(run, Math.max(wait, Math.min(answer.retryAfter, 60) * SECOND || 0));
      }
    } finally {
      net.count--;
    }
  }

  async function call(kind) {
    const post = kind !== "check";
    const abort = new AbortController();
    const stop = setTimeout(() => abort.abort(), 20 * SECOND);
    try {
      const response = await fetch(cfg[kind === "check" ? "status" : kind === "beat" ? "heartbeat" : "end"], {
        method: post ? "POST" : "GET",
        credentials: "same-origin",
        cache: "no-store",
        headers: post ? { "Content-Type": "application/json" } : {},
        body: post ? "{}" : undefined,
        signal: abort.signal,
      });
      let body = null;
      try {
        body = await response.json();
      } catch (error) {
        /* not JSON: treated as a network error below */
      }
      return { status: body ? response.status : 0, body, retryAfter: +response.headers.get("Retry-After") || 0 };
    } catch (error) {
      return { status: 0 };
    } finally {
      clearTimeout(stop);
    }
  }

  function setOnline(online, share = true) {
    if (online === net.reachable) return;
    net.reachable = online;
    if (ui.hostElement) ui.hostElement.toggleAttribute("data-offline", !online);
    if (share) send({ t: "net", ok: online });
    emit(online ? "online" : "offline", {});
  }

  // -- the end, in every tab -------------------------------------------------------------------------
  // To login_url?next=<this page>&reason=<why> (no next after a sign-out, no reason for "none").
  function finish(reason, share) {
    if (phase === "ended") return;
    phase = "ended";
    clearTimeout(timer);
    clearTimeout(net.retryTimer);
    // Tell the other tabs first, and keep the lock until this page goes: a tab handed the
    // lock at once could hear of the end only after it had asked the server again.
    // (A lock request still queued here is passed on when granted.)
    if (share) send({ t: "end", reason });
    hideWarning(true);
    const out = reason === "logout";
    if (emit(out ? "ended" : "expired", { reason })) {
      const query = [];
      if (!out) {
        saveDraft();
        query.push("next=" + encodeURIComponent(location.pathname + location.search + location.hash));
      }
      if (reason !== "none") query.push("reason=" + encodeURIComponent(reason));
      const url = cfg.login_url;
      location.replace(query.length ? url + (url.includes("?") ? "&" : "?") + query.join("&") : url);
    } else lead.letGo(); // the app keeps the page: later tabs of this browser need the lock
  }

  // -- leadership: one Web Lock per browser -----------------------------------------------------------
  function take(steal) {
    if (lead.held || phase === "ended") return;
    if (!navigator.locks) {
      lead.held = true;
      return;
    }
    if (lead.queued) lead.queued.abort();
    const mine = ++lead.gen;
    lead.queued = steal ? null : new AbortController();
    navigator.locks
      .request(NAME, steal ? { steal: true } : { signal: lead.queued.signal }, () =>
        new Promise((done) => {
          if (phase === "ended") return done(); // granted too late: pass it on
          lead.held = true;
          lead.queued = null;
          lead.letGo = () => {
            lead.held = false;
            done();
          };
          if (lead.owesCheck) op("check");
          tick();
        })
      )
      .catch(() => {
        // Stolen by a tab that became visible: queue up again behind it.
        if (mine !== lead.gen) return;
        lead.held = false;
        if (!veiled) take(false);
      });
  }

  function drop() {
    lead.gen++;
    if (lead.queued) lead.queued.abort();
    lead.queued = null;
    lead.letGo();
  }

  // -- activity: a timestamp, nothing more --------------------------------------------------------------
  const markActivity = (event) => {
    if (event.isTrusted && !quiet) marks.lastAct = now();
  };

  // -- drafts (WCAG 2.2.5): forms marked data-tether-preserve -------------------------------------------
  const forms = () => [...document.querySelectorAll("form[data-tether-preserve]")];
  const fields = (form) =>
    [...form.elements].filter(
      (field) =>
        field.name && !/^(password|file|hidden|submit|button|reset|image)$/.test(field.type) && !field.closest("[data-tether-ignore]")
    );
  const formKey = (form, index) => form.getAttribute("id") || form.getAttribute("name") || index;

  function saveDraft() {
    const draft = {};
    forms().forEach((form, index) => {
      draft[formKey(form, index)] = fields(form).map((field) => [
        field.name,
        /^(checkbox|radio)$/.test(field.type)
          ? field.checked
          : field.multiple
            ? [...field.selectedOptions].map((option) => option.value)
            : field.value,
      ]);
    });
    try {
      if (Object.keys(draft).length) sessionStorage.setItem(DRAFT, JSON.stringify({ who: cfg.user, at: now(), d: draft }));
    } catch (error) {
      /* storage full or disabled */
    }
  }

  function restoreDraft() {
    let saved = null;
    try {
      saved = JSON.parse(sessionStorage.getItem(DRAFT));
      sessionStorage.removeItem(DRAFT);
    } catch (error) {
      return;
    }
    // Only for the same user, and only a fresh draft: a shared computer must not hand
    // one person's typing to the next.
    if (!saved || saved.who !== cfg.user || now() - saved.at > 864e5) return;
    let restored = 0;
    forms().forEach((form, index) => {
      const values = saved.d[formKey(form, index)];
      if (!values) return;
      fields(form).forEach((field, position) => {
        const pair = values[position];
        if (!pair || pair[0] !== field.name) return;
        const value = pair[1];
        if (typeof value === "boolean") field.checked = value;
        else if (Array.isArray(value)) for (const option of field.options) option.selected = value.includes(option.value);
        else field.value = value;
        field.dispatchEvent(new Event("input", { bubbles: true }));
        field.dispatchEvent(new Event("change", { bubbles: true }));
        restored++;
      });
    });
    if (restored) emit("restored", { fields: restored });
  }

  // -- back/forward cache: show nothing until the server confirms ------------------------------------------
  function veil() {
    veiled = true;
    document.documentElement.style.visibility = "hidden";
  }
  function unveil() {
    if (!veiled) return;
    veiled = false;
    document.documentElement.style.visibility = "";
  }

  // -- the warning dialog, the live region and the heart ---------------------------------------------------
  // ui: the shadow host and the parts; spoken: the last coarse step announced.
  const ui = { hostElement: null, beats: 0 };
  const STEPS = [10, 30, 60, 120, 300];
  // Theming: --tether-* custom properties (a page sets them on :root) over the light or
  // dark defaults below, and the ::part names dialog, title, message, actions, stay,
  // signout, heart.
  const CSS =
    ":host{--bg:#fff;--fg:#1d232a;--accent:#1f4fd1;--accent-fg:#fff}" +
    "@media(prefers-color-scheme:dark){:host{--bg:#1d232a;--fg:#eef1f5;--accent:#8fb0ff;--accent-fg:#0d1526}}" +
    "dialog{box-sizing:border-box;width:28rem;max-width:calc(100vw - 2rem);padding:1.25rem 1.5rem;border:0;" +
    "border-radius:var(--tether-radius,.6rem);background:var(--tether-bg,var(--bg));color:var(--tether-fg,var(--fg));" +
    "font:var(--tether-font,inherit);box-shadow:0 .5rem 2rem #0005;overflow-wrap:anywhere}" +
    "dialog::backdrop{background:var(--tether-backdrop,#0007)}" +
    "h2{margin:0 0 .5rem;font-size:1.25em}.time{font-weight:700;font-variant-numeric:tabular-nums}" +
    ".actions{display:flex;flex-wrap:wrap;gap:.75rem;margin-top:1.25rem}" +
    "button{font:inherit;padding:.5em 1em;border:2px solid var(--tether-accent,var(--accent));border-radius:.4rem;" +
    "background:none;color:inherit;cursor:pointer}" +
    ".stay{background:var(--tether-accent,var(--accent));color:var(--tether-accent-fg,var(--accent-fg))}" +
    "button:focus-visible{outline:3px solid var(--tether-focus,#e8a317);outline-offset:2px}" +
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}" +
    ".heart{position:fixed;right:var(--tether-heart-right,1rem);bottom:var(--tether-heart-bottom,1rem);" +
    "color:var(--tether-heart-color,#d22);font-size:var(--tether-heart-size,1.5rem);line-height:1;pointer-events:none;z-index:2147483647}" +
    ":host([data-offline]) .heart{color:var(--tether-heart-offline,#999)}";

  function element(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const name in attrs) node.setAttribute(name, attrs[name]);
    if (text) node.textContent = text;
    return node;
  }

  // Focus moved by us (showModal focuses the dialog, close() hands focus back) fires
  // trusted focusin events; they are not the user's activity.
  function quietly(act) {
    quiet = true;
    try {
      act();
    } finally {
      quiet = false;
    }
  }
  const focus = (target) => quietly(() => target.focus());

  function build() {
    if (cfg.ui === false) return;
    const host = (ui.hostElement = element("div", { "data-tether-ui": "" }));
    const root = host.attachShadow({ mode: "open" });
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } catch (error) {
      /* no constructable stylesheets: the browser's own dialog style remains */
    }
    const dialog = (ui.dialogElement = element("dialog", {
      role: "alertdialog",
      "aria-modal": "true",
      "aria-labelledby": "tether-title",
      "aria-describedby": "tether-desc",
      part: "dialog",
    }));
    ui.messageElement = element("p", { id: "tether-desc", part: "message" });
    const stayButton = (ui.stayButton = element("button", { type: "button", class: "stay", part: "stay" }));
    const outButton = element("button", { type: "button", part: "signout" }, texts.signout);
    ui.liveElement = element("p", { class: "sr", role: "status", "aria-live": "polite" });
    const actions = element("div", { class: "actions", part: "actions" });
    actions.append(stayButton, outButton);
    dialog.append(element("h2", { id: "tether-title", part: "title" }, texts.title), ui.messageElement, actions, ui.liveElement);
    root.append(dialog);
    if (cfg.heart) root.append((ui.heartSign = element("span", { class: "heart", part: "heart", "aria-hidden": "true" }, "\u2665")));

    stayButton.onclick = stay;
    outButton.onclick = () => op("end", true);
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault(); // Escape means "stay"
      stay();
    });
    dialog.addEventListener("close", () => {
      // We close it only after leaving "warning"; otherwise the browser closed it
      // (a second Escape without user activation), which still means "stay". The event
      // is a queued task, late in a background tab (a minute, seen in Chromium): one that
      // finds the dialog open again belongs to an earlier close of ours, not to the user.
      if (phase === "warning" && !dialog.open) stay();
    });
    dialog.addEventListener("keydown", (event) => {
      if (event.key !== "Tab") return;
      const order = [stayButton, outButton];
      const index = order.indexOf(root.activeElement);
      if (index < 0 || index === (event.shiftKey ? 0 : order.length - 1)) {
        event.preventDefault(); // keep focus inside the dialog
        focus(order[event.shiftKey ? order.length - 1 : 0]);
      }
    });
    document.body.append(host);
  }

  function stay() {
    if (times().capped) dismiss(true);
    else op("beat", true);
  }

  const clock = (seconds) => Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");

  // "10 seconds", "2 minutes", in the page's language.
  const words = (seconds) =>
    new Intl.NumberFormat(document.documentElement.lang || undefined, {
      style: "unit",
      unit: seconds < 60 ? "second" : "minute",
      unitDisplay: "long",
    }).format(seconds < 60 ? seconds : Math.round(seconds / 60));

  const secondsLeft = (time) => Math.ceil((times().end - time) / SECOND);

  function render(time) {
    if (!ui.dialogElement) return;
    const seconds = Math.max(0, secondsLeft(time));
    ui.timeElement.textContent = clock(seconds);
    const step = STEPS.find((limit) => seconds <= limit);
    if (step !== undefined && step < ui.spoken) {
      ui.spoken = step; // a polite announcement only at coarse steps, never every second
      ui.liveElement.textContent = texts.left.replace("{time}", words(step));
    }
  }

  function showWarning() {
    if (!ui.dialogElement) return;
    const capped = times().capped;
    const [before, after] = (capped ? texts.absolute : texts.body).split("{time}");
    ui.timeElement = element("span", { class: "time" });
    ui.messageElement.textContent = "";
    ui.messageElement.append(before, ui.timeElement, after || "");
    ui.stayButton.textContent = capped ? texts.ok : texts.stay;
    ui.spoken = STEPS.find((limit) => secondsLeft(now()) <= limit) || 1e9; // the dialog's own text says it first
    ui.liveElement.textContent = "";
    render(now());
    if (!ui.dialogElement.open) {
      ui.focusBack = document.activeElement;
      quietly(() => {
        ui.dialogElement.showModal();
        ui.stayButton.focus();
      });
    }
  }

  function hideWarning(ending) {
    if (!ui.dialogElement || !ui.dialogElement.open) return;
    quietly(() => ui.dialogElement.close());
    if (!ending && ui.focusBack && ui.focusBack.isConnected && ui.focusBack.focus) focus(ui.focusBack);
    ui.focusBack = null;
  }

  function pulse() {
    const heart = ui.heartSign;
    if (!heart) return;
    heart.setAttribute("data-beats", ++ui.beats);
    if (heart.animate && !matchMedia("(prefers-reduced-motion: reduce)").matches)
      heart.animate([{ transform: "scale(1)" }, { transform: "scale(1.4)" }, { transform: "scale(1)" }], 450);
  }

  // -- start ---------------------------------------------------------------------------------------------------
  window.tether = Object.freeze({
    extend: () => op("beat", true),
    end: () => op("end", true),
    get state() {
      return phase;
    },
    get online() {
      return net.reachable;
    },
    get leader() {
      return lead.held;
    },
    get expiresAt() {
      return facts && phase !== "ended" ? times().end : null;
    },
    get pending() {
      return net.count;
    },
  });

  function start() {
    const initial = cfg.session || {};
    if (initial.state !== "active") {
      phase = "ended";
      // Signed out here means signed out in every tab of this browser (one cookie jar):
      // the leader asks the server to confirm.
      if (initial.state === "ended") send({ t: "gone" });
      return;
    }
    build();
    // A history navigation served from the HTTP cache carries a stale config.
    const navigation = performance.getEntriesByType ? performance.getEntriesByType("navigation")[0] : null;
    const stale = navigation && navigation.type === "back_forward" && navigation.transferSize === 0;
    adopt(initial, !stale, false);
    if (stale) {
      veil();
      op("check");
    }
    restoreDraft();
    for (const name of ["pointerdown", "pointermove", "keydown", "wheel", "touchstart", "scroll", "focusin"])
      addEventListener(name, markActivity, { capture: true, passive: true });
    document.addEventListener("visibilitychange", () => {
      if (visible()) take(true); // the tab the user looks at leads: its timers run on time
      else if (marks.lastAct > times().seen) send({ t: "act", at: marks.lastAct });
      tick();
    });
    addEventListener("focus", () => {
      take(true);
      tick();
    });
    document.addEventListener("resume", tick);
    addEventListener("online", () => {
      if (net.retryTimer) op("check", true);
      tick();
    });
    addEventListener("pagehide", (event) => {
      if (!event.persisted || phase === "ended") return;
      veil(); // into the back/forward cache: come back hidden
      drop();
      if (channel) channel.close(), (channel = 0);
    });
    addEventListener("pageshow", (event) => {
      if (!event.persisted || phase === "ended") return;
      veil();
      if (channel === 0) connect();
      take(visible());
      op("check", true);
    });
    take(visible());
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
