// isegm browser annotation view: plain JS over the JSON endpoints of isegm/web/server.py (no build step).
// Coordinates sent to the server are (y, x) image pixels; the canvas shows the image scaled by S.scale and
// shifted by (S.ox, S.oy) CSS pixels. Every change carries the revision the page shows; the server refuses
// a change made from an older revision (another tab) with 409 and sends the current state, which is drawn.
// Tools: "click" (left click / right or Shift+click = positive / negative, left drag = box) and "stroke" (left
// drag = add stroke, right or Shift+left drag = erase stroke; a press without a drag is a click of that sign).
// With the suggestion overlay on, the server renders the whole view (api/view.png, the Tk view's picture).
"use strict";
(() => {
  const TOKEN = new URLSearchParams(location.search).get("token");
  const $ = (id) => document.getElementById(id);
  const canvas = $("canvas");
  const ctx = canvas.getContext("2d");
  const labelInput = $("label");
  const S = {
    info: null, images: [], name: null, state: null, img: null,
    layerRaw: null, layerCanvas: null, layerRev: null, layerName: null,
    scale: 1, ox: 0, oy: 0, drag: null, pending: 0, message: "", refused: false, lastSaved: [],
    tool: "click", suggest: false, viewImg: null, viewKey: null, suggestion: null,
  };
  const DRAG_PX = 5;              // screen px a press must move to become a drag (box or stroke)
  const MAX_STROKE_POINTS = 2000;  // vertices sent per stroke (a longer trail is thinned evenly, ends kept)

  // ------------------------------------------------------------------ requests
  function withToken(url) {
    return TOKEN ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN) : url;
  }
  async function api(method, path, body, contentType) {
    const opts = {method, headers: {}, credentials: "same-origin"};
    if (TOKEN) opts.headers["X-Isegm-Token"] = TOKEN;
    if (body !== undefined) {
      opts.headers["Content-Type"] = contentType || "application/json";
      opts.body = contentType ? body : JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, opts);
    } catch (err) {
      return {ok: false, status: 0, data: {detail: "the server cannot be reached (" + err + ")"}};
    }
    let data;
    try { data = await res.json(); } catch (err) { data = {detail: res.status + " " + res.statusText}; }
    return {ok: res.ok, status: res.status, data};
  }
  // One request at a time, in order: each change needs the revision the previous one produced.
  let chain = Promise.resolve();
  function queue(fn) {
    S.pending += 1;
    updateStatus();
    const p = chain.then(fn).catch((err) => setMessage(String(err), true)).finally(() => {
      S.pending -= 1;
      updateStatus();
    });
    chain = p;
    return p;
  }
  const nameQuery = (name) => "name=" + encodeURIComponent(name);

  // A change of the open image; resolves to the response ({ok, status, data}) or null without an image.
  function change(path, fields) {
    if (!S.state) {
      setMessage("Choose an image first.", true);
      return Promise.resolve(null);
    }
    const name = S.name;
    return queue(async () => {
      if (name !== S.name || !S.state) return null;
      const r = await api("POST", path, Object.assign({name, rev: S.state.revision}, fields));
      return handle(r);
    });
  }
  async function handle(r) {
    const d = r.data || {};
    if (d.state) await applyState(d.state);
    if (!r.ok) {
      setMessage(d.detail || ("error " + r.status), true);
      if (d.code === "not_open" && S.name) await doOpen(S.name);
    }
    return r;
  }

  // ------------------------------------------------------------------ images and sessions
  async function refreshImages() {
    const r = await api("GET", "api/images");
    if (!r.ok) { setMessage(r.data.detail, true); return; }
    S.images = r.data.images;
    const list = $("images");
    list.replaceChildren();
    for (const im of S.images) {
      const li = document.createElement("li");
      li.dataset.name = im.name;
      li.className = im.name === S.name ? "current" : "";
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = im.name;
      name.title = im.name;
      const badge = document.createElement("span");
      badge.className = "badge " + im.status.replace(" ", "-");
      badge.textContent = im.status;
      li.append(name, badge);
      li.addEventListener("click", () => openImage(im.name));
      list.append(li);
    }
  }
  function loadImageElement(name) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error("cannot load image " + name));
      img.src = withToken("api/image?" + nameQuery(name));
    });
  }
  async function doOpen(name) {
    let r = await api("POST", "api/open", {name, resume: null});
    if (r.ok && r.data.ask_resume) {
      const yes = window.confirm("An autosaved session exists for " + name + " (" + r.data.autosave +
                                 ").\nResume it?");
      r = await api("POST", "api/open", {name, resume: yes});
    }
    if (!r.ok) { setMessage(r.data.detail, true); return; }
    const img = await loadImageElement(name);
    S.name = name;
    S.img = img;
    S.state = null;
    S.layerRaw = S.layerCanvas = null;
    S.layerRev = null;
    $("placeholder").hidden = true;
    await applyState(r.data.state);
    labelInput.value = r.data.state.label;
    $("stuff").checked = !r.data.state.isthing;
    fit();
    setMessage(r.data.outcome + " " + name);
    if (r.data.warning) window.alert(r.data.warning);
    await refreshImages();
  }
  function openImage(name) { return queue(() => doOpen(name)); }

  async function applyState(state) {
    if (!state || state.name !== S.name) return;
    const prev = S.state;
    S.state = state;
    if (!thresholdHeld) {
      $("threshold").value = state.threshold;
      $("threshold-value").textContent = state.threshold.toFixed(2);
    }
    if (prev && prev.label !== state.label && document.activeElement !== labelInput) {
      labelInput.value = state.label;
    }
    $("swatch").textContent = "next id: " + state.next_id;
    $("swatch").style.background = rgb(state.next_color, 0.55);
    const list = $("objects");
    list.replaceChildren();
    for (const o of state.objects) {
      const li = document.createElement("li");
      const dot = document.createElement("span");
      dot.className = "dot";
      dot.style.background = rgb(o.color, 1);
      li.append(dot, document.createTextNode(String(o.id).padStart(3) + "  " + o.label + "  (" + o.area + " px)"));
      list.append(li);
    }
    const ref = $("refiner");
    ref.disabled = !state.has_refiner;
    ref.checked = !!state.refiner_enabled;
    $("refiner-note").textContent = state.refining ? "(refining)" : "";
    $("refiner-row").title = state.has_refiner ? "objects started from an external mask go to the refiner while on"
      : "no refiner loaded (start python -m isegm.web with --refiner-checkpoint PATH)";
    if (S.layerRev !== state.revision) await loadLayer(state.name, state.revision);
    if (S.suggest) await loadView();
    render();
    updateStatus();
  }
  async function loadLayer(name, rev) {
    const img = await new Promise((resolve, reject) => {
      const im = new Image();
      im.onload = () => resolve(im);
      im.onerror = () => reject(new Error("cannot load the mask layer"));
      im.src = withToken("api/layer.png?" + nameQuery(name) + "&rev=" + rev);
    });
    if (name !== S.name) return;
    const off = document.createElement("canvas");
    off.width = img.naturalWidth;
    off.height = img.naturalHeight;
    const octx = off.getContext("2d");
    octx.drawImage(img, 0, 0);
    S.layerRaw = octx.getImageData(0, 0, off.width, off.height);
    S.layerCanvas = off;
    S.layerRev = rev;
    S.layerName = name;
    remapLayer();
  }
  // The layer's alpha is 254 inside masks and 255 on outlines: interiors get the slider's opacity.
  function remapLayer() {
    if (!S.layerRaw) return;
    const a = Math.round(parseFloat($("alpha").value) * 255);
    const src = S.layerRaw.data;
    const out = new ImageData(new Uint8ClampedArray(src), S.layerRaw.width, S.layerRaw.height);
    const d = out.data;
    for (let i = 3; i < d.length; i += 4) {
      const v = src[i];
      d[i] = v === 255 ? 255 : (v === 254 ? a : 0);
    }
    S.layerCanvas.getContext("2d").putImageData(out, 0, 0);
  }

  // The server-rendered view (objects, current object, uncertainty and suggested click) for the suggestion
  // overlay; fetched once per (image, revision, alpha), its X-Isegm-Suggestion header names the click.
  async function loadView() {
    if (!S.state) return;
    const name = S.name, rev = S.state.revision, alpha = $("alpha").value;
    const key = name + "|" + rev + "|" + alpha;
    if (S.viewKey === key) return;
    const opts = {credentials: "same-origin", headers: TOKEN ? {"X-Isegm-Token": TOKEN} : {}};
    let res;
    try {
      res = await fetch("api/view.png?" + nameQuery(name) + "&rev=" + rev + "&suggest=1&alpha=" + alpha, opts);
    } catch (err) {
      setMessage("the server cannot be reached (" + err + ")", true);
      return;
    }
    if (!res.ok) {
      let d = {};
      try { d = await res.json(); } catch (err) { d = {detail: res.status + " " + res.statusText}; }
      setMessage(d.detail || ("error " + res.status), true);
      return;
    }
    const hint = res.headers.get("X-Isegm-Suggestion") || "none";
    const bitmap = await createImageBitmap(await res.blob());
    if (name !== S.name) return;
    S.viewImg = bitmap;
    S.viewKey = key;
    const parts = hint.split(",");
    S.suggestion = parts.length === 3 ? {y: +parts[0], x: +parts[1], positive: parts[2] === "positive"} : null;
  }
  function setSuggest(on) {
    S.suggest = !!on;
    $("suggest").checked = S.suggest;
    if (!S.suggest) {
      S.viewImg = S.viewKey = S.suggestion = null;
      render();
      updateStatus();
      return;
    }
    if (S.state) queue(async () => { await loadView(); render(); updateStatus(); });
  }

  // ------------------------------------------------------------------ drawing
  function rgb(c, a) { return "rgba(" + c[0] + "," + c[1] + "," + c[2] + "," + a + ")"; }
  function resizeCanvas() {
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(canvas.clientWidth * dpr));
    canvas.height = Math.max(1, Math.round(canvas.clientHeight * dpr));
    render();
  }
  function fit() {
    if (!S.img) return;
    const w = S.img.naturalWidth, h = S.img.naturalHeight;
    S.scale = Math.min(canvas.clientWidth / w, canvas.clientHeight / h) * 0.98;
    S.ox = (canvas.clientWidth - w * S.scale) / 2;
    S.oy = (canvas.clientHeight - h * S.scale) / 2;
    render();
  }
  function toScreen(y, x) { return [S.ox + x * S.scale, S.oy + y * S.scale]; }
  function eventXY(e) {
    const r = canvas.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  }
  function toImage(px, py) {
    return [Math.floor((py - S.oy) / S.scale), Math.floor((px - S.ox) / S.scale)];
  }
  function inside(y, x) { return S.state && y >= 0 && x >= 0 && y < S.state.height && x < S.state.width; }

  function render() {
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!S.img) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const w = S.img.naturalWidth, h = S.img.naturalHeight;
    ctx.imageSmoothingEnabled = S.scale < 2;
    const st = S.state;
    if (S.suggest && S.viewImg && st && S.viewKey && S.viewKey.startsWith(S.name + "|")) {
      ctx.drawImage(S.viewImg, S.ox, S.oy, w * S.scale, h * S.scale);  // the server drew objects and overlay
    } else {
      ctx.drawImage(S.img, S.ox, S.oy, w * S.scale, h * S.scale);
      if (S.layerCanvas && S.layerName === S.name) ctx.drawImage(S.layerCanvas, S.ox, S.oy, w * S.scale, h * S.scale);
    }
    if (!st) return;
    ctx.font = "bold 12px sans-serif";
    ctx.lineWidth = 3;
    for (const o of st.objects) {
      if (!o.bbox) continue;
      const [sx, sy] = toScreen(o.bbox[1], o.bbox[0]);
      const light = 0.2126 * o.color[0] + 0.7152 * o.color[1] + 0.0722 * o.color[2] > 127.5;
      ctx.strokeStyle = light ? "#fff" : "#000";
      ctx.fillStyle = light ? "#000" : "#fff";
      ctx.strokeText(String(o.id), sx + 3, sy + 13);
      ctx.fillText(String(o.id), sx + 3, sy + 13);
    }
    if (st.box) {
      const [y0, x0, y1, x1] = st.box;
      const [sx0, sy0] = toScreen(y0, x0), [sx1, sy1] = toScreen(y1, x1);
      ctx.setLineDash([6, 4]);
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#ffd400";
      ctx.strokeRect(sx0, sy0, sx1 - sx0, sy1 - sy0);
      ctx.setLineDash([]);
    }
    // recorded strokes as lines of their width through the pixel centres; their clicks are not drawn as dots
    const fromStroke = new Set();
    ctx.lineCap = ctx.lineJoin = "round";
    for (const s of st.strokes || []) {
      for (let k = 0; k < s.n_clicks; k++) fromStroke.add(s.first_click + k);
      strokePath(s.points.map(([y, x]) => toScreen(y + 0.5, x + 0.5)), s.width, s.positive, 0.5);
    }
    const radius = parseInt($("radius").value, 10);
    if (radius > 0) {
      ctx.lineWidth = 1.5;
      for (const [i, c] of st.clicks.entries()) {
        if (fromStroke.has(i)) continue;
        const [sx, sy] = toScreen(c.y + 0.5, c.x + 0.5);
        ctx.beginPath();
        ctx.arc(sx, sy, radius, 0, 2 * Math.PI);
        ctx.fillStyle = c.positive ? "#22c55e" : "#ef4444";
        ctx.fill();
        ctx.strokeStyle = "#fff";
        ctx.stroke();
      }
    }
    const d = S.drag;
    if (d && d.kind === "left" && d.moved) {
      ctx.setLineDash([4, 3]);
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = "#ffd400";
      ctx.strokeRect(Math.min(d.x0, d.x1), Math.min(d.y0, d.y1), Math.abs(d.x1 - d.x0), Math.abs(d.y1 - d.y0));
      ctx.setLineDash([]);
    }
    if (d && d.kind === "stroke" && d.moved) {  // live preview of the stroke being drawn
      ctx.lineCap = ctx.lineJoin = "round";
      strokePath(d.trail, strokeWidth(), d.positive, 0.6);
    }
  }
  // A polyline of screen points, ``width`` image px wide (at least 1 screen px), green (add) or red (erase).
  function strokePath(pts, width, positive, alpha) {
    if (!pts.length) return;
    ctx.beginPath();
    ctx.moveTo(pts[0][0], pts[0][1]);
    for (const [x, y] of pts.length > 1 ? pts.slice(1) : pts) ctx.lineTo(x, y);
    ctx.lineWidth = Math.max(1, width * S.scale);
    ctx.strokeStyle = positive ? "rgba(34,197,94," + alpha + ")" : "rgba(239,68,68," + alpha + ")";
    ctx.stroke();
  }
  const strokeWidth = () => parseFloat($("stroke-width").value);

  function setMessage(text, refused) {
    S.message = text || "";
    S.refused = !!refused;
    updateStatus();
  }
  function updateStatus() {
    const parts = [];
    if (S.message) parts.push(S.message);
    const st = S.state;
    if (st) {
      parts.push(st.name + " (" + st.width + "x" + st.height + ")");
      parts.push("objects: " + st.objects.length);
      parts.push("clicks: " + st.clicks.length);
      parts.push("last prediction: " + (st.last_prediction_ms == null ? "-" : Math.round(st.last_prediction_ms) + " ms"));
      if (st.has_refiner) parts.push("refiner: " + (st.refining ? "refining" : st.refiner_enabled ? "on" : "off"));
      if (S.suggest) {
        const g = S.suggestion;
        parts.push(g ? "suggested: " + (g.positive ? "positive" : "negative") + " click at (" + g.y + ", " + g.x + ")"
                     : "suggested: -");
      }
      if (st.autosave_error) parts.unshift(st.autosave_error);
    }
    const m = S.info && S.info.model;
    if (m && m.checkpoint) parts.push("model: " + m.checkpoint + " on " + m.device + (m.inference ? " (" + m.inference + ")" : ""));
    parts.push(S.pending > 0 ? "busy" : "ready");
    const bar = $("status");
    bar.textContent = parts.join("  |  ");
    bar.title = bar.textContent;
    bar.className = S.refused ? "refused" : "";
  }

  // ------------------------------------------------------------------ actions
  function addClick(y, x, positive) {
    if (!inside(y, x)) return;
    change("api/click", {y, x, positive}).then((r) => { if (r && r.ok) setMessage(""); });
  }
  // A pointer trail (canvas CSS px [x, y]) as stroke vertices: (y, x) image pixels through the page's zoom and
  // pan, points off the image dropped, repeats of a pixel merged, thinned to MAX_STROKE_POINTS (ends kept).
  function strokePoints(trail) {
    const pts = [];
    for (const [px, py] of trail) {
      const [y, x] = toImage(px, py);
      if (!inside(y, x)) continue;
      const last = pts[pts.length - 1];
      if (!last || last[0] !== y || last[1] !== x) pts.push([y, x]);
    }
    if (pts.length <= MAX_STROKE_POINTS) return pts;
    const step = (pts.length - 1) / (MAX_STROKE_POINTS - 1);
    return Array.from({length: MAX_STROKE_POINTS}, (_, i) => pts[Math.round(i * step)]);
  }
  // Fewer than 2 distinct pixels on the image are never sent as a stroke: one pixel becomes a plain click of
  // the stroke's sign, none (the whole drag off the image) sends nothing.
  function addStroke(trail, positive) {
    const points = strokePoints(trail);
    if (points.length === 0) { setMessage("the stroke does not touch the image: nothing sent"); return; }
    if (points.length === 1) { addClick(points[0][0], points[0][1], positive); return; }
    change("api/stroke", {points, width: strokeWidth(), positive}).then((r) => { if (r && r.ok) setMessage(""); });
  }
  function setRefiner(enabled) {
    if (!S.state) return;
    if (!S.state.has_refiner) {
      $("refiner").checked = false;
      setMessage("no refiner loaded (start python -m isegm.web with --refiner-checkpoint PATH)", true);
      return;
    }
    change("api/refiner", {enabled}).then((r) => {
      if (r && r.ok) {
        setMessage("refiner " + (enabled ? "on" : "off") + (r.data.repredicted ? " (object predicted again)" : ""));
      }
      else if (S.state) $("refiner").checked = !!S.state.refiner_enabled;  // a refused switch: back to the state
    });
  }
  function setTool(tool) {
    S.tool = tool === "stroke" ? "stroke" : "click";
    $("tool-click").checked = S.tool === "click";
    $("tool-stroke").checked = S.tool === "stroke";
    canvas.style.cursor = S.tool === "stroke" ? "cell" : "crosshair";
  }
  function setBox(y0, x0, y1, x1) {
    change("api/box", {box: [y0, x0, y1, x1]}).then((r) => { if (r && r.ok) setMessage(""); });
  }
  function labelFields() {
    const label = labelInput.value.trim();
    return label ? {label, isthing: !$("stuff").checked} : {};
  }
  function applyLabel() {
    const f = labelFields();
    if (!f.label || !S.state) return;
    if (f.label === S.state.label && f.isthing === S.state.isthing) return;
    change("api/label", f);
  }
  function finish() {
    change("api/finish", labelFields()).then((r) => {
      if (r && r.ok) setMessage("finished object " + r.data.finished);
    });
  }
  function undo() {
    change("api/undo", {}).then((r) => {
      if (!r || !r.ok) return;
      const what = r.data.undone;
      setMessage(what === "action" ? "undone" : what === "reopen" ? "reopened the last object" : "nothing to undo");
      if (what === "reopen") labelInput.value = r.data.state.label;
    });
  }
  function reset() { change("api/reset", {}); }
  async function save() {
    if (!S.state) { setMessage("Choose an image first.", true); return; }
    if (!S.state.objects.length) { setMessage("Finish at least one object (Space) before saving.", true); return; }
    let r = await change("api/save", {overwrite: false});
    if (r && r.status === 409 && r.data.code === "exists") {
      if (!window.confirm("These files exist and will be replaced:\n" + r.data.existing.join("\n"))) {
        setMessage("Save cancelled.");
        return;
      }
      r = await change("api/save", {overwrite: true});
    }
    if (r && r.ok) {
      S.lastSaved = r.data.saved;
      setMessage(r.data.message);
      queue(refreshImages);
    }
  }
  function uploadMask(file) {
    if (!S.state) return;
    if (S.info && S.info.model.with_prev_mask === false) {
      window.alert("This model does not take a previous mask: the mask is kept until the first click, which then " +
                   "starts from scratch.");
    }
    const name = S.name;
    queue(async () => {
      const url = "api/mask?" + nameQuery(name) + "&rev=" + S.state.revision;
      return handle(await api("POST", url, file, "image/png"));
    });
  }

  // ------------------------------------------------------------------ input
  canvas.addEventListener("contextmenu", (e) => e.preventDefault());
  canvas.addEventListener("mousedown", (e) => {
    canvas.focus();
    const [px, py] = eventXY(e);
    if (S.tool === "stroke" && (e.button === 0 || e.button === 2)) {
      S.drag = {kind: "stroke", positive: e.button === 0 && !e.shiftKey, x0: px, y0: py, trail: [[px, py]],
                moved: false};
    } else if (e.button === 0) S.drag = {kind: "left", x0: px, y0: py, x1: px, y1: py, moved: false, shift: e.shiftKey};
    else if (e.button === 1) { S.drag = {kind: "pan", x: px, y: py}; e.preventDefault(); }
    else if (e.button === 2) S.drag = {kind: "right"};
  });
  window.addEventListener("mousemove", (e) => {
    const d = S.drag;
    if (!d) return;
    const [px, py] = eventXY(e);
    if (d.kind === "stroke") {
      const last = d.trail[d.trail.length - 1];
      if (Math.hypot(px - last[0], py - last[1]) >= 1) d.trail.push([px, py]);
      if (Math.hypot(px - d.x0, py - d.y0) > DRAG_PX) d.moved = true;
      if (d.moved) render();
    } else if (d.kind === "left") {
      d.x1 = px;
      d.y1 = py;
      if (Math.hypot(px - d.x0, py - d.y0) > DRAG_PX) d.moved = true;
      if (d.moved) render();
    } else if (d.kind === "pan") {
      S.ox += px - d.x;
      S.oy += py - d.y;
      d.x = px;
      d.y = py;
      render();
    }
  });
  window.addEventListener("mouseup", (e) => {
    const d = S.drag;
    S.drag = null;
    if (!d || !S.state) { render(); return; }
    const [px, py] = eventXY(e);
    if (d.kind === "stroke") {
      if (d.moved) {
        d.trail.push([px, py]);
        render();
        addStroke(d.trail, d.positive);
      } else if (e.target === canvas) {
        const [y, x] = toImage(d.x0, d.y0);  // a press without a drag: a click of the stroke's sign
        render();
        addClick(y, x, d.positive);
      } else render();
    } else if (d.kind === "left" && d.moved) {
      const [ya, xa] = toImage(Math.min(d.x0, px), Math.min(d.y0, py));
      const [yb, xb] = toImage(Math.max(d.x0, px), Math.max(d.y0, py));
      render();
      setBox(Math.max(0, ya), Math.max(0, xa), Math.min(S.state.height, yb + 1), Math.min(S.state.width, xb + 1));
    } else if (d.kind === "left" && e.target === canvas) {
      const [y, x] = toImage(px, py);
      addClick(y, x, !d.shift);
    } else if (d.kind === "right" && e.button === 2 && e.target === canvas) {
      const [y, x] = toImage(px, py);
      addClick(y, x, false);
    } else {
      render();
    }
  });
  canvas.addEventListener("wheel", (e) => {
    if (!S.img) return;
    e.preventDefault();
    const [px, py] = eventXY(e);
    const factor = e.deltaY < 0 ? 1.25 : 0.8;
    const scale = Math.min(40, Math.max(0.02, S.scale * factor));
    const ix = (px - S.ox) / S.scale, iy = (py - S.oy) / S.scale;
    S.scale = scale;
    S.ox = px - ix * scale;
    S.oy = py - iy * scale;
    render();
  }, {passive: false});

  document.addEventListener("keydown", (e) => {
    const ctrl = e.ctrlKey || e.metaKey;
    if (ctrl && (e.key === "s" || e.key === "S")) { e.preventDefault(); applyLabel(); save(); return; }
    if (e.target === labelInput) {
      if (e.key === "Enter") { e.preventDefault(); applyLabel(); canvas.focus(); }
      else if (e.key === "Escape") { e.preventDefault(); canvas.focus(); }
      return;
    }
    if (e.target instanceof HTMLInputElement && !["range", "checkbox", "radio"].includes(e.target.type)) return;
    if (e.key === " ") { e.preventDefault(); finish(); }
    else if (ctrl && (e.key === "z" || e.key === "Z")) { e.preventDefault(); undo(); }
    else if (e.key === "Escape") { e.preventDefault(); reset(); }
    else if (!ctrl && !e.altKey && "tTrRuU".includes(e.key) && e.key.length === 1) {
      e.preventDefault();
      const key = e.key.toLowerCase();
      if (key === "t") setTool(S.tool === "stroke" ? "click" : "stroke");
      else if (key === "r") setRefiner(!(S.state && S.state.refiner_enabled));
      else setSuggest(!S.suggest);
    }
  });
  labelInput.addEventListener("change", applyLabel);
  $("stuff").addEventListener("change", applyLabel);
  // Buttons hand the focus back to the canvas, so that Space afterwards finishes once (not "presses" the button).
  const button = (id, fn) => $(id).addEventListener("click", () => { canvas.focus(); fn(); });
  button("finish", finish);
  button("undo", undo);
  button("reset", reset);
  button("save", () => { applyLabel(); save(); });
  button("clear-box", () => change("api/box", {box: null}));
  $("mask-button").addEventListener("click", () => { if (S.state) $("mask-file").click(); });
  $("mask-file").addEventListener("change", (e) => {
    const file = e.target.files[0];
    e.target.value = "";
    if (file) uploadMask(file);
  });

  let alphaTimer = null;
  let thresholdHeld = false;
  let thresholdTimer = null;
  const thr = $("threshold");
  thr.addEventListener("pointerdown", () => { thresholdHeld = true; });
  window.addEventListener("pointerup", () => { thresholdHeld = false; });
  thr.addEventListener("input", () => {
    $("threshold-value").textContent = parseFloat(thr.value).toFixed(2);
    clearTimeout(thresholdTimer);
    thresholdTimer = setTimeout(() => {
      if (S.state && Math.abs(parseFloat(thr.value) - S.state.threshold) > 1e-9) {
        change("api/threshold", {threshold: parseFloat(thr.value)});
      }
    }, 150);
  });
  $("alpha").addEventListener("input", () => {
    $("alpha-value").textContent = parseFloat($("alpha").value).toFixed(2);
    remapLayer();
    render();
    if (S.suggest && S.state) {
      clearTimeout(alphaTimer);
      alphaTimer = setTimeout(() => queue(async () => { await loadView(); render(); }), 150);
    }
  });
  $("radius").addEventListener("input", () => { $("radius-value").textContent = $("radius").value; render(); });
  $("stroke-width").addEventListener("input", () => { $("stroke-width-value").textContent = $("stroke-width").value; });
  for (const id of ["tool-click", "tool-stroke"]) {
    $(id).addEventListener("change", (e) => { if (e.target.checked) setTool(e.target.value); canvas.focus(); });
  }
  $("refiner").addEventListener("change", (e) => { setRefiner(e.target.checked); canvas.focus(); });
  $("suggest").addEventListener("change", (e) => { setSuggest(e.target.checked); canvas.focus(); });
  new ResizeObserver(resizeCanvas).observe(canvas);

  // Another tab may change the open image: look for a newer revision now and then.
  setInterval(() => {
    if (!S.name || S.pending > 0 || document.hidden) return;
    const name = S.name;
    queue(async () => {
      const r = await api("GET", "api/state?" + nameQuery(name));
      if (r.ok && S.state && r.data.revision !== S.state.revision) {
        await applyState(r.data);
        setMessage("updated from another tab");
      }
      await refreshImages();
    });
  }, 4000);

  // Test hook (tests/web/test_web_e2e.py): where the image lies on the screen and whether the page is idle.
  S.snapshot = () => {
    const r = canvas.getBoundingClientRect();
    const st = S.state;
    return {
      name: S.name, revision: st ? st.revision : null, n_objects: st ? st.objects.length : 0,
      n_clicks: st ? st.clicks.length : 0, has_box: !!(st && st.box), busy: S.pending > 0,
      layer_rev: S.layerRev, scale: S.scale, ox: S.ox, oy: S.oy, canvas: [r.left, r.top, r.width, r.height],
      message: S.message, last_saved: S.lastSaved, label: st ? st.label : null,
      tool: S.tool, n_strokes: st && st.strokes ? st.strokes.length : 0,
      refiner: st ? {has: st.has_refiner, enabled: st.refiner_enabled, refining: st.refining} : null,
      suggest: S.suggest, view_key: S.viewKey, suggestion: S.suggestion,
    };
  };
  window.isegm = S;

  $("alpha-value").textContent = "0.50";
  $("radius-value").textContent = "5";
  $("stroke-width-value").textContent = $("stroke-width").value;
  queue(async () => {
    const r = await api("GET", "api/info");
    if (!r.ok) { setMessage(r.data.detail, true); return; }
    S.info = r.data;
    const m = r.data.model || {};
    $("model-info").textContent = (m.checkpoint ? m.checkpoint + " on " + m.device : "") +
      "   images: " + r.data.images + "   out: " + r.data.out;
    const dl = $("classes");
    for (const c of r.data.classes) {
      const opt = document.createElement("option");
      opt.value = c;
      dl.append(opt);
    }
    if (r.data.classes.length) labelInput.value = r.data.classes[0];
    await refreshImages();
    setMessage("Choose an image on the left.");
  });
})();
