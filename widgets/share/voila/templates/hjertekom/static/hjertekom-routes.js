// HjerteKom entry app: each view's address (the URL fragment), so that Back, Forward, a reload
// and a bookmark work without reloading the app. The kernel decides what is shown (widgets/routes.py);
// this script only carries the address both ways over two hidden widgets:
//
// - to the kernel: where the browser is, as {"seq": n, "hash": "#/..."} in the text widget
//   .hk-route-channel, once the app is on the page and after every Back, Forward or typed address;
// - from the kernel: where the app went, as <span data-route data-mode data-seq> in the HTML widget
//   .hk-route-out, which becomes a new history entry ("push") or corrects the current one
//   ("replace"). No page load either way, so the kernel and what was typed stay.
//
// A fragment holds ids only (never a CPR number or a name): the history keeps it.
(function () {
  "use strict";
  var sequence = 0;
  var known = null;        // the fragment the kernel was last told, or last set itself
  var applied = "";        // the data-seq of the kernel's last instruction carried out

  function here() { return window.location.hash; }   // "" when there is none (the first load)

  function channel() { return document.querySelector(".hk-route-channel input"); }

  function report() {
    var input = channel();
    if (!input || here() === known) { return; }
    // A field being typed in is left first, so its value reaches the kernel (and its autosave)
    // before the view changes.
    var active = document.activeElement;
    if (active && active !== document.body && active.blur && active.closest && active.closest(".hk-app")) {
      active.blur();
    }
    known = here();
    sequence += 1;
    input.value = JSON.stringify({seq: sequence, hash: known});
    input.dispatchEvent(new Event("change", {bubbles: true}));
  }

  function follow() {
    var note = document.querySelector(".hk-route-out [data-route]");
    if (!note || note.getAttribute("data-seq") === applied) { return; }
    applied = note.getAttribute("data-seq");
    var target = note.getAttribute("data-route") || "#/";
    known = target;
    if (target === here()) { return; }
    if (note.getAttribute("data-mode") === "replace") {
      window.history.replaceState(window.history.state, "", target);
    } else {
      window.history.pushState(null, "", target);
    }
  }

  var started = false;
  new MutationObserver(function () {
    if (!started && channel()) { started = true; known = null; report(); }
    follow();
  }).observe(document.body, {childList: true, subtree: true, characterData: true});

  // Back and Forward fire popstate (and hashchange); a typed address fires hashchange: one report.
  window.addEventListener("popstate", report);
  window.addEventListener("hashchange", report);
})();
