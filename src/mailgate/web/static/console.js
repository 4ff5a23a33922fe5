// mailgate console: the few dynamic touches, with no inline script (CSP: script-src 'self').
// Every page works without this file; it only saves reloads. (No htmx: the console must
// work offline and no package ships it; this is the one behaviour the pages need.)
//
//   data-poll="URL" data-poll-version="V" [data-poll-seconds="N"] [data-poll-select="#id"]
//     every N seconds fetch URL; when its X-Poll-Version header differs from V, swap the
//     element's content for the answer (or for the answer's #id element) and keep the
//     new version. An unchanged thread is never touched, so a folded quote the agent
//     opened stays open. A redirect (the session ended) is left alone.
//   select[data-autosubmit]
//     submit the form when the choice changes (the button is then hidden).
(function () {
  "use strict";

  function poll(el) {
    var url = el.getAttribute("data-poll");
    var seconds = parseInt(el.getAttribute("data-poll-seconds") || "5", 10);
    var select = el.getAttribute("data-poll-select");
    var busy = false;
    function tick() {
      if (document.hidden || busy) { return; }
      busy = true;
      fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "console.js" } })
        .then(function (r) {
          var version = r.headers.get("X-Poll-Version");
          if (!r.ok || r.redirected || version === null) { return null; }
          if (version === el.getAttribute("data-poll-version")) { return null; }
          return r.text().then(function (html) { return { version: version, html: html }; });
        })
        .then(function (answer) {
          if (!answer) { return; }
          var target = el, html = answer.html;
          if (select) {
            var part = new DOMParser().parseFromString(html, "text/html").querySelector(select);
            target = el.querySelector(select);
            if (!part || !target) { return; }
            html = part.innerHTML;
          }
          target.innerHTML = html;
          el.setAttribute("data-poll-version", answer.version);
        })
        .catch(function () { /* offline for a moment: try again next tick */ })
        .then(function () { busy = false; });
    }
    window.setInterval(tick, Math.max(2, seconds) * 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-poll]"), poll);
    Array.prototype.forEach.call(document.querySelectorAll("select[data-autosubmit]"), function (s) {
      s.addEventListener("change", function () { s.form.submit(); });
      var button = s.form.querySelector("button");
      if (button) { button.hidden = true; }
    });
  });
})();
