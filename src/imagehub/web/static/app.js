// Shared by every page: the JSON API with the session cookie and CSRF token, safe DOM
// building (text is always set as text, never parsed as HTML), errors in the one shape.
"use strict";

const imagehub = (() => {
  const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.description) || `The server answered ${status}`);
      this.status = status;
      this.body = body || {};
    }
  }

  async function api(path, { method = "GET", json, form, headers: extra = {} } = {}) {
    const headers = { Accept: "application/json", ...extra };
    if (!["GET", "HEAD"].includes(method)) headers["X-CSRF-Token"] = csrfToken();
    let body;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form !== undefined) {
      body = form;
    }
    const response = await fetch(path, { method, headers, body, credentials: "same-origin" });
    if (response.status === 401 && !location.pathname.startsWith("/app/sign-in")) {
      location.assign(`/app/sign-in?next=${encodeURIComponent(location.pathname)}`);
    }
    const isJson = (response.headers.get("content-type") || "").includes("json");
    const data = isJson ? await response.json() : null;
    if (!response.ok) throw new ApiError(response.status, data);
    return { data, response };
  }

  // el("a", {href: url, class: "x"}, "text", child) — strings become text nodes.
  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === false || value === null || value === undefined) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function showError(node, error) {
    node.textContent = error instanceof Error ? error.message : String(error);
    node.hidden = false;
  }

  function hideError(node) {
    node.textContent = "";
    node.hidden = true;
  }

  const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  const when = (iso) => (iso ? dateTime.format(new Date(iso)) : "");

  function bytes(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
    return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  }

  document.addEventListener("DOMContentLoaded", () => {
    const signOut = document.getElementById("sign-out");
    if (signOut) {
      signOut.addEventListener("click", async () => {
        try {
          await api("/session", { method: "DELETE" });
        } finally {
          location.assign("/app/sign-in");
        }
      });
    }
  });

  return { api, el, showError, hideError, ApiError, when, bytes };
})();
