// HjerteKom entry app: the page's own script (served behind the login like every other file).
//
// - Every few seconds it asks the server whether the session is still open and tells it that this
//   page (and so its kernel) is still there. When the session has ended (logged out in another
//   tab, idle timeout, account closed) or the kernel is gone, a notice covers the page at once, so
//   nobody types into a form that can no longer be saved. When the server is stopping (restart,
//   update), what was typed is sent for autosave first and the notice says that it is kept.
// - "Log ud" is a POST with the page's _xsrf token, never a plain link.
// - What is typed into a form field but not yet left is sent to the kernel (for autosave) once the
//   clinician pauses, over the course view's hidden typing channel; validation stays on leaving.
// - Leaving the page with unsaved input (the course view carries the class hk-dirty) asks first.
//   Voila's own beforeunload listener sends the kernel's shutdown beacon at once, which would kill
//   the kernel of a clinician who chooses to stay: while the page is dirty, ours runs first
//   (capture) and stops it, and the beacon is sent on pagehide instead, once the page really goes.
// - The save bar's "go to the field" links scroll to the field and put the cursor in it; the
//   spacer at the end of the course is kept as tall as the (fixed) save bar.
// - Names, roles and states ipywidgets' markup lacks (a question's answers as a radio group), and
//   the keyboard in a question: one Tab stop, arrow keys, a digit chooses and moves on.
(function () {
  "use strict";
  var CHECK_EVERY_MS = 5000;
  var base = document.body.getAttribute("data-base-url") || "/voila/";
  base = base.replace(/voila\/$/, "");
  var config = {};
  try {
    config = JSON.parse(document.getElementById("jupyter-config-data").textContent);
  } catch (e) { /* no kernel on this page */ }
  var kernelId = config.kernelId || "";

  function xsrf() {
    var m = document.cookie.match(/\b_xsrf=([^;]*)\b/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  var TEXTS = {
    logout: ["Du er logget ud.", "Du har logget ud, måske i en anden fane. Log ind igen for at fortsætte."],
    idle: ["Du er logget ud efter inaktivitet.", "Af hensyn til fælles computere lukkes HjerteKom, når den ikke har været brugt et stykke tid."],
    deactivated: ["Din adgang er lukket.", "Kontakt din koordinator eller administrator."],
    expired: ["Din session er udløbet.", "Log ind igen for at fortsætte."],
    replaced: ["Du er logget ud.", "Der er logget ind som en anden bruger i denne browser."],
    rights_changed: ["Dine rettigheder er ændret.", "Log ind igen for at fortsætte med dine nye rettigheder."],
    password_reset: ["Din adgangskode er nulstillet.", "Log ind med den nye adgangskode, du har fået."],
    password_changed: ["Din adgangskode er skiftet.", "Log ind igen med den nye adgangskode."],
    unknown: ["Du er ikke logget ind.", "Log ind igen for at fortsætte."],
    kernel: ["Forbindelsen til skemaet er lukket.", "Genindlæs siden for at fortsætte. Det, der var gemt, er der stadig."],
    restart: ["HjerteKom genstarter.", "Det, du har skrevet, er gemt automatisk. Genindlæs siden om et øjeblik for at fortsætte, så er det der stadig."]
  };
  var shown = false;

  function cover(reason) {
    if (shown) { return; }
    shown = true;
    var text = TEXTS[reason] || TEXTS.unknown;
    var box = document.createElement("div");
    box.className = "hk-signed-out";
    box.setAttribute("role", "alertdialog");
    box.setAttribute("aria-modal", "true");
    box.setAttribute("aria-labelledby", "hk-signed-out-title");
    box.style.cssText = "position:fixed;inset:0;z-index:10000;background:rgba(244,246,248,.96);" +
      "display:flex;align-items:center;justify-content:center;font-family:system-ui,sans-serif";
    var link = (reason === "kernel" || reason === "restart") ?
      '<a href="" id="hk-reload">Genindlæs siden</a>' :
      '<a href="' + base + 'login" id="hk-login-again">Log ind igen</a>';
    box.innerHTML = '<div style="background:#fff;padding:32px;border-radius:8px;max-width:420px;' +
      'box-shadow:0 1px 4px rgba(0,0,0,.2)"><h2 id="hk-signed-out-title" style="color:#8b1e2d;margin-top:0"></h2>' +
      '<p class="hk-signed-out-detail"></p><p>' + link + '</p></div>';
    box.querySelector("h2").textContent = text[0];
    box.querySelector(".hk-signed-out-detail").textContent = text[1];
    document.body.appendChild(box);
    // Nothing behind the notice can be used any more.
    var cells = document.getElementById("rendered_cells");
    if (cells) { cells.setAttribute("inert", ""); cells.setAttribute("aria-hidden", "true"); }
    var focus = box.querySelector("a");
    if (focus) { focus.focus(); }
  }

  function check() {
    if (shown) { return; }
    var url = base + "hjertekom/api/session" + (kernelId ? "?kernel=" + encodeURIComponent(kernelId) : "");
    fetch(url, {credentials: "same-origin", cache: "no-store"}).then(function (response) {
      return response.json().then(function (body) { return [response.status, body]; });
    }).then(function (result) {
      var status = result[0], body = result[1];
      if (status === 401 || !body.signed_in) { cover(body.reason || "unknown"); }
      else if (body.restarting) { flushTyping(); cover("restart"); }
      else if (kernelId && !body.kernel) { cover("kernel"); }
    }).catch(function () { /* the server may be restarting: ask again next time */ });
  }

  function logOut(event) {
    event.preventDefault();
    var form = document.createElement("form");
    form.method = "post";
    form.action = base + "logout";
    var token = document.createElement("input");
    token.type = "hidden";
    token.name = "_xsrf";
    token.value = xsrf();
    form.appendChild(token);
    document.body.appendChild(form);
    form.submit();
  }

  document.addEventListener("click", function (event) {
    var target = event.target && event.target.closest ? event.target.closest("a.hk-logout") : null;
    if (target) { logOut(event); }
    var goto = event.target && event.target.closest ? event.target.closest("a.hk-goto-error") : null;
    if (goto) { event.preventDefault(); goToField(goto.getAttribute("data-field") || ""); }
  });

  // --- the save bar: go to a field, and room for the bar at the end of the page --------------------
  function goToField(name) {
    var box = null;
    // Every form built stays in the page, hidden unless shown: the field of the form shown.
    document.querySelectorAll(".hk-form [class*='hk-field-']").forEach(function (el) {
      if (!box && el.classList.contains("hk-field-" + name) && el.getClientRects().length) { box = el; }
    });
    if (!box) { return; }
    box.scrollIntoView({block: "center"});
    var control = box.querySelector("input:not([disabled]), select:not([disabled]), textarea:not([disabled]), " +
                                    "button:not([disabled])");
    if (control) { control.focus({preventScroll: true}); }
  }

  function fitSpacer() {
    var bar = document.querySelector(".hk-save-bar");
    var spacer = document.querySelector(".hk-save-bar-spacer");
    if (bar && spacer) { spacer.style.height = (bar.offsetHeight + 16) + "px"; }
  }
  if (window.ResizeObserver) {
    var watched = null;
    var sizes = new ResizeObserver(fitSpacer);
    new MutationObserver(function () {
      var bar = document.querySelector(".hk-save-bar");
      if (bar !== watched) {
        if (watched) { sizes.unobserve(watched); }
        if (bar) { sizes.observe(bar); }
        watched = bar;
        fitSpacer();
      }
    }).observe(document.body, {childList: true, subtree: true});
  }

  // --- typed but not yet left: autosave while typing ------------------------------------------------
  var TYPING_PAUSE_MS = 1200;
  var TEXT_INPUTS = ".hk-course .hk-form input[type=text], .hk-course .hk-form textarea";
  var pending = {};        // field name -> the input typed into since it was last left
  var pendingForm = "";
  var pendingCourse = "";  // the course view is reused for every course: say which one was typed into
  var typingTimer = null;
  var sequence = 0;

  function suffix(el, selector, prefix) {
    var box = el.closest ? el.closest(selector) : null;
    if (!box) { return ""; }
    for (var i = 0; i < box.classList.length; i++) {
      var name = box.classList[i];
      if (name.indexOf(prefix) === 0 && name.length > prefix.length) { return name.slice(prefix.length); }
    }
    return "";
  }

  function flushTyping() {
    if (typingTimer) { window.clearTimeout(typingTimer); }
    typingTimer = null;
    var names = Object.keys(pending).filter(function (name) { return pending[name].isConnected; });
    var typed = pending;
    pending = {};
    var channel = document.querySelector(".hk-typing-channel input");
    if (!names.length || !channel) { return; }
    var values = {};
    names.forEach(function (name) { values[name] = typed[name].value; });
    sequence += 1;
    channel.value = JSON.stringify({form: pendingForm, course: pendingCourse, seq: sequence, values: values});
    channel.dispatchEvent(new Event("change", {bubbles: true}));
  }

  document.addEventListener("input", function (event) {
    var el = event.target;
    if (!el || !el.matches || !el.matches(TEXT_INPUTS)) { return; }
    var name = suffix(el, "[class*='hk-field-']", "hk-field-");
    if (!name) { return; }
    pending[name] = el;
    pendingForm = suffix(el, ".hk-form", "hk-form-");
    pendingCourse = suffix(el, ".hk-course", "hk-of-course-");
    if (typingTimer) { window.clearTimeout(typingTimer); }
    typingTimer = window.setTimeout(flushTyping, TYPING_PAUSE_MS);
  }, true);

  document.addEventListener("change", function (event) {
    // A field left: its value reaches the kernel through its own widget now.
    var el = event.target;
    if (!el || !el.matches || !el.matches(TEXT_INPUTS)) { return; }
    var name = suffix(el, "[class*='hk-field-']", "hk-field-");
    if (name && pending[name] === el) { delete pending[name]; }
  }, true);

  // --- names and roles the widgets' markup lacks ------------------------------------------------------
  // ipywidgets gives a question's answer buttons (ToggleButtons, class hk-scale) no group and no
  // state a screen reader can read: they become a radio group named after the field (its hidden
  // label, see field_widgets.named), each button a radio that says whether it is chosen.
  // A control named by a hidden label of its own keeps its help as a tooltip (ipywidgets puts
  // the tooltip on the label once there is one). ipywidgets rebuilds these buttons when the kernel
  // changes them, so this runs again after every change of the page (once per frame).
  function setAttr(el, name, value) {
    if (el.getAttribute(name) !== value) { el.setAttribute(name, value); }
  }

  function scaleButtons(group) {
    return Array.prototype.slice.call(group.querySelectorAll("button.widget-toggle-button"));
  }

  // One Tab stop per question (a roving tabindex): the button with focus, else the chosen answer,
  // else the first.
  function tidyScale(group) {
    var label = group.querySelector(":scope > .widget-label");
    setAttr(group, "role", "radiogroup");
    if (label && label.textContent) { setAttr(group, "aria-label", label.textContent); }
    var buttons = scaleButtons(group);
    var stop = buttons.filter(function (b) { return b === document.activeElement; })[0] ||
      buttons.filter(function (b) { return b.classList.contains("mod-active"); })[0] || buttons[0];
    buttons.forEach(function (button) {
      setAttr(button, "role", "radio");
      setAttr(button, "aria-checked", button.classList.contains("mod-active") ? "true" : "false");
      setAttr(button, "tabindex", button === stop ? "0" : "-1");
    });
  }

  function tidyNames() {
    // Voilà's cells hold the whole app: its main landmark.
    var cells = document.getElementById("rendered_cells");
    if (cells) { setAttr(cells, "role", "main"); }
    document.querySelectorAll(".hk-scale").forEach(tidyScale);
    // A form opened by "Gem og gå videre": the cursor in its first field, once it is drawn. The
    // kernel reuses a form's widgets for the next course: a mark it took back is forgotten here too.
    document.querySelectorAll("[data-hk-focused]:not(.hk-focus-first)").forEach(function (field) {
      field.removeAttribute("data-hk-focused");
    });
    document.querySelectorAll(".hk-form .hk-focus-first:not([data-hk-focused])").forEach(function (field) {
      var first = Array.prototype.filter.call(
        field.querySelectorAll("input, select, textarea, button"), usable)[0];
      if (first) {
        field.setAttribute("data-hk-focused", "");
        first.focus();
      }
    });
    // The course view's form buttons: which form is open.
    document.querySelectorAll(".hk-form-selector button.widget-toggle-button").forEach(function (button) {
      setAttr(button, "aria-pressed", button.classList.contains("mod-active") ? "true" : "false");
    });
    document.querySelectorAll(".hk-sr-label").forEach(function (widget) {
      var label = widget.querySelector(":scope > .widget-label");
      var control = widget.querySelector(":scope > input, :scope > select, :scope > textarea");
      if (label && control && label.title && !control.title) { control.title = label.title; }
      // Described by the field's help and, on the end form, the start value beside it.
      var row = widget.parentElement;
      if (!row || !(control || widget.classList.contains("hk-scale"))) { return; }
      var ids = [];
      row.querySelectorAll(".hk-help, .hk-reference").forEach(function (el) {
        if (!el.id) { el.id = "hk-desc-" + (++describedCount); }
        ids.push(el.id);
      });
      if (ids.length) { setAttr(control || widget, "aria-describedby", ids.join(" ")); }
    });
    // ipywidgets binds a label to every text box, empty and hidden when the widget has no
    // description (e.g. the worklist's search). An empty label names nothing, yet it keeps the
    // browser from naming the box by its placeholder: it is unbound while it is empty (and bound
    // again if it gets a text).
    document.querySelectorAll(".jupyter-widgets > label.widget-label").forEach(function (label) {
      var control = label.parentElement.querySelector(":scope > input, :scope > textarea");
      if (!control || !control.id) { return; }
      var empty = !label.textContent.trim();
      if (empty && label.htmlFor === control.id) { label.removeAttribute("for"); }
      else if (!empty && !label.htmlFor) { label.htmlFor = control.id; }
    });
  }

  var describedCount = 0;
  var tidyQueued = false;
  function queueTidy() {
    if (tidyQueued) { return; }
    tidyQueued = true;
    window.requestAnimationFrame(function () { tidyQueued = false; tidyNames(); });
  }
  new MutationObserver(queueTidy).observe(document.body, {childList: true, subtree: true, attributes: true,
                                                          attributeFilter: ["class", "disabled"]});

  // --- the keyboard in a question's answers ----------------------------------------------------------
  // Arrow keys (and Home/End) move between the answers of a question; Space or Enter chooses the
  // one with focus (a button's own click); the digit of an answer's code chooses it and moves on
  // to the next question, so a HADS of 14 items takes 14 key presses. Which digit stands for
  // which answer is in the group's class hk-keys-0-1-2-3-x (one per button, x: none), made from
  // the codes by field_widgets.scale_keys_class. Nothing here saves: saving is a button of its own.
  function digitsOf(group) {
    for (var i = 0; i < group.classList.length; i++) {
      var name = group.classList[i];
      if (name.indexOf("hk-keys-") === 0) { return name.slice("hk-keys-".length).split("-"); }
    }
    return [];
  }

  function usable(el) {
    return !el.disabled && el.tabIndex >= 0 && el.getClientRects().length > 0 &&
      window.getComputedStyle(el).visibility !== "hidden";
  }

  // The next place Tab would go after the question (its buttons are one stop).
  function nextStop(group) {
    tidyNames();
    var all = document.querySelectorAll("input, select, textarea, button, a[href], [tabindex]");
    for (var i = 0; i < all.length; i++) {
      var el = all[i];
      if (!group.contains(el) && (group.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING) &&
          usable(el)) { return el; }
    }
    return null;
  }

  function focusButton(group, button) {
    scaleButtons(group).forEach(function (b) { setAttr(b, "tabindex", b === button ? "0" : "-1"); });
    button.focus();
  }

  var MOVES = {ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1};
  document.addEventListener("keydown", function (event) {
    var button = event.target && event.target.closest ? event.target.closest(".hk-scale button") : null;
    if (!button || event.altKey || event.ctrlKey || event.metaKey) { return; }
    var group = button.closest(".hk-scale");
    var buttons = scaleButtons(group);
    var enabled = buttons.filter(function (b) { return !b.disabled; });
    var at = enabled.indexOf(button);
    var target = null;
    if (MOVES[event.key]) {
      target = enabled[(at + MOVES[event.key] + enabled.length) % enabled.length];
    } else if (event.key === "Home" || event.key === "End") {
      target = enabled[event.key === "Home" ? 0 : enabled.length - 1];
    }
    if (target) {
      event.preventDefault();
      focusButton(group, target);
      return;
    }
    if (!/^[0-9]$/.test(event.key)) { return; }
    var chosen = buttons[digitsOf(group).indexOf(event.key)];
    if (!chosen || chosen.disabled) { return; }
    event.preventDefault();
    if (!chosen.classList.contains("mod-active")) { chosen.click(); }
    var next = nextStop(group);
    if (next) { next.focus(); } else { focusButton(group, chosen); }
  });

  // Whatever gets focus is scrolled clear of the save bar fixed at the foot of the window.
  document.addEventListener("focusin", function (event) {
    var el = event.target;
    var bar = document.querySelector(".hk-save-bar");
    if (!el || !el.getBoundingClientRect || !bar || bar.contains(el)) { return; }
    var box = el.getBoundingClientRect();
    if (box.bottom > bar.getBoundingClientRect().top - 8 || box.top < 0) {
      el.scrollIntoView({block: "center"});
    }
  });

  // --- leaving the page with unsaved input ------------------------------------------------------------
  var ownShutdown = false;

  function isDirty() {
    var typing = Object.keys(pending).some(function (name) { return pending[name].isConnected; });
    // The course view stays in the page, hidden, while another view is shown: only a shown one counts.
    var course = document.querySelector(".hk-course.hk-dirty");
    return !shown && (typing || (!!course && course.offsetParent !== null));
  }

  window.addEventListener("beforeunload", function (event) {
    var dirty = isDirty();
    flushTyping();            // whatever happens next, the kernel has what was typed
    ownShutdown = dirty;
    if (!dirty) { return; }   // Voila's listener shuts the kernel down, as for any page
    event.stopImmediatePropagation();
    event.preventDefault();
    event.returnValue = "";   // the browser's own "leave the page?" question
    return "";
  }, true);

  window.addEventListener("pagehide", function () {
    if (!ownShutdown || !kernelId) { return; }
    ownShutdown = false;
    var form = new FormData();
    var m = document.cookie.match(/\b_xsrf=([^;]*)\b/);
    form.append("_xsrf", m ? m[1] : "");
    navigator.sendBeacon(base + "voila/api/shutdown/" + encodeURIComponent(kernelId), form);
  });
  window.setInterval(check, CHECK_EVERY_MS);
  check();
})();
