// mailgate console: the few dynamic touches, with no inline script (CSP: script-src 'self').
// Every page works without this file; it only saves reloads.
//   data-poll="URL" [data-poll-seconds="N"] [data-poll-select="#id"]
//     fetch URL every N seconds and swap the element's content for the answer
//     (or for the answer's #id element), unless the agent is typing or has it open.
//   select[data-autosubmit]  submit the form when the choice changes.
(function () {
  "use strict";

  function poll(el) {
    var url = el.getAttribute("data-poll");
    var seconds = parseInt(el.getAttribute("data-poll-seconds") || "5", 10);
    var select = el.getAttribute("data-poll-select");
    var last = null;
    function tick() {
      if (document.hidden) { return; }
      fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "console.js" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html === null || html === last) { return; }
          var target = el;
          if (select) {
            var doc = new DOMParser().parseFromString(html, "text/html");
            var part = doc.querySelector(select);
            target = el.querySelector(select);
            if (!part || !target) { return; }
            html = part.innerHTML;
            if (html === last) { return; }
          }
          if (last !== null || target.innerHTML.trim() !== html.trim()) {
            if (target.querySelector("details[open]") && last !== null && html.length === last.length) { return; }
            target.innerHTML = html;
          }
          last = html;
        })
        .catch(function () { /* offline for a moment: try again next tick */ });
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
