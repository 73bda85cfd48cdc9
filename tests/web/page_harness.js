// Runs isegm/web/static/app.js in node on a stub DOM (no browser) and drives its mouse handlers: prints, as one
// JSON line, the bodies of the POSTs the page sent. Used by tests/web/test_web_tools.py where Chromium is
// missing. Usage: node page_harness.js APP_JS SCENARIO_JSON
"use strict";
const fs = require("fs");
const [appPath, scenarioText] = process.argv.slice(2);
const scenario = JSON.parse(scenarioText);

function element(id) {
  const el = {
    id, value: "", checked: false, disabled: false, hidden: false, textContent: "", title: "", className: "",
    style: {}, dataset: {}, listeners: {}, files: [],
    addEventListener(type, fn) { (this.listeners[type] = this.listeners[type] || []).push(fn); },
    replaceChildren() {}, append() {}, focus() {}, click() {},
    getContext() {  // a 2D context whose every method does nothing
      return new Proxy({}, {get: (t, k) => (k in t ? t[k] : () => {}), set: (t, k, v) => { t[k] = v; return true; }});
    },
    getBoundingClientRect() { return {left: 10, top: 20, width: 800, height: 600}; },
    clientWidth: 800, clientHeight: 600, width: 800, height: 600,
  };
  return el;
}
const elements = {};
const ranges = {alpha: "0.5", threshold: "0.5", radius: "5", "stroke-width": String(scenario.width || 5)};
global.document = {
  getElementById(id) {
    if (!elements[id]) {
      elements[id] = element(id);
      if (id in ranges) elements[id].value = ranges[id];
      if (id === "tool-click") elements[id].value = "click";
      if (id === "tool-stroke") elements[id].value = "stroke";
    }
    return elements[id];
  },
  createElement() { return element("new"); },
  addEventListener(type, fn) { (docListeners[type] = docListeners[type] || []).push(fn); },
  activeElement: null, hidden: false,
};
const docListeners = {};
const winListeners = {};
global.window = global;
global.addEventListener = (type, fn) => { (winListeners[type] = winListeners[type] || []).push(fn); };
global.location = {search: ""};
global.devicePixelRatio = 1;
global.ResizeObserver = class { observe() {} };
global.setInterval = () => 0;
global.HTMLInputElement = class {};
global.confirm = () => true;
global.alert = () => {};
const posted = [];
global.fetch = async (path, opts) => {
  const body = opts && opts.body ? JSON.parse(opts.body) : null;
  if (opts && opts.method === "POST") posted.push({path, body});
  const data = path.startsWith("api/info") ? {model: {}, classes: [], images: "i", out: "o"}
    : path.startsWith("api/images") ? {images: []} : {};
  return {ok: true, status: 200, json: async () => data};
};
const canvas = () => elements.canvas;

eval(fs.readFileSync(appPath, "utf8"));  // the page script, as the browser runs it

const S = global.isegm;
S.img = {naturalWidth: scenario.width_px, naturalHeight: scenario.height_px};
S.name = "scene.png";
S.state = {name: "scene.png", width: scenario.width_px, height: scenario.height_px, revision: 3, objects: [],
           clicks: [], strokes: [], box: null, threshold: 0.5, next_id: 1, next_color: [1, 2, 3], label: "x"};
S.scale = scenario.scale;
S.ox = scenario.ox;
S.oy = scenario.oy;
if (scenario.tool) document.getElementById("tool-" + scenario.tool).checked = true;
for (const fn of (elements["tool-" + (scenario.tool || "click")].listeners.change || [])) {
  fn({target: elements["tool-" + (scenario.tool || "click")]});
}
function fire(where, type, e) {
  for (const fn of where[type] || []) fn(Object.assign({preventDefault() {}, target: canvas(), shiftKey: false}, e));
}
for (const [type, cx, cy, button, shift] of scenario.events) {
  const e = {clientX: cx, clientY: cy, button, shiftKey: !!shift};
  if (type === "down") fire(canvas().listeners, "mousedown", e);
  else if (type === "move") fire(winListeners, "mousemove", e);
  else fire(winListeners, "mouseup", e);
}
setTimeout(() => { process.stdout.write(JSON.stringify({posted, snapshot: {tool: S.tool}}) + "\n"); }, 50);
