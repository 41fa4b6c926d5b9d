/*! Sourcebook journey snippet: first-party, no dependencies, talks only to the Sourcebook it came from.
 * <script src="https://<sourcebook>/sourcebook.js" async [data-consent="required"] [data-respect-gpc]
 *         [data-id-param="salesforce_uuid"]></script>   then, with consent required: sourcebook.consent() */
(function (w, d) {
  "use strict";
  if (w.sourcebook && w.sourcebook.v) return; // included twice: the first copy does the work
  var me = d.currentScript || d.querySelector('script[src*="/sourcebook.js"]');
  if (!me) return;
  var base = me.src.replace(/\/sourcebook\.js([?#].*)?$/, "");
  var attr = function (n) { return me.getAttribute(n); };
  var gpc = me.hasAttribute("data-respect-gpc") && navigator.globalPrivacyControl === true;
  var idParam = attr("data-id-param") === "salesforce_uuid" ? "salesforce_uuid" : "utm_term";
  var UTM = ["utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term"];
  var CLICK = ["gclid", "gbraid", "wbraid", "fbclid", "msclkid", "li_fat_id", "ttclid"];
  var ID = /^sbv_[A-Za-z0-9_-]{22}$/, K = "sb_vid", LOOKBACK = 90 * 864e5;
  var on = false, vid = "", last = null;

  function get(store, k) { try { return w[store].getItem(k); } catch (e) { return null; } }
  function put(store, k, v) { try { w[store].setItem(k, v); } catch (e) { /* private mode, quota */ } }
  function json(s) { try { return JSON.parse(s); } catch (e) { return null; } }
  function cookie() { var m = d.cookie.match(/(?:^|;\s*)sb_vid=([^;]+)/); return m ? m[1] : ""; }
  function setCookie(v) {
    // The widest domain of this site that accepts it (www.example.com → example.com), else host-only.
    var tail = ";path=/;max-age=34560000;SameSite=Lax" + (location.protocol === "https:" ? ";Secure" : "");
    var h = location.hostname.split("."), i;
    for (i = h.length - 2; i >= 0 && h.length > 1 && !/^[\d.]+$/.test(location.hostname); i--) {
      d.cookie = K + "=" + v + tail + ";domain=" + h.slice(i).join(".");
      if (cookie() === v) return;
    }
    d.cookie = K + "=" + v + tail;
  }
  function newId() {
    var a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", r = new Uint8Array(22), s = "sbv_", i;
    (w.crypto || w.msCrypto).getRandomValues(r);
    for (i = 0; i < 22; i++) s += a[r[i] & 63];
    return s;
  }

  function send(kind) {
    var body = JSON.stringify({ v: vid, url: location.href.slice(0, 2000), ref: d.referrer.slice(0, 1000), t: Date.now(), k: kind });
    try {
      if (navigator.sendBeacon && navigator.sendBeacon(base + "/collect/", body)) return;
      fetch(base + "/collect/", { method: "POST", body: body, keepalive: true, mode: "cors", credentials: "omit",
                                  headers: { "Content-Type": "text/plain" } });
    } catch (e) { /* never disturb the page */ }
  }

  // What this page view brings: UTMs, click ids, an external referrer (all empty = direct).
  function pageTouch() {
    var q = new URLSearchParams(location.search), t = { at: Date.now(), p: location.pathname }, news = false, ref = "";
    UTM.forEach(function (k) { var v = q.get(k); if (v && !(k === "utm_term" && ID.test(v))) { t[k] = v; news = true; } });
    CLICK.forEach(function (k) { var v = q.get(k); if (v) { t[k] = v; news = true; } });
    try { ref = d.referrer ? new URL(d.referrer).hostname : ""; } catch (e) { ref = ""; }
    if (ref && ref !== location.hostname) { t.r = ref; news = true; }
    return news ? t : null;
  }

  function start() {
    if (on || gpc) return;
    on = true;
    var q = new URLSearchParams(location.search).get(K);
    vid = ID.test(q || "") ? q : (ID.test(cookie()) ? cookie() : (ID.test(get("localStorage", K) || "") ? get("localStorage", K) : newId()));
    setCookie(vid);
    put("localStorage", K, vid);
    var t = pageTouch(), first = json(get("localStorage", "sb_first"));
    last = json(get("localStorage", "sb_last"));
    if (last && Date.now() - last.at > LOOKBACK) last = null;
    if (!first || Date.now() - first.at > LOOKBACK) put("localStorage", "sb_first", JSON.stringify(t || { at: Date.now(), p: location.pathname }));
    if (t) { last = t; put("localStorage", "sb_last", JSON.stringify(t)); }
    var sig = t ? JSON.stringify([t.r, UTM.map(function (k) { return t[k]; }), CLICK.map(function (k) { return t[k]; })]) : "";
    if (!get("sessionStorage", "sb_s")) { put("sessionStorage", "sb_s", "1"); put("sessionStorage", "sb_sig", sig); send("session"); }
    else if (t && get("sessionStorage", "sb_sig") !== sig) { put("sessionStorage", "sb_sig", sig); send("pageview"); }
    scan();
    wrapCalendly();
    if (w.MutationObserver) {
      new MutationObserver(scan).observe(d.documentElement, { childList: true, subtree: true, attributes: true,
                                                              attributeFilter: ["href", "data-url", "src"] });
    }
  }

  // A Calendly URL with the last non-direct touch's UTMs (only if it has none of its own) and the visitor id.
  // Idempotent: a second run finds its own values and changes nothing. Any error: the URL as it was.
  function rewrite(url) {
    try {
      if (!on || typeof url !== "string") return url;
      var x = new URL(url, location.href), p = x.searchParams, add = [], own, term, param, cur;
      if (!/(^|\.)calendly\.com$/.test(x.hostname)) return url;
      own = UTM.some(function (k) { var v = p.get(k); return v && !(k === "utm_term" && ID.test(v)); });
      if (!own && last) UTM.forEach(function (k) { if (last[k]) add.push([k, last[k]]); });
      term = p.get("utm_term") || (last && !own && last.utm_term) || "";
      param = idParam === "salesforce_uuid" || (term && !ID.test(term)) ? "salesforce_uuid" : "utm_term";
      cur = p.get(param);
      if (cur === vid && !add.length) return url;
      if (cur && ID.test(cur)) url = url.split(cur).join(vid), x = new URL(url, location.href);
      else if (!cur) add.push([param, vid]);
      if (!add.length) return url;
      var extra = add.map(function (kv) { return encodeURIComponent(kv[0]) + "=" + encodeURIComponent(kv[1]); }).join("&");
      x.search = x.search ? x.search + "&" + extra : "?" + extra;
      return x.href;
    } catch (e) { return url; }
  }

  function scan() {
    if (!on) return;
    wrap(w.Calendly); // widget.js may add its functions after it created the object
    d.querySelectorAll('a[href*="calendly.com/"]').forEach(function (a) {
      var h = a.getAttribute("href"), n = rewrite(h);
      if (n !== h) a.setAttribute("href", n);
    });
    d.querySelectorAll('[data-url*="calendly.com/"]').forEach(function (e) {
      var h = e.getAttribute("data-url"), n = rewrite(h);
      if (n !== h) e.setAttribute("data-url", n);
    });
    d.querySelectorAll('.calendly-inline-widget iframe[src*="calendly.com/"]').forEach(function (f) {
      var h = f.getAttribute("src"), n = rewrite(h);
      if (n !== h) f.setAttribute("src", n);
    });
  }

  // Calendly.initInlineWidget / initPopupWidget({url}) and showPopupWidget(url), now or when widget.js loads.
  function wrap(c) {
    if (!c) return;
    ["initInlineWidget", "initPopupWidget", "initBadgeWidget", "showPopupWidget"].forEach(function (name) {
      var f = c[name];
      if (typeof f !== "function" || f.__sb) return;
      var g = function (o) {
        var a = [].slice.call(arguments);
        if (typeof o === "string") a[0] = rewrite(o);
        else if (o && o.url) a[0] = Object.assign({}, o, { url: rewrite(o.url) });
        return f.apply(this, a);
      };
      g.__sb = 1;
      c[name] = g;
    });
  }
  function wrapCalendly() {
    if (w.Calendly) { wrap(w.Calendly); return; }
    var held;
    try {
      Object.defineProperty(w, "Calendly", { configurable: true, enumerable: true,
        get: function () { return held; }, set: function (c) { held = c; wrap(c); } });
    } catch (e) { /* already defined elsewhere */ }
  }

  w.sourcebook = {
    v: 1,
    consent: start,
    visitorId: function () { return vid; },
    rewrite: rewrite
  };
  if (attr("data-consent") !== "required") start();
})(window, document);
