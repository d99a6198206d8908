// Drives Debian's Chromium (headless) over the DevTools protocol on a pipe, no npm packages:
//   node drive_explorer.mjs CHROMIUM PAGE_DIR OUT_DIR EXPECT_JSON
// EXPECT_JSON: {"count": N, "query": "obj_05", "neighbours": [...], "search": "obj_07"}, optionally
// "probes": [{"query": NAME, "neighbours": [...]}, ...] (more look-alike lists checked), "map": "t-SNE"
// (the map's kind), "noThumbNote" (text the panel shows for an object without a thumbnail) and "loadMs": the most milliseconds from navigation to the page's load event.
// Checks that the page loads from file:// with no network request, shows the right number of
// objects, a selection lists the right look-alikes, a search finds an object, a box selection
// downloads the right names; writes OUT_DIR/explorer.png. Prints "explorer ok" or the failure.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [chromium, pageDir, outDir, expectJson] = process.argv.slice(2);
const expect = JSON.parse(expectJson);
const profile = mkdtempSync(join(tmpdir(), "am-chromium-"));
const browser = spawn(chromium, ["--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
  `--user-data-dir=${profile}`, "--window-size=1200,800", "--no-first-run", "--no-default-browser-check"],
  { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] });
const toBrowser = browser.stdio[3], fromBrowser = browser.stdio[4];
toBrowser.on("error", () => {}); // the browser going away ends the pipes: the checks report
fromBrowser.on("error", () => {});
let nextId = 1, buffer = "";
const pending = new Map(), listeners = [];
fromBrowser.on("data", chunk => {
  buffer += chunk.toString("utf8");
  let end;
  while ((end = buffer.indexOf("\0")) >= 0) {
    const msg = JSON.parse(buffer.slice(0, end));
    buffer = buffer.slice(end + 1);
    if (msg.id && pending.has(msg.id)) {
      const { resolve, reject } = pending.get(msg.id);
      pending.delete(msg.id);
      msg.error ? reject(new Error(JSON.stringify(msg.error))) : resolve(msg.result);
    } else if (msg.method) listeners.forEach(f => f(msg));
  }
});
function send(method, params = {}, sessionId) {
  const id = nextId++;
  toBrowser.write(JSON.stringify({ id, method, params, sessionId }) + "\0");
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
}
function waitFor(pred, ms = 20000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("timed out waiting")), ms);
    const f = msg => { if (pred(msg)) { clearTimeout(t); listeners.splice(listeners.indexOf(f), 1); resolve(msg); } };
    listeners.push(f);
  });
}
const trace = process.env.AM_TRACE ? m => console.error(m) : () => {};
// Ends the browser, then removes its profile. Chromium's helper processes can still be writing
// there after the main one exits (CI once saw ENOTEMPTY), so the removal retries, and a profile
// left in /tmp is reported on stderr without changing the verdict: it is not what the test checks.
let ending = null;
function finish(code) {
  if (ending !== null) return; /* the first verdict stands */
  ending = code;
  let exited = false;
  const done = () => {
    if (exited) return;
    exited = true;
    try {
      rmSync(profile, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
    } catch (e) {
      console.error(`note: could not remove the browser profile ${profile}: ${e.code || e.message}`);
    }
    process.exit(code);
  };
  browser.once("exit", () => setTimeout(done, 200));
  setTimeout(done, 5000);
  send("Browser.close").catch(() => {}); /* a clean close flushes and ends the helpers */
  setTimeout(() => browser.kill(), 2000);
}
function fail(why) { console.log(`explorer FAILED: ${why}`); finish(1); }

const watchdog = setTimeout(() => fail("the whole run took over 60 s"), 60000);
try {
  const { targetId } = await send("Target.createTarget", { url: "about:blank" });
  const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true });
  const s = (m, p) => send(m, p, sessionId);
  const requests = [];
  listeners.push(msg => { if (msg.method === "Network.requestWillBeSent") requests.push(msg.params.request.url); });
  const errors = [];
  listeners.push(msg => { if (msg.method === "Runtime.exceptionThrown") errors.push(JSON.stringify(msg.params.exceptionDetails)); });
  await s("Network.enable");
  await s("Page.enable");
  await s("Runtime.enable");
  await send("Browser.setDownloadBehavior", { behavior: "allow", downloadPath: outDir, eventsEnabled: true });
  const loaded = waitFor(m => m.method === "Page.loadEventFired", 50000);
  const t0 = Date.now();
  await s("Page.navigate", { url: `file://${pageDir}/index.html` });
  await loaded;
  const loadMs = Date.now() - t0;
  trace(`loaded in ${loadMs} ms`);
  if (expect.loadMs && loadMs > expect.loadMs) fail(`the page took ${loadMs} ms to load, over ${expect.loadMs}`);
  const evaluate = async (expression, awaitPromise = false) => {
    const r = await s("Runtime.evaluate", { expression, awaitPromise, returnByValue: true });
    if (r.exceptionDetails) throw new Error(`${expression}: ${JSON.stringify(r.exceptionDetails)}`);
    return r.result.value;
  };
  if (errors.length) fail(`script errors: ${errors.join("; ")}`);
  const count = await evaluate("window.astromorph.count");
  trace(`count ${count}`);
  if (count !== expect.count) fail(`count ${count}, expected ${expect.count}`);
  const nb = await evaluate(`window.astromorph.select(${JSON.stringify(expect.query)}).then(() => window.astromorph.neighbours())`, true);
  if (JSON.stringify(nb) !== JSON.stringify(expect.neighbours)) fail(`neighbours ${nb}, expected ${expect.neighbours}`);
  for (const p of expect.probes || []) {
    const got = await evaluate(`window.astromorph.select(${JSON.stringify(p.query)}).then(() => window.astromorph.neighbours())`, true);
    if (JSON.stringify(got) !== JSON.stringify(p.neighbours)) fail(`${p.query}: neighbours ${got}, expected ${p.neighbours}`);
  }
  if (expect.map) {
    const map = await evaluate("window.ASTROMORPH_DATA.map");
    if (map !== expect.map) fail(`the map is ${map}, expected ${expect.map}`);
  }
  await evaluate(`window.astromorph.select(${JSON.stringify(expect.query)})`, true);
  if (expect.noThumbNote) {
    const note = await evaluate(`(document.getElementById("nothumb") || {}).textContent || ""`);
    if (!note.includes(expect.noThumbNote)) fail(`the panel's note on the missing thumbnail: "${note}"`);
  }
  const shown = await evaluate(`document.getElementById("panel").dataset.object`);
  if (shown !== expect.query) fail(`the panel shows ${shown}`);
  // a search, as a user types it
  await evaluate(`(() => { const q = document.getElementById("search"); q.value = ${JSON.stringify(expect.search)};
      q.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter" })); })()`);
  const found = await evaluate(`document.getElementById("panel").dataset.object`);
  if (found !== expect.search) fail(`search for ${expect.search} shows ${found}`);
  // a box selection with the mouse (shift-drag) around the left half of the objects
  // (the search moved the view: the box is kept inside the canvas, and so are the names expected)
  const rect = await evaluate(`(() => { const r = document.getElementById("canvas").getBoundingClientRect();
      return [r.left, r.top, r.width, r.height]; })()`);
  const all = await evaluate(`window.ASTROMORPH_DATA.object.map(o => [o, window.astromorph.screen(o)])`);
  const pts = all.filter(p => p[1][0] > 2 && p[1][0] < rect[2] - 2 && p[1][1] > 2 && p[1][1] < rect[3] - 2);
  // whole pixels (mouse events carry integers), the right edge in a gap between two objects
  const xs = pts.map(p => p[1][0]).sort((a, b) => a - b);
  let k = Math.floor(xs.length / 2);
  while (k + 1 < xs.length && xs[k + 1] - xs[k] < 3) k++;
  const mid = Math.floor((xs[k] + (k + 1 < xs.length ? xs[k + 1] : xs[k] + 4)) / 2);
  const ys = pts.map(p => p[1][1]);
  const ymin = ys.reduce((a, b) => Math.min(a, b)), ymax = ys.reduce((a, b) => Math.max(a, b)); /* no spread: 10^6 arguments overflow */
  const y0 = Math.max(1, Math.floor(ymin - 2)), y1 = Math.min(rect[3] - 1, Math.ceil(ymax + 2));
  const x0 = Math.max(1, Math.floor(xs[0] - 2));
  /* every object inside the box, those near the canvas's edges included (dense maps have them) */
  const want = all.filter(p => p[1][0] >= x0 && p[1][0] <= mid && p[1][1] >= y0 && p[1][1] <= y1).map(p => p[0]);
  const mouse = (type, x, y) => s("Input.dispatchMouseEvent", { type, x: rect[0] + x, y: rect[1] + y, button: "left",
    buttons: type === "mouseReleased" ? 0 : 1, clickCount: 1, modifiers: 8 });
  await mouse("mousePressed", x0, y0);
  await mouse("mouseMoved", (x0 + mid) / 2, (y0 + y1) / 2);
  await mouse("mouseMoved", mid, y1);
  await mouse("mouseReleased", mid, y1);
  const sel = await evaluate("window.astromorph.selection()");
  trace(`selection ${sel}`);
  const wantSorted = [...want].sort(), selSorted = [...sel].sort();
  if (!want.length || JSON.stringify(selSorted) !== JSON.stringify(wantSorted)) {
    /* at scale the lists are long: the sizes and the first few differences */
    const inSel = new Set(sel), inWant = new Set(want);
    const extra = sel.filter(o => !inWant.has(o)).slice(0, 5), lacking = want.filter(o => !inSel.has(o)).slice(0, 5);
    fail(`selection of ${sel.length}, expected ${want.length}: extra ${extra}, lacking ${lacking} (box ${x0},${y0} to ${mid},${y1})`);
  }
  // its download
  const done = waitFor(m => m.method === "Browser.downloadProgress" && m.params.state === "completed");
  await evaluate(`document.getElementById("dl-csv").click()`);
  await done;
  const csv = readFileSync(join(outDir, "selection.csv"), "utf8").trim().split("\n").slice(1).map(l => l.split(",")[1]);
  if (JSON.stringify([...csv].sort()) !== JSON.stringify(wantSorted)) fail(`downloaded ${csv}, expected ${want}`);
  // no request left the machine
  const remote = requests.filter(u => !/^(file|data|blob|about):/.test(u));
  if (remote.length) fail(`network requests: ${remote.join(" ")}`);
  if (!requests.some(u => u.endsWith("data.js"))) fail("data.js was not loaded");
  // screenshots to look at: the map as it opened (points), then zoomed in on the searched object (thumbnails)
  let shot = await s("Page.captureScreenshot", { format: "png" });
  writeFileSync(join(outDir, "explorer-map.png"), Buffer.from(shot.data, "base64"));
  const [zx, zy] = await evaluate(`window.astromorph.screen(${JSON.stringify(expect.search)})`);
  for (let k = 0; k < 3; k++)
    await s("Input.dispatchMouseEvent", { type: "mouseWheel", x: rect[0] + zx, y: rect[1] + zy, deltaX: 0, deltaY: -300 });
  shot = await s("Page.captureScreenshot", { format: "png" });
  writeFileSync(join(outDir, "explorer.png"), Buffer.from(shot.data, "base64"));
  clearTimeout(watchdog);
  if (errors.length) fail(`script errors: ${errors.join("; ")}`);
  else if (!existsSync(join(outDir, "explorer.png"))) fail("no screenshot written");
  else {
    console.log(`explorer ok: ${count} objects, ${nb.length} look-alikes, ${sel.length} selected, ${requests.length} local requests, loaded in ${loadMs} ms`);
    finish(0);
  }
} catch (e) {
  fail(e.message);
}
