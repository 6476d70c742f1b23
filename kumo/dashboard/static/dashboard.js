// Kumo dashboard: the little script the pages need (no build step, no library).
// Refreshing lists, the topology graph, the image upload with progress, confirmations.
// Names only ever reach the page as server-escaped HTML or as textContent.
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const csrf = () => (document.querySelector("meta[name=csrf-token]") || {}).content || "";
  const MAX_POLLS = 100000; // bounded, even for a tab left open for days

  function poll(fn, delay) {
    let n = 0;
    const tick = async () => {
      if (n++ > MAX_POLLS) return;
      let next = delay;
      try { next = (await fn()) || delay; } catch (e) { next = delay * 2; }
      setTimeout(tick, next);
    };
    setTimeout(tick, delay);
  }

  async function fetchText(url) {
    const r = await fetch(url, {credentials: "same-origin",
                                headers: {"X-Requested-With": "fetch"}});
    if (r.status === 401) { window.location.reload(); throw new Error("logged out"); }
    if (!r.ok) throw new Error("HTTP " + r.status);
    return r.text();
  }

  // -- confirmations and the project switch -------------------------------------
  document.addEventListener("submit", (ev) => {
    const msg = ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) ev.preventDefault();
  }, true);
  document.addEventListener("change", (ev) => {
    if (ev.target.hasAttribute("data-autosubmit")) ev.target.form.submit();
  });

  // -- lists refreshing as states change ----------------------------------------
  function refreshing(el) {
    poll(async () => {
      const html = await fetchText(el.getAttribute("data-refresh"));
      if (el.tagName === "PRE") { el.textContent = html; return 5000; }
      el.innerHTML = html; // the server's escaped fragment
      const busy = el.querySelector("tr[data-status=BUILD], tr[data-status=REBOOT], tr[data-status=HARD_REBOOT], tr[data-status=REBUILD]");
      return busy ? 1500 : 5000;
    }, el.getAttribute("data-busy") === "1" ? 1500 : 5000);
  }

  // -- the network topology ------------------------------------------------------
  function el(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function node(svg, kind, item, x, y, w, h, lines) {
    const a = el("a", {href: item.href, id: "node-" + kind + "-" + item.id,
                       class: "node " + kind + " s-" + String(item.status || "").toLowerCase()});
    a.setAttributeNS("http://www.w3.org/1999/xlink", "xlink:href", item.href);
    a.appendChild(el("title", {}, kind + " " + item.name + " (" + (item.status || "") + ")"));
    a.appendChild(el("rect", {x: x, y: y, width: w, height: h, rx: 6}));
    const fit = Math.max(8, Math.floor((w - 16) / 7));  // characters that fit the box
    lines.forEach((t, i) => a.appendChild(el("text", {x: x + 8, y: y + 16 + i * 14,
                                                       class: i ? "sub" : "label"},
                                             t.length > fit ? t.slice(0, fit - 1) + "\u2026" : t)));
    svg.appendChild(a);
  }

  function drawTopology(svg, data) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const COL = 190, W = 170, left = 20;
    const ext = data.networks.filter((n) => n.external);
    const nets = data.networks.filter((n) => !n.external);
    const col = {};
    nets.forEach((n, i) => { col[n.id] = i; });
    const width = Math.max(800, left * 2 + Math.max(nets.length, data.routers.length, 1) * COL);
    const edges = el("g", {class: "edges"});
    svg.appendChild(edges);
    let y = 10;
    const extY = {};
    ext.forEach((n) => {
      node(svg, "external", n, left, y, width - 2 * left, 34,
           [n.name + " (external)", n.cidrs.join(", ")]);
      extY[n.id] = y + 34; y += 44;
    });
    const routerY = y + 30, netY = routerY + 90, serverY = netY + 80;
    const routerX = {};
    const usedX = new Set();
    data.routers.forEach((r, i) => {
      const cols = r.networks.filter((id) => id in col).map((id) => col[id]);
      let c = cols.length ? Math.round(cols.reduce((a, b) => a + b, 0) / cols.length) : i;
      while (usedX.has(c)) c += 1;
      usedX.add(c);
      routerX[r.id] = left + c * COL;
    });
    const ext_width = Math.max(width, left * 2 + (Math.max(...Object.values(routerX), 0) + COL));
    svg.setAttribute("width", ext_width);
    data.routers.forEach((r) => {
      const x = routerX[r.id];
      if (r.gateway && extY[r.gateway] !== undefined) {
        edges.appendChild(el("line", {x1: x + W / 2, y1: extY[r.gateway], x2: x + W / 2,
                                      y2: routerY, class: "edge gateway"}));
      }
      r.networks.forEach((id) => {
        if (!(id in col)) return;
        edges.appendChild(el("line", {x1: x + W / 2, y1: routerY + 40,
                                      x2: left + col[id] * COL + W / 2, y2: netY,
                                      class: "edge interface"}));
      });
      node(svg, "router", r, x, routerY, W, 40, [r.name || r.id.slice(0, 8),
                                                 (r.gateway_ips || []).join(", ")]);
    });
    nets.forEach((n) => node(svg, "network", n, left + col[n.id] * COL, netY, W, 40,
                             [n.name, n.cidrs.join(", ")]));
    const stack = {};
    let bottom = netY + 60;
    data.servers.forEach((s) => {
      const ids = Object.keys(s.networks).filter((id) => id in col);
      const home = ids.length ? col[ids[0]] : null;
      if (home === null) return;
      const k = stack[home] = (stack[home] || 0) + 1;
      const x = left + home * COL, sy = serverY + (k - 1) * 70;
      ids.forEach((id) => {
        edges.appendChild(el("line", {x1: left + col[id] * COL + W / 2, y1: netY + 40,
                                      x2: x + W / 2, y2: sy, class: "edge port"}));
      });
      const addrs = ids.map((id) => s.networks[id].join(", ")).concat(s.floating);
      node(svg, "server", s, x, sy, W, 52, [s.name, s.status, addrs.join(", ")]);
      bottom = Math.max(bottom, sy + 60);
    });
    svg.setAttribute("height", bottom + 20);
  }

  function topology(box) {
    const svg = box.querySelector("svg");
    const err = document.getElementById("topology-error");
    let last = "";
    const load = async () => {
      try {
        const text = await fetchText(box.getAttribute("data-url"));
        if (text !== last) { drawTopology(svg, JSON.parse(text)); last = text; }
        if (!svg.hasAttribute("data-loaded")) {  // first drawing: benchmarks read it
          svg.setAttribute("data-rendered-ms", String(Math.round(performance.now())));
        }
        svg.setAttribute("data-loaded", "1");
        err.hidden = true;
      } catch (e) {
        err.textContent = "Could not refresh the topology: " + e.message;
        err.hidden = false;
        throw e;
      }
      return 3000;
    };
    load().catch(() => {});
    poll(load, 3000);
  }

  // -- image upload with progress ------------------------------------------------
  function upload(form) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const bar = document.getElementById("upload-progress");
      const status = document.getElementById("upload-status");
      const file = form.querySelector("input[type=file]").files[0];
      const body = new URLSearchParams();
      for (const [k, v] of new FormData(form)) if (typeof v === "string") body.append(k, v);
      const r = await fetch(form.action, {method: "POST", body: body,
        credentials: "same-origin", headers: {"Accept": "application/json"}});
      const made = await r.json();
      if (!r.ok) { status.textContent = made.error || ("HTTP " + r.status); return; }
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", made.upload);
      xhr.setRequestHeader("X-CSRF-Token", csrf());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      bar.hidden = false;
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) { bar.value = Math.round(100 * e.loaded / e.total);
                                  status.textContent = bar.value + "%"; }
      };
      xhr.onload = () => {
        if (xhr.status < 300) { bar.value = 100; window.location = form.getAttribute("data-done"); }
        else { let m = "HTTP " + xhr.status;
               try { m = JSON.parse(xhr.responseText).error || m; } catch (e) {}
               status.textContent = "Upload failed: " + m; }
      };
      xhr.onerror = () => { status.textContent = "Upload failed."; };
      xhr.send(file);
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-refresh]").forEach(refreshing);
    const topo = document.getElementById("topology");
    if (topo) topology(topo);
    const up = document.getElementById("image-upload");
    if (up) upload(up);
  });
})();
