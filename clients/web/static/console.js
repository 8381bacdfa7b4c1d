// The report page's live refresh: re-fetches the page every N seconds and swaps the report in
// place (the page also works without this: a <noscript> meta refresh reloads it instead).
"use strict";
(function () {
  const status = document.getElementById("refresh-status");
  const report = document.getElementById("report");
  if (!status || !report) return;
  const every = Number(status.dataset.refreshS) * 1000;
  if (!(every > 0)) return;
  async function refresh() {
    try {
      const reply = await fetch(window.location.href, { credentials: "same-origin" });
      if (!reply.ok) throw new Error("HTTP " + reply.status);
      const page = new DOMParser().parseFromString(await reply.text(), "text/html");
      const fresh = page.getElementById("report");
      if (!fresh) throw new Error("no report in the reply");
      report.replaceChildren(...fresh.childNodes);
      status.textContent = "Refreshed at " + new Date().toLocaleTimeString() +
        "; again in " + every / 1000 + " s.";
    } catch (err) {
      status.textContent = "Could not refresh (" + err.message + "); retrying in " + every / 1000 + " s.";
    }
  }
  window.setInterval(refresh, every);
})();
