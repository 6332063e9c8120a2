// chat.js - the browser client of /chat: a ChatKit-protocol client of
// POST /chatkit (threads, streamed turns over Server-Sent Events, items,
// feedback, attachments) with the page's whole user interface.
//
// Identity: <html data-auth="dev"> (no JWT configured on the server) sends a
// per-browser development user id as X-User-Id (kept in localStorage);
// data-auth="jwt" sends "Authorization: Bearer <token>" with a token from
// window.chatkitdGetToken() (a promise) or, inside the widget's iframe, from
// the host page over postMessage (widget.js).  Tokens live in memory only.
//
// Model output is untrusted: Markdown is rendered by marked and sanitised by
// DOMPurify; links open in a new tab with rel="noopener noreferrer"; images
// are shown only from this origin (attachment previews), others become links.
import { marked } from "./marked.esm.js";

const API = "/chatkit";
const root = document.documentElement;
const AUTH = root.dataset.auth === "jwt" ? "jwt" : "dev";
const EMBED = new URLSearchParams(location.search).get("embed") === "1";
const IN_FRAME = window.parent !== window;
const $ = (id) => document.getElementById(id);

const el = {
  app: $("app"), sidebar: $("sidebar"), scrim: $("scrim"), threadList: $("thread-list"),
  threadsEmpty: $("threads-empty"), moreThreads: $("more-threads"), identity: $("identity"),
  title: $("thread-title"), scroller: $("scroller"), welcome: $("welcome"), older: $("older"),
  transcript: $("transcript"), status: $("status"), statusText: $("status-text"), toast: $("toast"),
  composer: $("composer"), message: $("message"), send: $("send"), stop: $("stop"), attach: $("attach"),
  fileInput: $("file-input"), tray: $("attachment-tray"), dropZone: $("drop-zone"),
  picker: $("assistant-picker"), pickerSelect: $("assistant-select"),
};

const state = {
  threads: new Map(),      // id -> thread (list entries)
  threadsAfter: null,
  threadId: null,          // the open thread, null = new chat
  thread: null,
  items: new Map(),        // id -> item of the open thread
  olderAfter: null,        // items.list cursor for earlier messages
  streaming: null,         // {controller, stopped, threadId}
  uploads: [],             // composer attachments {key, file, att, status, progress, url, xhr}
  memoryToken: null,       // a pasted token (JWT mode, no host page): memory only
  loadSeq: 0,
};

// --- identity -------------------------------------------------------------------

function devUserId() {
  const key = "chatkitd.devUser";
  let id = null;
  try { id = localStorage.getItem(key); } catch { /* storage blocked */ }
  if (!id) {
    const bytes = crypto.getRandomValues(new Uint8Array(6));
    id = "dev-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    try { localStorage.setItem(key, id); } catch { /* memory only */ }
  }
  return id;
}

let parentSeq = 0;
const parentWaiters = new Map();
window.addEventListener("message", (e) => {
  if (e.source !== window.parent || !e.data || e.data.type !== "chatkitd:reply") return;
  const waiter = parentWaiters.get(e.data.id);
  if (waiter) { parentWaiters.delete(e.data.id); waiter(e.data); }
});

// Asks the embedding page (widget.js) for the token and page context.
// Resolves to {} when nobody answers within 3 s.
function askParent() {
  if (!IN_FRAME) return Promise.resolve({});
  const id = ++parentSeq;
  return new Promise((resolve) => {
    const timer = setTimeout(() => { parentWaiters.delete(id); resolve({}); }, 3000);
    parentWaiters.set(id, (data) => { clearTimeout(timer); resolve(data); });
    window.parent.postMessage({ type: "chatkitd:request", id }, "*");
  });
}

// Headers and metadata for one request.
async function requestContext() {
  const headers = {};
  let meta = {};
  const fromParent = IN_FRAME ? await askParent() : {};
  if (fromParent.pageContext && typeof fromParent.pageContext === "object") meta.pageContext = fromParent.pageContext;
  if (fromParent.userInfo && typeof fromParent.userInfo === "object") meta.userInfo = fromParent.userInfo;
  if (AUTH === "dev") {
    headers["X-User-Id"] = devUserId();
  } else {
    let token = null;
    if (typeof window.chatkitdGetToken === "function") token = await window.chatkitdGetToken();
    else if (typeof fromParent.token === "string") token = fromParent.token;
    else token = state.memoryToken;
    if (token) headers.Authorization = "Bearer " + token;
  }
  return { headers, meta };
}

function showIdentity() {
  el.identity.replaceChildren();
  if (AUTH === "dev") {
    const strong = document.createElement("strong");
    strong.textContent = "Development mode";
    const code = document.createElement("code");
    code.textContent = devUserId();
    el.identity.append(strong, document.createElement("br"),
      "No sign-in is configured on this server. You chat as ", code,
      ", an id kept in this browser.");
    return;
  }
  const strong = document.createElement("strong");
  if (typeof window.chatkitdGetToken === "function" || IN_FRAME) {
    strong.textContent = "Signed in";
    el.identity.append(strong, document.createElement("br"), "The page you came from provides your sign-in token.");
  } else {
    el.identity.classList.add("warn");
    strong.textContent = "Sign-in required";
    const input = document.createElement("input");
    input.type = "password";
    input.setAttribute("aria-label", "Access token");
    input.placeholder = "Paste an access token";
    input.addEventListener("change", () => { state.memoryToken = input.value.trim() || null; loadThreads(true); });
    el.identity.append(strong, document.createElement("br"),
      "This server requires a token. Open the chat from a page that provides one, or paste a token (kept in memory only).", input);
  }
}

