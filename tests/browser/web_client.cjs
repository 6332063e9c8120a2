#!/usr/bin/env node
// web_client.cjs - the browser scenarios of /chat and /widget.js, run by
// tests/acceptance/test_web_client.py against a real chatkitd (real
// PostgreSQL, the fake model tests/acceptance/fake_openai.py) in Debian's
// headless Chromium driven over the DevTools protocol by puppeteer-core
// (web/node_modules, pinned by web/package-lock.json; no browser download).
//
//   node tests/browser/web_client.cjs   with the environment:
//     CHATKITD_URL   the server (http://127.0.0.1:PORT)
//     FAKE_URL       the fake model's control URL (/_script, /_requests)
//     HOST_URL       a page on another origin that loads /widget.js
//     ARTIFACTS      where screenshots and results.json go
//     CHROMIUM       the browser binary (default /usr/bin/chromium)
//     SLOW           timeout multiplier (valgrind runs)
//     JWT_URL        the same database behind JWT auth (CHATKITD_JWT_SECRET)
//     JWT_TOKEN      the token HOST_URL/jwt.html hands to the widget
//     PAGING_USER    a development user with 35 threads (the list pages at 30)
//     ONLY           run only scenarios whose name contains this
//
// Prints one line per scenario and a count; exits 1 on any failure.
// results.json records the ids the Python side checks in the database.
"use strict";
const fs = require("fs");
const path = require("path");
const { createRequire } = require("module");

const ROOT = path.resolve(__dirname, "../..");
const puppeteer = createRequire(path.join(ROOT, "web/package.json"))("puppeteer-core");

const BASE = process.env.CHATKITD_URL;
const FAKE = process.env.FAKE_URL;
const HOST = process.env.HOST_URL;
const OUT = process.env.ARTIFACTS || path.join(ROOT, "build/browser-artifacts");
const SLOW = Number(process.env.SLOW || "1");
// Timeouts only bound how long a failure takes to show: generous, because a
// loaded machine (several test suites at once) slows the browser a lot.
const T = (ms) => ms * 4 * SLOW;
const results = {};

class Failure extends Error {}
function check(cond, message) { if (!cond) throw new Failure(message); }

async function fake(pathname, body) {
  const resp = await fetch(FAKE + pathname, { method: body === undefined ? "GET" : "POST", body: body === undefined ? undefined : JSON.stringify(body) });
  check(resp.ok, "fake model " + pathname + ": HTTP " + resp.status);
  return resp.json();
}
const script = (responses, nonstream) => fake("/_script", { responses, nonstream: nonstream || [] });

// A fresh browser context (its own localStorage = its own development user).
async function newPage(browser, { viewport = { width: 1280, height: 820 }, dark = false, mobile = false } = {}) {
  const ctx = await browser.createBrowserContext();
  const page = await ctx.newPage();
  await page.setViewport({ ...viewport, isMobile: mobile, hasTouch: mobile, deviceScaleFactor: mobile ? 2 : 1 });
  await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: dark ? "dark" : "light" }]);
  page.problems = [];
  // Any request that leaves the two test origins is a failure (no CDN, no external request).
  const allowed = [BASE, HOST, process.env.JWT_URL].filter(Boolean).map((u) => new URL(u).origin);
  page.on("request", (req) => {
    const url = req.url();
    if (/^(data|blob|about):/.test(url)) return;
    if (!allowed.includes(new URL(url).origin)) page.problems.push("external request: " + url);
  });
  page.on("pageerror", (err) => page.problems.push("page error: " + err.message));
  page.on("console", (msg) => {
    if (msg.type() === "error" && !/Failed to load resource|net::ERR_ABORTED|the server responded with a status of 4/.test(msg.text())) {
      page.problems.push("console error: " + msg.text());
    }
  });
  await page.evaluateOnNewDocument(() => {
    window.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
  });
  page.ctx = ctx;
  return page;
}

