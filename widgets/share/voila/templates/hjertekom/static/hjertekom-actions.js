// HjerteKom entry app: buttons drawn as HTML (the worklist's column headings, "Vis alle"), each a
// <button data-hk-action="<action> <arg> ..."> inside an HTML widget. A click (or Enter or Space
// on the focused button) is written as {"seq": n, "action": "...", "args": [...]} into the hidden
// text widget .hk-action-channel; the kernel does the rest (widgets/page_actions.py).
//
// The kernel redraws the HTML it belongs to, which would drop the keyboard's focus on the page's
// body: the button with the same action is focused again once it is drawn anew, so a keyboard user
// can sort by the same column again (or move on) from where they were.
(function () {
  "use strict";
  var sequence = 0;
  var refocus = null;       // {action, until}: the button to focus again once it is redrawn
  var REFOCUS_MS = 5000;

  function channel() { return document.querySelector(".hk-action-channel input"); }

  document.addEventListener("click", function (event) {
    var target = event.target;
    var button = target && target.closest ? target.closest("[data-hk-action]") : null;
    var input = channel();
    if (!button || !input || !button.closest(".hk-app")) { return; }
    event.preventDefault();
    var words = (button.getAttribute("data-hk-action") || "").split(" ");
    sequence += 1;
    input.value = JSON.stringify({seq: sequence, action: words[0], args: words.slice(1)});
    input.dispatchEvent(new Event("change", {bubbles: true}));
    refocus = {action: button.getAttribute("data-hk-action"), until: Date.now() + REFOCUS_MS};
  });

  new MutationObserver(function () {
    if (!refocus) { return; }
    if (Date.now() > refocus.until) { refocus = null; return; }
    var active = document.activeElement;
    if (active && active !== document.body && document.contains(active)) { return; }
    var buttons = document.querySelectorAll("[data-hk-action]");
    for (var i = 0; i < buttons.length; i++) {
      if (buttons[i].getAttribute("data-hk-action") === refocus.action) {
        buttons[i].focus();
        refocus = null;
        return;
      }
    }
  }).observe(document.body, {childList: true, subtree: true});
})();
