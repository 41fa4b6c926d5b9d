/* The demo landing site's helper (static, so the strict CSP allows it): once the snippet has run, show the
   visitor id it chose, the Calendly link as rewritten, and a link to this visitor's journey in the dashboard. */
(function () {
  "use strict";
  var tries = 0;
  function show() {
    var vid = "";
    try { vid = localStorage.getItem("sb_vid") || ""; } catch (e) { vid = ""; }
    var book = document.getElementById("book");
    if (!/^sbv_[A-Za-z0-9_-]{22}$/.test(vid) || !book) {
      if (tries++ < 50) setTimeout(show, 100);
      return;
    }
    document.getElementById("visitor-id").textContent = vid;
    document.getElementById("journey-link").href = "/dashboard/people/?visitor_id=" + encodeURIComponent(vid);
    document.getElementById("journey-link-box").hidden = false;
    setTimeout(function () { document.getElementById("book-href").textContent = book.href; }, 50);
  }
  show();
})();