async function closePage(page, { allowCsp = false } = {}) {
  try {
    if (!allowCsp) {
      const csp = await page.evaluate(() => window.__csp || []).catch(() => []);
      check(csp.length === 0, "Content-Security-Policy violations: " + csp.join("; "));
    }
    check(page.problems.length === 0, page.problems.join("\n"));
  } finally {
    await page.ctx.close();
  }
}

async function openChat(page, hash = "") {
  await page.goto(BASE + "/chat" + hash, { waitUntil: "domcontentloaded" });
  await page.waitForSelector("html[data-ready='1']", { timeout: T(15000) });
}

// Puts `text` into the composer (typing it key by key is slow under load;
// the keyboard scenario types for real) and sends it with a real Enter.
async function send(page, text) {
  await page.focus('textarea[aria-label="Message"]');
  await page.$eval('textarea[aria-label="Message"]', (t, v) => { t.value = v; t.dispatchEvent(new Event("input", { bubbles: true })); }, text);
  await page.keyboard.press("Enter");
}

const lastAssistantText = (page) => page.$$eval('[data-role="assistant"]', (ns) => ns.length ? ns[ns.length - 1].innerText : "");

async function waitAnswer(page, needle, timeout = 15000) {
  await page.waitForFunction((n) => {
    const ns = document.querySelectorAll('[data-role="assistant"]');
    return ns.length && ns[ns.length - 1].innerText.includes(n) && !ns[ns.length - 1].classList.contains("streaming");
  }, { polling: 100, timeout: T(timeout) }, needle);
}

async function shot(page, name) {
  fs.mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: path.join(OUT, name + ".png") });
}

const threadIdOf = (page) => page.evaluate(() => {
  const m = /^#t=(.+)$/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
});

// --- scenarios -----------------------------------------------------------------

const MARKDOWN = "Here is **bold**, a [link](https://example.com/docs) and a table:\n\n" +
  "| Option | Default |\n|---|---|\n| `CHATKITD_LISTEN` | 127.0.0.1:8000 |\n| `CHATKITD_WORKERS` | cores |\n\n" +
  "```sh\nmake run\n```\n\nDone.";