// --- protocol ---------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function errorFrom(resp) {
  let code = "http_" + resp.status, message = "The server answered " + resp.status + ".";
  try {
    const body = await resp.json();
    if (body && body.error) { code = body.error.code || code; message = body.error.message || message; }
  } catch { /* not JSON */ }
  if (resp.status === 401) message = "Not signed in: " + message;
  if (resp.status === 429) message = "Too many requests; wait a moment and try again.";
  return new ApiError(resp.status, code, message);
}

async function call(type, params) {
  const { headers } = await requestContext();
  const resp = await fetch(API, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify({ type, params }),
  });
  if (!resp.ok) throw await errorFrom(resp);
  return resp.json();
}

// Posts a streamed request and calls onEvent for every SSE event.
async function stream(type, params, onEvent, signal) {
  const { headers, meta } = await requestContext();
  const body = { type, params };
  if (Object.keys(meta).length) body.metadata = meta;
  const resp = await fetch(API, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream", ...headers },
    body: JSON.stringify(body),
    signal,
  });
  if (!resp.ok) throw await errorFrom(resp);
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const frame = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      const data = frame.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
      if (!data) continue;
      let event;
      try { event = JSON.parse(data); } catch { continue; }
      onEvent(event);
    }
  }
}

// --- rendering helpers ----------------------------------------------------------------

const ICONS = {
  copy: '<path d="M9 9h10v10H9z"/><path d="M5 15V5h10"/>',
  up: '<path d="M7 10v10H4V10zM7 10l4-7a2 2 0 0 1 3 2l-1 5h6a2 2 0 0 1 2 2.3l-1.4 7A2 2 0 0 1 17.6 21H7"/>',
  down: '<path d="M17 14V4h3v10zM17 14l-4 7a2 2 0 0 1-3-2l1-5H5a2 2 0 0 1-2-2.3l1.4-7A2 2 0 0 1 6.4 3H17"/>',
  retry: '<path d="M4 12a8 8 0 0 1 14-5.3L20 9"/><path d="M20 4v5h-5"/><path d="M20 12a8 8 0 0 1-14 5.3L4 15"/><path d="M4 20v-5h5"/>',
  pencil: '<path d="M16.5 3.5a2.1 2.1 0 0 1 3 3L7 19l-4 1 1-4z"/>',
  trash: '<path d="M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3"/>',
  file: '<path d="M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z"/><path d="M14 3v5h5"/>',
  link: '<path d="M10 14a5 5 0 0 0 7 0l3-3a5 5 0 0 0-7-7l-1 1"/><path d="M14 10a5 5 0 0 0-7 0l-3 3a5 5 0 0 0 7 7l1-1"/>',
  x: '<path d="M6 6l12 12M18 6L6 18"/>',
  check: '<path d="M5 12l5 5 9-10"/>',
};

function icon(name) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.innerHTML = ICONS[name]; // constant markup above, never data
  return svg;
}

function button(cls, label, iconName, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = cls;
  b.setAttribute("aria-label", label);
  b.title = label;
  if (iconName) b.append(icon(iconName));
  if (onClick) b.addEventListener("click", onClick);
  return b;
}

function isSafeHref(href) {
  try {
    const u = new URL(href, location.href);
    return u.protocol === "https:" || u.protocol === "http:" || u.protocol === "mailto:";
  } catch { return false; }
}

function isLocalImage(src) {
  try {
    const u = new URL(src, location.href);
    return u.origin === location.origin || u.protocol === "blob:" || (u.protocol === "data:" && /^data:image\//i.test(src));
  } catch { return false; }
}

let purifyReady = false;
function purifier() {
  const P = window.DOMPurify;
  if (!P) return null;
  if (!purifyReady) {
    P.addHook("afterSanitizeAttributes", (node) => {
      if (node.nodeName === "A") {
        const href = node.getAttribute("href");
        if (href && !href.startsWith("#") && isSafeHref(href)) {
          node.setAttribute("target", "_blank");
          node.setAttribute("rel", "noopener noreferrer");
        } else if (href && !href.startsWith("#")) {
          node.removeAttribute("href");
        }
      }
      if (node.nodeName === "IMG") {
        const src = node.getAttribute("src") || "";
        if (!isLocalImage(src)) {
          node.setAttribute("data-blocked-src", src);
          node.removeAttribute("src");
        }
        node.setAttribute("loading", "lazy");
        node.removeAttribute("srcset");
      }
    });
    purifyReady = true;
  }
  return P;
}

// Raw HTML in model output is shown as text, never parsed as markup.
const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
marked.use({ gfm: true, breaks: false, renderer: { html: (token) => escapeHtml(token.text || token.raw || "") } });

function renderMarkdown(target, text) {
  const P = purifier();
  if (!P) { target.textContent = text; return; }
  const html = marked.parse(text || "", { async: false });
  const clean = P.sanitize(html, {
    USE_PROFILES: { html: true },
    FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "option", "iframe", "video", "audio", "source", "picture"],
    FORBID_ATTR: ["style", "class", "id"],
    RETURN_DOM_FRAGMENT: true,
  });
  // Images from elsewhere are never fetched: each becomes a link.
  for (const img of clean.querySelectorAll("img[data-blocked-src]")) {
    const src = img.getAttribute("data-blocked-src");
    const label = "Image: " + (img.getAttribute("alt") || "untitled");
    let repl;
    if (isSafeHref(src)) {
      repl = document.createElement("a");
      repl.href = src;
      repl.target = "_blank";
      repl.rel = "noopener noreferrer";
    } else {
      repl = document.createElement("span");
    }
    repl.className = "blocked-image";
    repl.textContent = label;
    img.replaceWith(repl);
  }
  target.replaceChildren(clean);
}

