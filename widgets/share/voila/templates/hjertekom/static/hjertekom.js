// HjerteKom entry app: the page's own script (served behind the login like every other file).
//
// - Every few seconds it asks the server whether the session is still open and tells it that this
//   page (and so its kernel) is still there. When the session has ended (logged out in another
//   tab, idle timeout, account closed) or the kernel is gone, a notice covers the page at once, so
//   nobody types into a form that can no longer be saved.
// - "Log ud" is a POST with the page's _xsrf token, never a plain link.
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
    unknown: ["Du er ikke logget ind.", "Log ind igen for at fortsætte."],
    kernel: ["Forbindelsen til skemaet er lukket.", "Genindlæs siden for at fortsætte. Det, der var gemt, er der stadig."]
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
    var link = reason === "kernel" ?
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
  });
  window.setInterval(check, CHECK_EVERY_MS);
  check();
})();
