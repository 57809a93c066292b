// Progressive enhancement only: the pages work without this script.
// With no zone chosen yet, use the browser's own and reload once, so that times show in the viewer's zone.
(function () {
  if (document.cookie.split("; ").some(function (c) { return c.indexOf("console_tz=") === 0; })) return;
  var link = document.querySelector("[data-zone]");
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!link || !zone || zone === link.getAttribute("data-zone")) return;
  if (sessionStorage.getItem("console_tz_tried")) return; // cookies refused: keep the server's zone, no loop
  sessionStorage.setItem("console_tz_tried", "1");
  document.cookie = "console_tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=strict" +
    (location.protocol === "https:" ? "; secure" : "");
  location.reload();
})();
