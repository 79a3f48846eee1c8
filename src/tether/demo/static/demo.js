// The demo's status panel: counts down from the numbers tether.js already has. It asks
// the server nothing itself: every tether:* event carries the fresh remaining time, so
// one browser costs the server one request per event however many tabs are open
// (issue 8). The absolute limit never moves, so the page's own render-time number holds.
(function () {
  "use strict";
  // Sign out through the client when it runs, so every tab ends together with reason
  // "logout"; without script the form still posts to /logout.
  // If the client cannot end the session quickly (offline, refused), post the form after
  // all, so that "Sign out" never leaves a shared computer signed in.
  var signOut = document.querySelector('form[action="/logout"]');
  if (signOut) {
    signOut.addEventListener("submit", function (event) {
      if (window.tether && window.tether.state !== "ended") {
        event.preventDefault();
        window.tether.end();
        setTimeout(function () { signOut.submit(); }, 3000);
      }
    });
  }
  // The login page: say that tether.js kept a form draft for the page to go back to
  // (it saves one under "tether:draft:" + path and query when a session ends).
  var draft = document.getElementById("draft-notice");
  if (draft) {
    try {
      if (sessionStorage.getItem("tether:draft:" + draft.dataset.next.split("#")[0])) draft.hidden = false;
    } catch (e) {
      /* storage disabled: no draft either */
    }
  }
  var panel = document.getElementById("live");
  if (!panel) return;
  var idleEl = document.getElementById("live-idle");
  var absEl = document.getElementById("live-absolute");
  var stateEl = document.getElementById("live-state");
  var beatsEl = document.getElementById("live-beats");
  var beats = 0;
  var start = Date.now();
  var idleEnd = start + parseFloat(panel.dataset.idle) * 1000;
  var absoluteEnd = start + parseFloat(panel.dataset.absolute) * 1000;

  function seconds(until) {
    return String(Math.max(0, Math.round((until - Date.now()) / 1000)));
  }
  function show() {
    idleEl.textContent = seconds(Math.min(idleEnd, absoluteEnd));
    absEl.textContent = seconds(absoluteEnd);
  }
  function update(event) {
    var detail = event.detail || {};
    stateEl.textContent = event.type.slice(7) + (detail.reason ? " (" + detail.reason + ")" : "");
    if (typeof detail.remaining === "number") idleEnd = Date.now() + detail.remaining * 1000;
    if (event.type === "tether:expired" || event.type === "tether:ended") idleEnd = absoluteEnd = 0;
    show();
  }
  document.addEventListener("tether:beat", function (event) {
    beats += 1;
    beatsEl.textContent = String(beats);
    update(event);
  });
  ["extended", "warning", "online", "offline", "expired", "ended"].forEach(function (name) {
    document.addEventListener("tether:" + name, update);
  });
  show();
  setInterval(show, 1000);
})();
