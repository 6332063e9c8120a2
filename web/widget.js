// widget.js - GET /widget.js: one <script src="https://HOST/widget.js" async>
// on any site adds a floating chat button (bottom-right, keyboard reachable)
// that opens chatkitd's chat (/chat?embed=1 from HOST) in an iframe.
//
// The chat inside the iframe asks this script over postMessage, before every
// request, for:
//   pageContext  the host page's title, URL, path, description, headings and
//                selected text (sent as metadata.pageContext)
//   userInfo     window.chatkitdUserInfo (an object, or a function returning
//                one or a promise of one), when the page defines it
//   token        await window.chatkitdGetToken(), when the page defines it
//                (servers with JWT auth); the token never leaves this
//                exchange and is not stored
// Replies go only to the iframe's window and origin; requests are accepted
// only from it.  The styles are constructed style sheets inside a shadow
// root, so the host page's Content-Security-Policy needs no 'unsafe-inline'
// (it needs script-src and frame-src HOST, see docs/web-client.md).
(function () {
  "use strict";
  if (window.__chatkitdWidget) return;
  window.__chatkitdWidget = true;

  var script = document.currentScript ||
    Array.prototype.slice.call(document.querySelectorAll("script[src]")).filter(function (s) {
      return /\/widget\.js(\?|#|$)/.test(s.src);
    }).pop();
  if (!script) return;
  var origin = new URL(script.src, location.href).origin;
  var label = script.getAttribute("data-label") || "Open chat";

  var CSS = [
    ":host { all: initial; }",
    ".launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; width: 56px; height: 56px;",
    "  border-radius: 50%; border: 0; cursor: pointer; display: grid; place-items: center;",
    "  background: #3f5ef5; color: #fff; box-shadow: 0 6px 24px rgba(20, 30, 80, .28); transition: transform .15s ease; }",
    ".launcher:hover { transform: scale(1.05); }",
    ".launcher:focus-visible { outline: 3px solid #9db0ff; outline-offset: 3px; }",
    ".launcher svg { width: 26px; height: 26px; fill: none; stroke: currentColor; stroke-width: 2; stroke-linecap: round; stroke-linejoin: round; }",
    ".panel { position: fixed; right: 20px; bottom: 88px; z-index: 2147483000; width: 400px; height: 640px;",
    "  max-height: calc(100vh - 112px); max-width: calc(100vw - 40px); border-radius: 18px; overflow: hidden;",
    "  box-shadow: 0 12px 48px rgba(20, 30, 80, .28); background: #fff; display: none; }",
    ".panel.open { display: block; }",
    ".panel iframe { width: 100%; height: 100%; border: 0; display: block; color-scheme: normal; }",
    "@media (prefers-color-scheme: dark) { .panel { background: #18191c; } }",
    "@media (max-width: 520px) { .panel { right: 0; bottom: 0; width: 100vw; height: 100%; max-height: none; max-width: none; border-radius: 0; }",
    "  .panel.open + .launcher { display: none; } }",
  ].join("\n");

  var host = document.createElement("div");
  host.setAttribute("data-chatkitd-widget", "");
  var shadow = host.attachShadow({ mode: "open" });
  try {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    shadow.adoptedStyleSheets = [sheet];
  } catch (e) {
    var style = document.createElement("style");
    style.textContent = CSS;
    shadow.appendChild(style);
  }

  var panel = document.createElement("div");
  panel.className = "panel";
  panel.id = "chatkitd-panel";
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", "Chat");
  var frame = null;

  var button = document.createElement("button");
  button.type = "button";
  button.className = "launcher";
  button.setAttribute("aria-label", label);
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-controls", "chatkitd-panel");
  var chatIcon = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 5.5A2.5 2.5 0 0 1 6.5 3h11A2.5 2.5 0 0 1 20 5.5v8a2.5 2.5 0 0 1-2.5 2.5H10l-4.2 3.6c-.5.4-1.3.1-1.3-.6V16.9A2.5 2.5 0 0 1 4 14.5z"/></svg>';
  var closeIcon = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M6 6l12 12M18 6L6 18"/></svg>';
  button.innerHTML = chatIcon;

  shadow.appendChild(panel);
  shadow.appendChild(button);

  function isOpen() { return panel.classList.contains("open"); }

  function open() {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.title = "Chat";
      frame.src = origin + "/chat?embed=1";
      frame.setAttribute("allow", "clipboard-write");
      frame.setAttribute("referrerpolicy", "no-referrer");
      panel.appendChild(frame);
    }
    panel.classList.add("open");
    button.setAttribute("aria-expanded", "true");
    button.setAttribute("aria-label", "Close chat");
    button.innerHTML = closeIcon;
    setTimeout(function () { try { frame.focus(); frame.contentWindow.focus(); } catch (e) { /* not loaded */ } }, 50);
  }

  function close() {
    panel.classList.remove("open");
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-label", label);
    button.innerHTML = chatIcon;
    button.focus();
  }

  button.addEventListener("click", function () { if (isOpen()) close(); else open(); });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape" && isOpen()) close(); });

  // The last text the user selected on the host page (the selection is kept
  // while the focus moves into the chat).
  var lastSelection = "";
  document.addEventListener("selectionchange", function () {
    if (document.activeElement === host) return;
    var s = window.getSelection ? String(window.getSelection() || "") : "";
    lastSelection = s.trim().slice(0, 2000);
  });

  function text(node) { return (node.textContent || "").replace(/\s+/g, " ").trim().slice(0, 200); }

  function pageContext() {
    var desc = document.querySelector('meta[name="description"]');
    var headings = Array.prototype.slice.call(document.querySelectorAll("h1, h2, h3"), 0, 20).map(text).filter(Boolean);
    var ctx = { title: document.title, url: location.href, path: location.pathname, headings: headings };
    if (desc && desc.getAttribute("content")) ctx.description = desc.getAttribute("content").slice(0, 500);
    if (lastSelection) ctx.selectedText = lastSelection;
    return ctx;
  }

  function userInfo() {
    var u = window.chatkitdUserInfo;
    try { return Promise.resolve(typeof u === "function" ? u() : u); } catch (e) { return Promise.resolve(undefined); }
  }

  function token() {
    if (typeof window.chatkitdGetToken !== "function") return Promise.resolve(undefined);
    try { return Promise.resolve(window.chatkitdGetToken()); } catch (e) { return Promise.resolve(undefined); }
  }

  window.addEventListener("message", function (e) {
    if (!frame || e.source !== frame.contentWindow || e.origin !== origin || !e.data) return;
    if (e.data.type === "chatkitd:close") { close(); return; }
    if (e.data.type !== "chatkitd:request") return;
    var id = e.data.id;
    Promise.all([userInfo().catch(function () { return undefined; }), token().catch(function () { return undefined; })])
      .then(function (r) {
        var reply = { type: "chatkitd:reply", id: id, pageContext: pageContext() };
        if (r[0] && typeof r[0] === "object") {
          try { reply.userInfo = JSON.parse(JSON.stringify(r[0])); } catch (err) { /* not plain data */ }
        }
        if (typeof r[1] === "string" && r[1]) reply.token = r[1];
        frame.contentWindow.postMessage(reply, origin);
      });
  });

  function mount() { document.body.appendChild(host); }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
