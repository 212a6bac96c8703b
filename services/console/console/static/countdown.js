// Live countdowns of complaint time limits (the console's desk and supervisor screens).
// Progressive enhancement: the server renders each <time class="countdown"> with its text and
// colour at page load; this script recomputes both every 15 seconds from data-due / data-warn.
(function () {
  "use strict";
  var zh = (document.documentElement.lang || "").indexOf("zh") === 0;

  function text(seconds) {
    var left = Math.abs(seconds);
    var d = Math.floor(left / 86400), h = Math.floor((left % 86400) / 3600),
        m = Math.floor((left % 3600) / 60);
    var parts;
    if (zh) {
      parts = d ? [d + "天", h ? h + "小时" : ""] : [h ? h + "小时" : "", m + "分"];
      return (seconds < 0 ? "超时" : "剩余") + (parts.join("") || "0分");
    }
    parts = d ? [d + "d", h ? h + "h" : ""] : [h ? h + "h" : "", m + "m"];
    return (parts.filter(Boolean).join(" ") || "0m") + (seconds < 0 ? " overdue" : " left");
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("time.countdown[data-due]").forEach(function (el) {
      var due = Date.parse(el.dataset.due), warn = Date.parse(el.dataset.warn);
      // breached once past due, as hospital_shared.time_limits: at the due instant it is still met
      var state = now > due ? "breached" : now >= warn ? "warning" : "running";
      el.classList.remove("state-running", "state-warning", "state-breached");
      el.classList.add("state-" + state);
      el.querySelector(".left").textContent = text(Math.floor((due - now) / 1000));
    });
  }

  tick();
  setInterval(tick, 15000);
})();