const scenarios = {
  async "send, markdown, feedback, themes, phone, reload shows history"(browser) {
    const chunks = [];
    for (let i = 0; i < MARKDOWN.length; i += 24) chunks.push(MARKDOWN.slice(i, i + 24));
    await script([{ chunks, delay_ms: 100 }], [{ text: "Markdown tour" }]);
    const page = await newPage(browser);
    await openChat(page);
    check(await page.$eval("html", (h) => h.dataset.auth) === "dev", "the page should be in development mode");
    check((await page.$eval("#identity", (n) => n.innerText)).includes("Development mode"), "the page should say it is in development mode");
    await shot(page, "chat-empty-light");
    await send(page, "Show me the options");
    await page.waitForSelector('[data-role="user"]', { timeout: T(5000) });
    check((await page.$eval('[data-role="user"]', (n) => n.innerText)).includes("Show me the options"), "user message not shown");
    await waitAnswer(page, "Done.");
    check(await page.$('[data-role="assistant"] table td code'), "the table was not rendered");
    check(await page.$('[data-role="assistant"] pre code'), "the code block was not rendered");
    const rel = await page.$eval('[data-role="assistant"] a[href="https://example.com/docs"]', (a) => [a.rel, a.target]);
    check(rel[0] === "noopener noreferrer" && rel[1] === "_blank", "link attributes: " + rel);
    const tid = await threadIdOf(page);
    check(tid, "no thread id in the URL");
    await page.waitForSelector(`[data-thread-id="${tid}"]`, { timeout: T(5000) });
    await page.waitForFunction((id) => document.querySelector(`[data-thread-id="${id}"]`).innerText.includes("Markdown tour"),
      { polling: 100, timeout: T(10000) }, tid);
    await shot(page, "chat-light");
    // feedback
    await page.click('[data-role="assistant"] button[aria-label="Good answer"]');
    await page.waitForSelector('[data-role="assistant"] button[aria-label="Good answer"][aria-pressed="true"]', { timeout: T(5000) });
    const answerId = await page.$eval('[data-role="assistant"]', (n) => n.dataset.itemId);
    results.feedback = { thread: tid, item: answerId, kind: "positive" };
    // reload: the same conversation comes back from the server
    await page.reload({ waitUntil: "domcontentloaded" });
    await page.waitForSelector("html[data-ready='1']", { timeout: T(15000) });
    await page.waitForSelector('[data-role="assistant"] table', { timeout: T(10000) });
    const roles = await page.$$eval("[data-role]", (ns) => ns.map((n) => n.dataset.role));
    check(roles.join(",") === "user,assistant", "history after reload: " + roles);
    check((await page.$eval("#thread-title", (n) => n.innerText)) === "Markdown tour", "title after reload");
    // the same conversation in the dark theme, then on a phone
    await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "dark" }]);
    const bg = await page.$eval("body", (b) => getComputedStyle(b).backgroundColor);
    check(bg === "rgb(24, 25, 28)", "dark background expected, got " + bg);
    await shot(page, "chat-dark");
    await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "light" }]);
    await page.setViewport({ width: 390, height: 844, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    await page.reload({ waitUntil: "domcontentloaded" });
    await page.waitForSelector("html[data-ready='1']", { timeout: T(15000) });
    await page.waitForSelector('[data-role="assistant"] table', { timeout: T(10000) });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
    check(!overflow, "the phone layout scrolls sideways");
    check(!(await page.$eval("#sidebar", (s) => s.getBoundingClientRect().right > 0)), "the sidebar should be hidden on a phone");
    await shot(page, "chat-phone");
    await page.click('button[aria-label="Show conversations"]');
    await page.waitForFunction(() => document.getElementById("sidebar").getBoundingClientRect().left >= 0, { polling: 100, timeout: T(3000) });
    await new Promise((r) => setTimeout(r, 300));
    await shot(page, "chat-phone-sidebar");
    await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "dark" }]);
    await shot(page, "chat-phone-sidebar-dark");
    await closePage(page);
  },

  async "thread list pages; keyboard: Shift+Enter, Ctrl+K; accessible names"(browser) {
    const page = await newPage(browser);
    await page.evaluateOnNewDocument((u) => localStorage.setItem("chatkitd.devUser", u), process.env.PAGING_USER);
    await openChat(page);
    await page.waitForFunction(() => document.querySelectorAll("[data-thread-id]").length === 30, { polling: 100, timeout: T(10000) });
    check(await page.$("#more-threads:not([hidden])"), "no button for the next page of conversations");
    await page.click("#more-threads");
    await page.waitForFunction(() => document.querySelectorAll("[data-thread-id]").length === 35, { polling: 100, timeout: T(10000) });
    check(await page.$("#more-threads[hidden]"), "the last page still offers more");
    await page.click('[data-thread-id="thr_page001"] button');
    await page.waitForFunction(() => document.getElementById("thread-title").innerText === "Archived topic 1", { polling: 100, timeout: T(5000) });
    await shot(page, "chat-history-light");
    await page.click("#new-chat");
    await page.focus('textarea[aria-label="Message"]');
    await page.keyboard.type("line one");
    await page.keyboard.down("Shift");
    await page.keyboard.press("Enter");
    await page.keyboard.up("Shift");
    await page.keyboard.type("line two");
    const value = await page.$eval("textarea", (t) => t.value);
    check(value === "line one\nline two", "Shift+Enter should insert a new line: " + JSON.stringify(value));
    check((await page.$$('[data-role="user"]')).length === 0, "Shift+Enter sent the message");
    await page.click("#new-chat");
    await page.keyboard.down("Control");
    await page.keyboard.press("k");
    await page.keyboard.up("Control");
    check(await page.evaluate(() => document.activeElement.getAttribute("aria-label")) === "Message", "Ctrl+K did not focus the composer");
    const unnamed = await page.$$eval("button, textarea, select, input, a[href]", (ns) => ns
      .filter((n) => n.offsetParent !== null || n.type === "file")
      .filter((n) => !(n.getAttribute("aria-label") || n.innerText.trim() || n.title || (n.labels && n.labels.length)))
      .map((n) => n.outerHTML.slice(0, 80)));
    check(unnamed.length === 0, "controls without an accessible name: " + unnamed.join(" | "));
    await closePage(page);
  },

  async "stream, stop: the partial answer stays, also after reload"(browser) {
    const words = [];
    for (let i = 1; i <= 300; i++) words.push("word" + i + " ");
    await script([{ chunks: words, delay_ms: 150 }]);
    const page = await newPage(browser);
    await openChat(page);
    await send(page, "Tell me a long story");
    await page.waitForFunction(() => {
      const n = document.querySelector('[data-role="assistant"]');
      return n && /word3 /.test(n.innerText);
    }, { polling: 100, timeout: T(15000) });
    // the answer shows while it streams (far from complete), with a stop button
    check(await page.$('[data-role="assistant"].streaming'), "the growing answer is not marked as streaming");
    await page.click('button[aria-label="Stop"]');
    await page.waitForSelector('button[aria-label="Stop"][hidden]', { timeout: T(5000) });
    const partial = (await lastAssistantText(page)).trim();
    check(partial.includes("word3") && !partial.includes("word300"), "partial answer: " + partial);
    check(partial.includes("Stopped"), "no 'Stopped' note");
    const tid = await threadIdOf(page);
    results.stopped = { thread: tid };
    // the server saved what was streamed before the stop
    let stored = "";
    for (let i = 0; i < 50 * SLOW; i++) {
      await page.reload({ waitUntil: "domcontentloaded" });
      await page.waitForSelector("html[data-ready='1']", { timeout: T(15000) });
      stored = await lastAssistantText(page);
      if (stored.includes("word3")) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    check(stored.includes("word1 ") && stored.includes("word3") && !stored.includes("word300"), "after reload: " + stored);
    await closePage(page);
  },

  async "rename and delete threads"(browser) {
    await script([], [{ text: "First topic" }, { text: "Second topic" }]);
    const page = await newPage(browser);
    await openChat(page);
    await send(page, "alpha");
    await waitAnswer(page, "Echo: alpha");
    const first = await threadIdOf(page);
    await page.click("#new-chat");
    await send(page, "beta");
    await waitAnswer(page, "Echo: beta");
    const second = await threadIdOf(page);
    check(first && second && first !== second, "two threads expected");
    await page.waitForFunction(() => document.querySelectorAll("[data-thread-id]").length === 2, { polling: 100, timeout: T(5000) });
    // rename the first
    await page.click(`[data-thread-id="${first}"] button[aria-label^="Rename"]`);
    await page.waitForSelector('input[aria-label="Conversation title"]');
    await page.click('input[aria-label="Conversation title"]', { clickCount: 3 });
    await page.keyboard.type("Renamed in the browser");
    await page.keyboard.press("Enter");
    await page.waitForFunction((id) => document.querySelector(`[data-thread-id="${id}"]`)?.innerText.includes("Renamed in the browser"),
      { polling: 100, timeout: T(5000) }, first);
    // delete the second (the open one)
    await page.click(`[data-thread-id="${second}"] button[aria-label^="Delete"]`);
    await page.click(`[data-thread-id="${second}"] button[aria-label^="Confirm delete"]`);
    await page.waitForFunction((id) => !document.querySelector(`[data-thread-id="${id}"]`), { polling: 100, timeout: T(5000) }, second);
    check((await page.$$("[data-role]")).length === 0, "the deleted thread is still shown");
    await shot(page, "chat-threads-light");
    await page.reload({ waitUntil: "domcontentloaded" });
    await page.waitForSelector("html[data-ready='1']", { timeout: T(15000) });
    await page.waitForSelector(`[data-thread-id="${first}"]`, { timeout: T(5000) });
    check(!(await page.$(`[data-thread-id="${second}"]`)), "deleted thread is back after reload");
    check((await page.$eval(`[data-thread-id="${first}"]`, (n) => n.innerText)).includes("Renamed in the browser"), "rename lost after reload");
    results.threads = { renamed: first, deleted: second };
    await closePage(page);
  },

  async "upload an image and send it"(browser) {
    const page = await newPage(browser);
    await openChat(page);
    const input = await page.$("#file-input");
    await input.uploadFile(path.join(OUT, "fixture.png"));
    await page.waitForSelector('.att[data-status="done"] img', { timeout: T(10000) });
    await shot(page, "chat-attachment-light");
    await send(page, "What is in this picture?");
    await page.waitForSelector('[data-role="user"][data-item-id] .attachments img', { timeout: T(10000) });
    await waitAnswer(page, "Echo:");
    // the preview comes from the server (signed preview URL) and loads
    await page.reload({ waitUntil: "domcontentloaded" });
    await page.waitForSelector("html[data-ready='1']", { timeout: T(15000) });
    await page.waitForSelector('[data-role="user"] .attachments img', { timeout: T(10000) });
    await page.waitForFunction(() => {
      const img = document.querySelector('[data-role="user"] .attachments img');
      return img && img.complete && img.naturalWidth > 0;
    }, { polling: 100, timeout: T(10000) });
    const src = await page.$eval('[data-role="user"] .attachments img', (i) => i.src);
    check(src.startsWith(BASE + "/attachments/") && src.includes("/preview?token="), "preview src: " + src);
    results.upload = { thread: await threadIdOf(page) };
    await closePage(page);
  },

  async "model output cannot run script"(browser) {
    const evil = "Look: <img src=x onerror=\"window.__xss='img'\"> and <script>window.__xss='script'</script>\n\n" +
      "[click me](javascript:window.__xss='link') <a href=\"javascript:window.__xss='a'\">raw link</a> " +
      "<svg onload=\"window.__xss='svg'\"></svg> <iframe src=\"javascript:parent.__xss='iframe'\"></iframe>\n\n" +
      "![tracker](https://tracker.invalid/pixel.png) and <b onmouseover=\"window.__xss='hover'\">bold</b> END";
    await script([{ text: evil }]);
    const page = await newPage(browser);
    await openChat(page);
    await send(page, "Say something nasty");
    await waitAnswer(page, "END");
    for (const text of ["click me", "raw link", "bold"]) {
      const handles = await page.$$('[data-role="assistant"] a, [data-role="assistant"] b');
      for (const h of handles) {
        if ((await h.evaluate((n) => n.innerText)) === text) { await h.hover(); await h.click().catch(() => {}); }
      }
    }
    await new Promise((r) => setTimeout(r, 300));
    check(await page.evaluate(() => window.__xss) === undefined, "script ran: " + await page.evaluate(() => window.__xss));
    const bad = await page.$$eval('[data-role="assistant"] *', (ns) => ns.filter((n) =>
      Array.from(n.attributes).some((a) => /^on/i.test(a.name) || /javascript:/i.test(a.value)) ||
      /^(SCRIPT|IFRAME)$/.test(n.tagName)).map((n) => n.outerHTML));
    check(bad.length === 0, "dangerous markup in the transcript: " + bad.join(" | "));
    check(!(await page.$('[data-role="assistant"] img[src*="tracker"]')), "an external image was loaded");
    check((await lastAssistantText(page)).includes("Image: tracker"), "the external image should become a link");
    await closePage(page);
  },

  async "sources, progress and retry"(browser) {
    await script([
      { tool_calls: [{ name: "search", arguments: { query: "zebra stripes" } }] },
      { chunks: ["Set ", "ZEBRA_STRIPES", "=42."], delay_ms: 400 },
      { text: "Second answer: 42 stripes." },
    ], [{ text: "Zebra tuning" }]);
    const page = await newPage(browser);
    await openChat(page);
    // the progress line is transient: record every state it shows
    await page.evaluate(() => {
      window.__status = [];
      const st = document.getElementById("status");
      new MutationObserver(() => { if (!st.hidden) window.__status.push(st.innerText); })
        .observe(st, { subtree: true, childList: true, characterData: true, attributes: true });
    });
    await send(page, "How many zebra stripes?");
    await waitAnswer(page, "ZEBRA_STRIPES=42");
    const shown = await page.evaluate(() => window.__status);
    check(shown.some((t) => t.includes("Searching: zebra stripes")), "progress lines shown: " + JSON.stringify(shown));
    const sources = await page.$$eval('[data-role="assistant"] .source', (ns) => ns.map((n) => n.innerText));
    check(sources.some((s) => /zebra/i.test(s)), "sources: " + sources);
    await shot(page, "chat-sources-light");
    await page.click('[data-role="assistant"] button[aria-label="Retry this answer"]');
    await waitAnswer(page, "Second answer");
    const roles = await page.$$eval("[data-role]", (ns) => ns.map((n) => n.dataset.role));
    check(roles.join(",") === "user,assistant", "after retry: " + roles);
    await page.reload({ waitUntil: "domcontentloaded" });
    await page.waitForSelector("html[data-ready='1']", { timeout: T(15000) });
    await page.waitForSelector('[data-role="assistant"]', { timeout: T(10000) });
    check((await lastAssistantText(page)).includes("Second answer"), "retried answer not stored");
    await closePage(page);
  },

  async "widget with JWT auth: token from the host page, never stored"(browser) {
    const JWT_URL = process.env.JWT_URL, TOKEN = process.env.JWT_TOKEN;
    await script([{ text: "Signed-in answer." }], [{ text: "Members chat" }]);
    // without a host page there is no token: the page says so
    const bare = await newPage(browser);
    await bare.goto(JWT_URL + "/chat", { waitUntil: "domcontentloaded" });
    await bare.waitForSelector("html[data-ready='1']", { timeout: T(15000) });
    check((await bare.$eval("#identity", (n) => n.innerText)).includes("Sign-in required"), "no sign-in notice in JWT mode");
    bare.problems = bare.problems.filter((p) => !/401/.test(p));
    await closePage(bare);
    const page = await newPage(browser);
    await page.goto(HOST + "/jwt.html", { waitUntil: "load" });
    await page.waitForFunction(() => document.querySelector("[data-chatkitd-widget]")?.shadowRoot?.querySelector("button"), { polling: 100, timeout: T(10000) });
    await page.evaluate(() => document.querySelector("[data-chatkitd-widget]").shadowRoot.querySelector("button").click());
    const frameHandle = await page.waitForFunction(() =>
      document.querySelector("[data-chatkitd-widget]").shadowRoot.querySelector("iframe"), { polling: 100, timeout: T(5000) });
    const frame = await (await frameHandle.asElement()).contentFrame();
    await frame.waitForSelector("html[data-ready='1']", { timeout: T(15000) });
    check(await frame.$eval("html", (h) => h.dataset.auth) === "jwt", "the embedded page should be in JWT mode");
    // two assistants configured: the picker appears (GET /assistants with the token) and its choice is sent
    await frame.waitForSelector('#assistant-picker:not([hidden]) select[aria-label="Assistant"]', { timeout: T(10000) });
    const names = await frame.$$eval('select[aria-label="Assistant"] option', (os) => os.map((o) => o.textContent));
    check(names.includes("Ledger") && names.includes("Librarian"), "assistant picker: " + names);
    await frame.select('select[aria-label="Assistant"]', "tax");
    await frame.focus('textarea[aria-label="Message"]');
    await page.keyboard.type("Who am I?");
    await page.keyboard.press("Enter");
    await frame.waitForFunction(() => {
      const n = document.querySelector('[data-role="assistant"]');
      return n && n.innerText.includes("Signed-in answer.");
    }, { polling: 100, timeout: T(15000) });
    const sent = (await fake("/_requests")).filter((r) => r.path.endsWith("/chat/completions") && r.body && r.body.stream);
    const system = sent[sent.length - 1].body.messages[0].content;
    check(system.startsWith("You are Ledger."), "the chosen assistant did not answer: " + system.slice(0, 80));
    await shot(page, "widget-jwt-assistants");
    const kept = await frame.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
    check(!kept.includes(TOKEN.split(".")[2]), "the token was stored by the page");
    results.jwt = { thread: await frame.evaluate(() => decodeURIComponent((/^#t=(.+)$/.exec(location.hash) || [])[1] || "")) };
    check(results.jwt.thread, "no thread id in the embedded page");
    await closePage(page);
  },

  async "widget on a foreign origin"(browser) {
    await script([{ text: "Hello from the widget." }], [{ text: "Widget chat" }]);
    const page = await newPage(browser);
    await page.goto(HOST + "/host.html", { waitUntil: "load" });
    await page.waitForFunction(() => document.querySelector("[data-chatkitd-widget]")?.shadowRoot?.querySelector("button"), { polling: 100, timeout: T(10000) });
    // select text on the host page, then reach the button with the keyboard
    await page.evaluate(() => {
      const p = document.getElementById("pick");
      const r = document.createRange();
      r.selectNodeContents(p);
      getSelection().removeAllRanges();
      getSelection().addRange(r);
    });
    let reached = false;
    for (let i = 0; i < 10 && !reached; i++) {
      await page.keyboard.press("Tab");
      reached = await page.evaluate(() => {
        const host = document.querySelector("[data-chatkitd-widget]");
        return document.activeElement === host && host.shadowRoot.activeElement?.getAttribute("aria-label") === "Open chat";
      });
    }
    check(reached, "the chat button cannot be reached with Tab");
    await page.keyboard.press("Enter");
    const frameHandle = await page.waitForFunction(() =>
      document.querySelector("[data-chatkitd-widget]").shadowRoot.querySelector("iframe"), { polling: 100, timeout: T(5000) });
    const frame = await (await frameHandle.asElement()).contentFrame();
    await frame.waitForSelector("html[data-ready='1']", { timeout: T(15000) });
    await frame.waitForSelector('textarea[aria-label="Message"]');
    await frame.focus('textarea[aria-label="Message"]');
    await page.keyboard.type("What is this page about?");
    await page.keyboard.press("Enter");
    await frame.waitForFunction(() => {
      const n = document.querySelector('[data-role="assistant"]');
      return n && n.innerText.includes("Hello from the widget.");
    }, { polling: 100, timeout: T(15000) });
    await shot(page, "widget-open");
    const requests = await fake("/_requests");
    const streamed = requests.filter((r) => r.path.endsWith("/chat/completions") && r.body && r.body.stream);
    const system = JSON.stringify(streamed[streamed.length - 1].body.messages);
    for (const needle of ["Pricing for teams", "Ada Lovelace", "The Pro plan includes SSO", "/host.html", "Plans and limits"]) {
      check(system.includes(needle), "the model did not get " + needle + " from the host page: " + system.slice(0, 600));
    }
    // Escape inside the chat closes the panel and gives focus back to the button
    await frame.focus('textarea[aria-label="Message"]');
    await page.keyboard.press("Escape");
    await page.waitForFunction(() => !document.querySelector("[data-chatkitd-widget]").shadowRoot.querySelector(".panel.open"), { polling: 100, timeout: T(5000) });
    await closePage(page);
  },
};

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const userDir = fs.mkdtempSync(path.join(require("os").tmpdir(), "chatkitd-chromium-"));
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    userDataDir: userDir,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--disable-dev-shm-usage", "--font-render-hinting=none"],
    protocolTimeout: T(60000),
  });
  let passed = 0, failed = 0;
  const only = process.env.ONLY || "";
  try {
    for (const [name, fn] of Object.entries(scenarios)) {
      if (only && !name.includes(only)) continue;
      const t0 = Date.now();
      try {
        await fn(browser);
        passed++;
        console.log("ok   %s (%d ms)", name, Date.now() - t0);
      } catch (err) {
        failed++;
        console.log("FAIL %s (%d ms): %s", name, Date.now() - t0, err instanceof Failure ? err.message : err.stack);
      }
    }
  } finally {
    await browser.close().catch(() => {});
    fs.rmSync(userDir, { recursive: true, force: true });
    fs.writeFileSync(path.join(OUT, "results.json"), JSON.stringify(results, null, 2));
  }
  console.log("browser scenarios: %d ok, %d failed", passed, failed);
  process.exit(failed ? 1 : 0);
}

main().catch((err) => { console.error(err); process.exit(1); });