function formatDate(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const now = new Date();
  const sameDay = d.toDateString() === now.toDateString();
  return sameDay ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleDateString([], { month: "short", day: "numeric", year: d.getFullYear() === now.getFullYear() ? undefined : "numeric" });
}

let toastTimer = null;
function toast(message) {
  el.toast.textContent = message;
  el.toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.toast.hidden = true; }, 5000);
}

function nearBottom() {
  const s = el.scroller;
  return s.scrollHeight - s.scrollTop - s.clientHeight < 120;
}
function scrollToBottom(force) {
  if (force || nearBottom()) el.scroller.scrollTop = el.scroller.scrollHeight;
}

// --- thread list ------------------------------------------------------------------------

function threadLabel(t) { return t.title && t.title.trim() ? t.title : "New conversation"; }

function threadRow(t) {
  const li = document.createElement("li");
  li.className = "thread" + (t.id === state.threadId ? " current" : "");
  li.dataset.threadId = t.id;
  const open = document.createElement("button");
  open.type = "button";
  open.className = "thread-open";
  if (t.id === state.threadId) open.setAttribute("aria-current", "page");
  const name = document.createElement("span");
  name.className = "thread-name";
  name.textContent = threadLabel(t);
  const date = document.createElement("span");
  date.className = "thread-date";
  date.textContent = formatDate(t.created_at);
  open.append(name, date);
  open.setAttribute("aria-label", "Open conversation: " + threadLabel(t));
  open.addEventListener("click", () => { openThread(t.id); closeSidebar(); });
  const actions = document.createElement("div");
  actions.className = "thread-actions";
  actions.append(
    button("icon-btn", "Rename conversation: " + threadLabel(t), "pencil", () => startRename(li, t)),
    button("icon-btn", "Delete conversation: " + threadLabel(t), "trash", () => confirmDelete(li, t)),
  );
  li.append(open, actions);
  return li;
}

function renderThreads() {
  el.threadList.replaceChildren(...Array.from(state.threads.values(), threadRow));
  el.threadsEmpty.hidden = state.threads.size > 0;
  el.moreThreads.hidden = !state.threadsAfter;
}

function upsertThread(t, toTop) {
  if (toTop && !state.threads.has(t.id)) {
    state.threads = new Map([[t.id, t], ...state.threads]);
  } else {
    state.threads.set(t.id, { ...(state.threads.get(t.id) || {}), ...t });
  }
  renderThreads();
}

async function loadThreads(reset) {
  try {
    const params = { limit: 30, order: "desc" };
    if (!reset && state.threadsAfter) params.after = state.threadsAfter;
    const page = await call("threads.list", params);
    if (reset) state.threads = new Map();
    for (const t of page.data) state.threads.set(t.id, t);
    state.threadsAfter = page.has_more ? page.after : null;
    renderThreads();
  } catch (err) {
    toast("Could not load conversations: " + err.message);
  }
}

function startRename(li, t) {
  const input = document.createElement("input");
  input.className = "thread-rename";
  input.value = t.title || "";
  input.setAttribute("aria-label", "Conversation title");
  input.maxLength = 200;
  li.replaceChildren(input);
  input.focus();
  input.select();
  let done = false;
  const finish = async (save) => {
    if (done) return;
    done = true;
    const title = input.value.trim();
    if (save && title && title !== t.title) {
      try {
        const updated = await call("threads.update", { thread_id: t.id, title });
        upsertThread(updated);
        if (t.id === state.threadId) setTitle(updated);
        return;
      } catch (err) { toast("Rename failed: " + err.message); }
    }
    renderThreads();
  };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); finish(true); }
    if (e.key === "Escape") { e.preventDefault(); finish(false); }
  });
  input.addEventListener("blur", () => finish(true));
}

function confirmDelete(li, t) {
  const box = document.createElement("div");
  box.className = "thread-confirm";
  const text = document.createElement("span");
  text.textContent = "Delete this conversation?";
  const yes = document.createElement("button");
  yes.type = "button";
  yes.className = "danger";
  yes.textContent = "Delete";
  yes.setAttribute("aria-label", "Confirm delete: " + threadLabel(t));
  const no = document.createElement("button");
  no.type = "button";
  no.textContent = "Cancel";
  box.append(text, yes, no);
  li.replaceChildren(box);
  yes.focus();
  no.addEventListener("click", renderThreads);
  yes.addEventListener("click", async () => {
    try {
      await call("threads.delete", { thread_id: t.id });
      state.threads.delete(t.id);
      renderThreads();
      if (t.id === state.threadId) newChat();
    } catch (err) {
      toast("Delete failed: " + err.message);
      renderThreads();
    }
  });
}

// --- transcript ------------------------------------------------------------------------------

function setTitle(thread) {
  state.thread = thread;
  el.title.textContent = thread ? threadLabel(thread) : "New chat";
  document.title = (thread ? threadLabel(thread) + " · " : "") + "Chat · chatkitd";
}

function updateWelcome() {
  el.welcome.hidden = el.transcript.childElementCount > 0 || !!state.threadId;
}

function msgNode(id) {
  return id ? el.transcript.querySelector(`[data-item-id="${CSS.escape(id)}"]`) : null;
}

function userText(item) {
  return (item.content || []).map((c) => c.type === "input_tag" ? "@" + (c.text || "") : (c.text || "")).join("");
}

function attachmentView(att) {
  if (att.type === "image" && att.preview_url && isLocalImage(att.preview_url)) {
    const img = document.createElement("img");
    img.src = att.preview_url;
    img.alt = att.name || "image";
    return img;
  }
  const chip = document.createElement("a");
  chip.className = "file-chip";
  chip.href = "/attachments/" + encodeURIComponent(att.id);
  chip.addEventListener("click", (e) => { e.preventDefault(); download(att); });
  const name = document.createElement("span");
  name.textContent = att.name || att.id;
  chip.append(icon("file"), name);
  chip.setAttribute("aria-label", "Download " + (att.name || "file"));
  return chip;
}

