// The demo's status panel: counts down from the server's numbers and re-reads them
// (passively: GET status never extends) whenever tether reports a change.
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
  var panel = document.getElementById("live");
  if (!panel) return;
  var idleEl = document.getElementById("live-idle");
  var absEl = document.getElementById("live-absolute");
  var stateEl = document.getElementById("live-state");
  var beatsEl = document.getElementById("live-beats");
  var beats = 0;
  var base = Date.now();
  var idle = parseFloat(panel.dataset.idle);
  var absolute = parseFloat(panel.dataset.absolute);

  function show() {
    var gone = (Date.now() - base) / 1000;
    idleEl.textContent = String(Math.max(0, Math.round(Math.min(idle, absolute) - gone)));
    absEl.textContent = String(Math.max(0, Math.round(absolute - gone)));
  }
  function refresh() {
    fetch(panel.dataset.statusUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (body) {
        stateEl.textContent = body.state + (body.reason ? " (" + body.reason + ")" : "");
        if (body.state === "active") {
          base = Date.now();
          idle = body.idle_remaining;
          absolute = body.absolute_remaining;
          show();
        }
      })
      .catch(function () { stateEl.textContent = "offline"; });
  }
  document.addEventListener("tether:beat", function () { beats += 1; beatsEl.textContent = String(beats); refresh(); });
  ["tether:extended", "tether:warning", "tether:online", "tether:offline", "tether:expired", "tether:ended"].forEach(function (name) {
    document.addEventListener(name, function () { stateEl.textContent = name.slice(7); refresh(); });
  });
  show();
  setInterval(show, 1000);
})();