async function download(att) {
  try {
    const { headers } = await requestContext();
    const resp = await fetch("/attachments/" + encodeURIComponent(att.id), { headers });
    if (!resp.ok) throw await errorFrom(resp);
    const url = URL.createObjectURL(await resp.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = att.name || att.id;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) { toast("Download failed: " + err.message); }
}

function renderUser(item, node) {
  node = node || document.createElement("article");
  node.className = "msg";
  node.dataset.role = "user";
  if (item.id) node.dataset.itemId = item.id;
  node.setAttribute("aria-label", "You said");
  node.replaceChildren();
  if (item.attachments && item.attachments.length) {
    const box = document.createElement("div");
    box.className = "attachments";
    for (const att of item.attachments) box.append(attachmentView(att));
    node.append(box);
  }
  const bubble = document.createElement("div");
  bubble.className = "bubble";
  bubble.textContent = userText(item);
  if (item.quoted_text) {
    const q = document.createElement("blockquote");
    q.textContent = item.quoted_text;
    bubble.prepend(q);
  }
  node.append(bubble);
  return node;
}

function sourceLink(source) {
  const title = source.title || source.filename || source.url || "Source";
  let node;
  if (source.type === "url" && source.url && isSafeHref(source.url)) {
    node = document.createElement("a");
    node.href = source.url;
    node.target = "_blank";
    node.rel = "noopener noreferrer";
    node.append(icon("link"));
  } else if (source.type === "file" && source.filename && /\.md$/i.test(source.filename)) {
    // Documents ingested from docs/ are served by this server as /docs/<page>.
    const page = source.filename.replace(/^\.?\//, "").replace(/^docs\//, "").replace(/\.md$/i, "");
    node = document.createElement("a");
    node.href = "/docs/" + page.split("/").map(encodeURIComponent).join("/");
    node.target = "_blank";
    node.rel = "noopener noreferrer";
    node.append(icon("file"));
  } else {
    node = document.createElement("span");
    node.append(icon("file"));
  }
  node.className = "source";
  const label = document.createElement("span");
  label.textContent = title;
  node.append(label);
  node.title = source.filename || source.url || title;
  return node;
}

function assistantText(item) {
  return (item.content || []).map((c) => c.text || "").join("\n\n");
}

function renderAssistant(item, node) {
  node = node || document.createElement("article");
  node.className = "msg" + (node.classList.contains("streaming") ? " streaming" : "");
  node.dataset.role = "assistant";
  node.dataset.itemId = item.id;
  node.setAttribute("aria-label", "Assistant said");
  let body = node.querySelector(":scope > .body");
  if (!body) {
    body = document.createElement("div");
    body.className = "body";
    node.prepend(body);
  }
  renderMarkdown(body, assistantText(item));
  node.querySelector(":scope > .sources")?.remove();
  const seen = new Set();
  const sources = [];
  for (const part of item.content || []) {
    for (const ann of part.annotations || []) {
      const s = ann.source || {};
      const key = s.url || s.filename || s.id || s.title;
      if (key && !seen.has(key)) { seen.add(key); sources.push(s); }
    }
  }
  if (sources.length) {
    const list = document.createElement("div");
    list.className = "sources";
    list.setAttribute("role", "list");
    list.setAttribute("aria-label", "Sources");
    for (const s of sources) {
      const link = sourceLink(s);
      link.setAttribute("role", "listitem");
      list.append(link);
    }
    body.after(list);
  }
  return node;
}

function addActions(node, item) {
  node.querySelector(":scope > .actions")?.remove();
  const bar = document.createElement("div");
  bar.className = "actions";
  const copy = button("icon-btn", "Copy answer", "copy", async () => {
    try {
      await navigator.clipboard.writeText(assistantText(state.items.get(item.id) || item));
      copy.replaceChildren(icon("check"));
      setTimeout(() => copy.replaceChildren(icon("copy")), 1500);
    } catch { toast("Copy is not allowed here."); }
  });
  const up = button("icon-btn", "Good answer", "up");
  const down = button("icon-btn", "Bad answer", "down");
  for (const [b, kind] of [[up, "positive"], [down, "negative"]]) {
    b.setAttribute("aria-pressed", "false");
    b.addEventListener("click", async () => {
      try {
        await call("items.feedback", { thread_id: state.threadId, item_ids: [item.id], kind });
        up.setAttribute("aria-pressed", String(kind === "positive"));
        down.setAttribute("aria-pressed", String(kind === "negative"));
        toast("Thanks for the feedback.");
      } catch (err) { toast("Feedback failed: " + err.message); }
    });
  }
  bar.append(copy, up, down);
  bar.append(button("icon-btn retry", "Retry this answer", "retry", () => retryFrom(item.id)));
  node.append(bar);
  refreshRetry();
}

// Only the last answer can be retried.
function refreshRetry() {
  const all = el.transcript.querySelectorAll('.msg[data-role="assistant"] .retry');
  all.forEach((b, i) => { b.hidden = i !== all.length - 1 || !!state.streaming; });
}

function renderOther(item) {
  const node = document.createElement("div");
  node.dataset.itemId = item.id;
  if (item.type === "workflow" || item.type === "task") {
    node.className = "task";
    const tasks = item.type === "task" ? [item.task] : (item.workflow?.tasks || []);
    for (const t of tasks) {
      if (!t) continue;
      const row = document.createElement("div");
      row.className = "task-row";
      row.textContent = [t.title, t.content].filter(Boolean).join(": ") || t.type;
      node.append(row);
    }
    return tasks.length ? node : null;
  }
  if (item.type === "widget") {
    if (!item.copy_text) return null;
    node.className = "msg";
    node.dataset.role = "assistant";
    const body = document.createElement("div");
    body.className = "body";
    renderMarkdown(body, item.copy_text);
    node.append(body);
    return node;
  }
  if (item.type === "generated_image" && item.image && isLocalImage(item.image.url)) {
    node.className = "msg";
    node.dataset.role = "assistant";
    const img = document.createElement("img");
    img.src = item.image.url;
    img.alt = "Generated image";
    node.append(img);
    return node;
  }
  return null; // end_of_turn, client tool calls, hidden items
}

function renderItem(item, { append = true, before = null } = {}) {
  state.items.set(item.id, item);
  let node = msgNode(item.id);
  const fresh = !node;
  if (item.type === "user_message") node = renderUser(item, node);
  else if (item.type === "assistant_message") { node = renderAssistant(item, node); addActions(node, item); }
  else { if (node) node.remove(); node = renderOther(item); if (!node) return null; }
  if (fresh && append) {
    if (before) el.transcript.insertBefore(node, before); else el.transcript.append(node);
  }
  updateWelcome();
  return node;
}

function clearTranscript() {
  el.transcript.replaceChildren();
  state.items = new Map();
  state.olderAfter = null;
  el.older.hidden = true;
  hideStatus();
  updateWelcome();
}

async function openThread(id, { quiet = false } = {}) {
  if (state.streaming) stopStreaming();
  const seq = ++state.loadSeq;
  state.threadId = id;
  clearTranscript();
  renderThreads();
  setHash(id);
  try {
    const [thread, page] = await Promise.all([
      call("threads.get_by_id", { thread_id: id }),
      call("items.list", { thread_id: id, order: "desc", limit: 50 }),
    ]);
    if (seq !== state.loadSeq) return;
    setTitle(thread);
    upsertThread({ ...thread, items: undefined });
    selectAssistant(thread.metadata?.assistant);
    for (const item of page.data.slice().reverse()) renderItem(item);
    state.olderAfter = page.has_more ? page.after : null;
    el.older.hidden = !state.olderAfter;
    updateWelcome();
    scrollToBottom(true);
  } catch (err) {
    if (seq !== state.loadSeq) return;
    if (!quiet) toast("Could not open the conversation: " + err.message);
    newChat();
  }
}

async function loadOlder() {
  if (!state.olderAfter || !state.threadId) return;
  const id = state.threadId;
  try {
    const page = await call("items.list", { thread_id: id, order: "desc", limit: 50, after: state.olderAfter });
    if (id !== state.threadId) return;
    const height = el.scroller.scrollHeight;
    let first = el.transcript.firstChild;
    for (const item of page.data) first = renderItem(item, { before: first }) || first;
    state.olderAfter = page.has_more ? page.after : null;
    el.older.hidden = !state.olderAfter;
    el.scroller.scrollTop += el.scroller.scrollHeight - height;
  } catch (err) { toast("Could not load earlier messages: " + err.message); }
}

function newChat() {
  if (state.streaming) stopStreaming();
  state.loadSeq++;
  state.threadId = null;
  setTitle(null);
  clearTranscript();
  renderThreads();
  setHash(null);
  el.message.focus();
}

function setHash(id) {
  const url = new URL(location.href);
  url.hash = id ? "t=" + encodeURIComponent(id) : "";
  history.replaceState(null, "", url);
}

function hashThread() {
  const m = /^#t=(.+)$/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

// --- status / progress -------------------------------------------------------------------------

function showStatus(text) {
  el.statusText.textContent = text || "Thinking…";
  el.status.hidden = false;
  el.transcript.after(el.status);
  scrollToBottom();
}
function hideStatus() { el.status.hidden = true; }

function showError(message, retryable, retryFn) {
  const box = document.createElement("div");
  box.className = "error-box";
  box.setAttribute("role", "alert");
  const text = document.createElement("span");
  text.textContent = message;
  box.append(text);
  if (retryable && retryFn) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = "Try again";
    b.addEventListener("click", () => { box.remove(); retryFn(); });
    box.append(b);
  }
  el.transcript.append(box);
  scrollToBottom(true);
}

function showNotice(ev) {
  const box = document.createElement("div");
  box.className = "notice " + (ev.level || "info");
  box.setAttribute("role", "status");
  if (ev.title) {
    const t = document.createElement("strong");
    t.textContent = ev.title + " ";
    box.append(t);
  }
  const body = document.createElement("span");
  body.className = "body";
  renderMarkdown(body, ev.message || "");
  box.append(body);
  el.transcript.append(box);
}

// --- streamed turns ----------------------------------------------------------------------------------

function setStreaming(on, allowCancel) {
  el.stop.hidden = !on || allowCancel === false;
  el.send.hidden = on && allowCancel !== false;
  updateSend();
  refreshRetry();
}

function pendingAssistant(id) {
  return state.items.get(id) || { id, type: "assistant_message", content: [] };
}

function applyUpdate(ev) {
  const item = state.items.get(ev.item_id);
  const u = ev.update || {};
  if (!item) return;
  if (item.type === "assistant_message") {
    const content = item.content = item.content || [];
    const idx = u.content_index ?? 0;
    while (content.length <= idx) content.push({ type: "output_text", text: "", annotations: [] });
    if (u.type === "assistant_message.content_part.added" || u.type === "assistant_message.content_part.done") {
      content[idx] = { annotations: [], ...u.content };
    } else if (u.type === "assistant_message.content_part.text_delta") {
      content[idx].text = (content[idx].text || "") + (u.delta || "");
    } else if (u.type === "assistant_message.content_part.annotation_added") {
      const anns = content[idx].annotations = content[idx].annotations || [];
      anns.splice(Math.min(u.annotation_index ?? anns.length, anns.length), 0, u.annotation);
    }
    if (u.type === "assistant_message.content_part.text_delta" && u.delta) hideStatus();
    scheduleRender(item);
  } else if (item.type === "workflow" && item.workflow) {
    const tasks = item.workflow.tasks = item.workflow.tasks || [];
    if (u.task) tasks[u.task_index ?? tasks.length] = u.task;
    renderItem(item);
  }
}

const renderQueue = new Set();
let renderFrame = 0;
function scheduleRender(item) {
  renderQueue.add(item.id);
  if (renderFrame) return;
  // A timer, not requestAnimationFrame: a busy or hidden page may get no
  // frame for a long time, and the answer should still grow as it streams.
  renderFrame = setTimeout(() => {
    renderFrame = 0;
    const stick = nearBottom();
    for (const id of renderQueue) {
      const it = state.items.get(id);
      const node = msgNode(id);
      if (it && node) renderAssistant(it, node);
    }
    renderQueue.clear();
    if (stick) scrollToBottom(true);
  }, 40);
}

function handleEvent(ev, turn) {
  switch (ev.type) {
    case "thread.created":
      state.threadId = ev.thread.id;
      turn.threadId = ev.thread.id;
      setTitle(ev.thread);
      setHash(ev.thread.id);
      upsertThread(ev.thread, true);
      break;
    case "thread.updated":
      if (ev.thread.id === state.threadId) setTitle(ev.thread);
      upsertThread(ev.thread);
      break;
    case "thread.item.added": {
      const item = ev.item;
      if (item.type === "assistant_message") {
        state.items.set(item.id, { ...item, content: item.content || [] });
        const node = renderAssistant(state.items.get(item.id));
        node.classList.add("streaming");
        el.transcript.append(node);
        turn.assistantIds.push(item.id);
        if (assistantText(item).trim()) hideStatus();
      } else {
        renderItem(item);
      }
      updateWelcome();
      scrollToBottom();
      break;
    }
    case "thread.item.updated":
      applyUpdate(ev);
      break;
    case "thread.item.done": {
      const item = ev.item;
      if (item.type === "user_message" && turn.optimistic && !msgNode(item.id)) {
        renderUser(item, turn.optimistic);
        state.items.set(item.id, item);
        turn.optimistic = null;
        break;
      }
      const node = renderItem(item);
      if (node) node.classList.remove("streaming");
      if (item.type === "assistant_message") hideStatus();
      scrollToBottom();
      break;
    }
    case "thread.item.replaced":
      renderItem(ev.item);
      break;
    case "thread.item.removed":
      msgNode(ev.item_id)?.remove();
      state.items.delete(ev.item_id);
      break;
    case "stream_options":
      turn.allowCancel = ev.stream_options?.allow_cancel !== false;
      setStreaming(true, turn.allowCancel);
      break;
    case "progress_update":
      showStatus(ev.text);
      break;
    case "notice":
      showNotice(ev);
      break;
    case "error":
      turn.failed = true;
      hideStatus();
      showError(ev.message || "Something went wrong while answering.", ev.allow_retry, () => retryLast());
      break;
    case "client_effect":
      window.dispatchEvent(new CustomEvent("chatkitd.effect", { detail: { name: ev.name, data: ev.data } }));
      break;
    default:
      break;
  }
}

async function runTurn(type, params, optimistic) {
  const controller = new AbortController();
  const turn = { controller, optimistic, assistantIds: [], threadId: state.threadId, allowCancel: true, stopped: false,
    failed: false, text: optimistic ? optimistic.querySelector(".bubble")?.textContent : "" };
  state.streaming = turn;
  setStreaming(true, true);
  showStatus("Thinking…");
  try {
    await stream(type, params, (ev) => { if (state.streaming === turn) handleEvent(ev, turn); }, controller.signal);
  } catch (err) {
    if (err.name !== "AbortError" && state.streaming === turn) {
      if (err instanceof ApiError && optimistic && !optimistic.dataset.itemId) {
        // refused before anything was stored: give the text back
        optimistic.remove();
        if (!el.message.value.trim()) { el.message.value = turn.text || ""; autosize(); }
        showError(err.message + " Your message was not sent.", false);
      } else {
        showError(err.message || "The connection failed.", true, () => retryLast());
      }
    }
  } finally {
    if (state.streaming === turn) {
      state.streaming = null;
      hideStatus();
      for (const id of turn.assistantIds) msgNode(id)?.classList.remove("streaming");
      setStreaming(false);
      refreshRetry();
    }
  }
}

function stopStreaming() {
  const turn = state.streaming;
  if (!turn) return;
  turn.stopped = true;
  state.streaming = null;
  turn.controller.abort();
  hideStatus();
  for (const id of turn.assistantIds) {
    const node = msgNode(id);
    if (!node) continue;
    node.classList.remove("streaming");
    const item = state.items.get(id);
    if (item && !assistantText(item).trim()) { node.remove(); continue; }
    if (!node.querySelector(".stopped-note")) {
      const note = document.createElement("div");
      note.className = "stopped-note";
      note.textContent = "Stopped";
      node.querySelector(".body")?.after(note);
    }
    if (item) addActions(node, item);
  }
  setStreaming(false);
  refreshRetry();
}

function selectedAssistant() {
  return el.picker.hidden ? "" : el.pickerSelect.value;
}

async function sendMessage() {
  const text = el.message.value.trim();
  const ready = state.uploads.filter((u) => u.status === "done");
  if ((!text && !ready.length) || state.streaming || state.uploads.some((u) => u.status === "uploading")) return;
  const inference = {};
  const assistant = selectedAssistant();
  if (assistant) inference.model = assistant;
  const input = {
    content: text ? [{ type: "input_text", text }] : [],
    attachments: ready.map((u) => u.att.id),
    inference_options: inference,
  };
  const optimistic = renderUser({ type: "user_message", content: input.content, attachments: ready.map((u) => ({ ...u.att, preview_url: u.url || u.att.preview_url })) });
  el.transcript.append(optimistic);
  updateWelcome();
  el.message.value = "";
  autosize();
  state.uploads = [];
  renderTray();
  scrollToBottom(true);
  if (state.threadId) await runTurn("threads.add_user_message", { thread_id: state.threadId, input }, optimistic);
  else await runTurn("threads.create", { input }, optimistic);
}

// Retry: drop everything after the user message before `assistantId`, then
// threads.retry_after_item on that message.
async function retryFrom(assistantId) {
  if (state.streaming || !state.threadId) return;
  const nodes = Array.from(el.transcript.children);
  const at = nodes.findIndex((n) => n.dataset.itemId === assistantId);
  let userIdx = -1;
  for (let i = (at < 0 ? nodes.length : at) - 1; i >= 0; i--) {
    if (nodes[i].dataset.role === "user" && nodes[i].dataset.itemId) { userIdx = i; break; }
  }
  if (userIdx < 0) return;
  const userId = nodes[userIdx].dataset.itemId;
  for (const n of nodes.slice(userIdx + 1)) { if (n.dataset.itemId) state.items.delete(n.dataset.itemId); n.remove(); }
  await runTurn("threads.retry_after_item", { thread_id: state.threadId, item_id: userId }, null);
}

function retryLast() {
  const nodes = Array.from(el.transcript.children);
  for (const n of nodes.filter((n) => n.classList.contains("error-box"))) n.remove();
  const users = nodes.filter((n) => n.dataset.role === "user" && n.dataset.itemId);
  if (!users.length || !state.threadId) return;
  const last = users[users.length - 1];
  const after = nodes.slice(nodes.indexOf(last) + 1);
  for (const n of after) { if (n.dataset.itemId) state.items.delete(n.dataset.itemId); n.remove(); }
  runTurn("threads.retry_after_item", { thread_id: state.threadId, item_id: last.dataset.itemId }, null);
}

// --- attachments -------------------------------------------------------------------------------------

let uploadSeq = 0;

function humanSize(n) {
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(0) + " KB";
  return (n / 1024 / 1024).toFixed(1) + " MB";
}

function renderTray() {
  el.tray.hidden = state.uploads.length === 0;
  el.tray.replaceChildren(...state.uploads.map((u) => {
    const li = document.createElement("li");
    li.className = "att" + (u.status === "failed" ? " failed" : "");
    li.dataset.status = u.status;
    if (u.url) {
      const img = document.createElement("img");
      img.src = u.url;
      img.alt = "Preview of " + u.file.name;
      li.append(img);
    } else {
      const box = document.createElement("span");
      box.className = "att-icon";
      box.append(icon("file"));
      li.append(box);
    }
    const info = document.createElement("div");
    info.style.minWidth = "0";
    const name = document.createElement("span");
    name.className = "att-name";
    name.textContent = u.file.name;
    const meta = document.createElement("span");
    meta.className = "att-meta";
    meta.textContent = u.status === "uploading" ? "Uploading… " + Math.round(u.progress * 100) + "%"
      : u.status === "failed" ? (u.error || "Upload failed") : humanSize(u.file.size);
    info.append(name, meta);
    if (u.status === "uploading") {
      const bar = document.createElement("progress");
      bar.max = 1;
      bar.value = u.progress;
      bar.setAttribute("aria-label", "Upload progress of " + u.file.name);
      info.append(bar);
    }
    li.append(info, button("att-remove", "Remove attachment " + u.file.name, "x", () => removeUpload(u)));
    return li;
  }));
  updateSend();
}

async function removeUpload(u) {
  state.uploads = state.uploads.filter((x) => x !== u);
  if (u.xhr) u.xhr.abort();
  if (u.url) URL.revokeObjectURL(u.url);
  renderTray();
  if (u.att) call("attachments.delete", { attachment_id: u.att.id }).catch(() => {});
}

async function addFiles(files) {
  for (const file of files) {
    const u = { key: ++uploadSeq, file, status: "uploading", progress: 0, att: null, xhr: null, url: null };
    if (/^image\//.test(file.type)) u.url = URL.createObjectURL(file);
    state.uploads.push(u);
    renderTray();
    upload(u);
  }
}

async function upload(u) {
  try {
    const att = await call("attachments.create", { name: u.file.name, size: u.file.size, mime_type: u.file.type || "application/octet-stream" });
    u.att = att;
    if (!state.uploads.includes(u)) { call("attachments.delete", { attachment_id: att.id }).catch(() => {}); return; }
    const desc = att.upload_descriptor;
    if (desc && desc.url) {
      const done = await new Promise((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        u.xhr = xhr;
        xhr.open(desc.method || "PUT", desc.url);
        for (const [k, v] of Object.entries(desc.headers || {})) xhr.setRequestHeader(k, v);
        xhr.upload.addEventListener("progress", (e) => {
          if (e.lengthComputable) { u.progress = e.loaded / e.total; renderTray(); }
        });
        xhr.addEventListener("load", () => {
          if (xhr.status >= 200 && xhr.status < 300) {
            try { resolve(JSON.parse(xhr.responseText)); } catch { resolve(att); }
          } else {
            let msg = "Upload failed (" + xhr.status + ")";
            try { msg = JSON.parse(xhr.responseText).error.message || msg; } catch { /* keep */ }
            reject(new Error(msg));
          }
        });
        xhr.addEventListener("error", () => reject(new Error("Upload failed")));
        xhr.addEventListener("abort", () => reject(new Error("Upload cancelled")));
        if ((desc.method || "PUT").toUpperCase() === "POST") {
          const form = new FormData();
          form.append("file", u.file, u.file.name);
          xhr.send(form);
        } else {
          xhr.send(u.file);
        }
      });
      u.att = { ...att, ...done };
    }
    u.status = "done";
    u.progress = 1;
  } catch (err) {
    u.status = "failed";
    u.error = err.message;
  }
  u.xhr = null;
  if (state.uploads.includes(u)) renderTray();
}

// --- assistants ----------------------------------------------------------------------------------------

async function loadAssistants() {
  try {
    const { headers } = await requestContext();
    const resp = await fetch("/assistants", { headers });
    if (resp.status !== 200) return;
    const body = await resp.json();
    const list = Array.isArray(body?.data) ? body.data.filter((a) => a && typeof a.id === "string") : [];
    if (list.length < 2) return;
    const auto = document.createElement("option");
    auto.value = "";
    auto.textContent = "Auto (best assistant)";
    el.pickerSelect.replaceChildren(auto, ...list.map((a) => {
      const o = document.createElement("option");
      o.value = a.id;
      o.textContent = a.name || a.id;
      if (a.description) o.title = a.description;
      return o;
    }));
    el.picker.hidden = false;
    if (state.thread?.metadata?.assistant) selectAssistant(state.thread.metadata.assistant);
  } catch { /* no picker */ }
}

function selectAssistant(id) {
  if (el.picker.hidden) return;
  el.pickerSelect.value = id && Array.from(el.pickerSelect.options).some((o) => o.value === id) ? id : "";
}

// --- composer -------------------------------------------------------------------------------------------

function autosize() {
  el.message.style.height = "auto";
  el.message.style.height = Math.min(el.message.scrollHeight, window.innerHeight * 0.4) + "px";
}

function updateSend() {
  const hasText = el.message.value.trim().length > 0;
  const uploading = state.uploads.some((u) => u.status === "uploading");
  const ready = state.uploads.some((u) => u.status === "done");
  el.send.disabled = !!state.streaming || uploading || (!hasText && !ready);
}

function openSidebar() {
  el.app.classList.add("sidebar-open");
  el.scrim.hidden = false;
  $("open-sidebar").setAttribute("aria-expanded", "true");
  el.sidebar.querySelector("button")?.focus();
}
function closeSidebar() {
  el.app.classList.remove("sidebar-open");
  el.scrim.hidden = true;
  $("open-sidebar").setAttribute("aria-expanded", "false");
}

function bind() {
  el.composer.addEventListener("submit", (e) => { e.preventDefault(); sendMessage(); });
  el.message.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); sendMessage(); }
  });
  el.message.addEventListener("input", () => { autosize(); updateSend(); });
  el.stop.addEventListener("click", () => { stopStreaming(); el.message.focus(); });
  $("new-chat").addEventListener("click", () => { newChat(); closeSidebar(); });
  $("topbar-new").addEventListener("click", () => newChat());
  el.moreThreads.addEventListener("click", () => loadThreads(false));
  for (const b of document.querySelectorAll(".starter")) {
    b.addEventListener("click", () => { el.message.value = b.textContent; autosize(); updateSend(); sendMessage(); });
  }
  el.older.addEventListener("click", loadOlder);
  $("open-sidebar").addEventListener("click", openSidebar);
  $("close-sidebar").addEventListener("click", closeSidebar);
  el.scrim.addEventListener("click", closeSidebar);
  el.attach.addEventListener("click", () => el.fileInput.click());
  el.fileInput.addEventListener("change", () => { addFiles(Array.from(el.fileInput.files)); el.fileInput.value = ""; });
  el.message.addEventListener("paste", (e) => {
    const files = Array.from(e.clipboardData?.files || []);
    if (files.length) { e.preventDefault(); addFiles(files); }
  });
  el.dropZone.addEventListener("dragover", (e) => { e.preventDefault(); el.dropZone.classList.add("dragging"); });
  el.dropZone.addEventListener("dragleave", () => el.dropZone.classList.remove("dragging"));
  el.dropZone.addEventListener("drop", (e) => {
    e.preventDefault();
    el.dropZone.classList.remove("dragging");
    addFiles(Array.from(e.dataTransfer?.files || []));
  });
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === "k") {
      e.preventDefault();
      el.message.focus();
    } else if (e.key === "Escape") {
      if (el.app.classList.contains("sidebar-open")) closeSidebar();
      else if (state.streaming) stopStreaming();
      else if (EMBED && IN_FRAME) window.parent.postMessage({ type: "chatkitd:close" }, "*");
    }
  });
  window.addEventListener("hashchange", () => {
    const id = hashThread();
    if (id && id !== state.threadId) openThread(id);
  });
  if (/Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent)) $("mod-key").textContent = "⌘";
  if (EMBED) {
    el.app.classList.add("embed");
    if (IN_FRAME) {
      const close = $("close-embed");
      close.hidden = false;
      close.addEventListener("click", () => window.parent.postMessage({ type: "chatkitd:close" }, "*"));
    }
  }
}

async function start() {
  bind();
  showIdentity();
  updateWelcome();
  const id = hashThread();
  await loadThreads(true);
  if (id) await openThread(id, { quiet: true });
  loadAssistants();
  if (!("ontouchstart" in window)) el.message.focus();
  root.dataset.ready = "1";
}

start();
