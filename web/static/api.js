// Shared helpers for FlowGrid's pages: JSON calls with the CSRF token, and WebAuthn ceremonies
// through the browser's own JSON helpers (no base64 glue). No framework, no build step.
"use strict";

const flowgrid = (() => {
  let csrfToken = null;

  function setCsrf(token) { csrfToken = token || null; }

  async function call(method, path, body) {
    const headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (csrfToken && method !== "GET") headers["X-CSRF-Token"] = csrfToken;
    const response = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) {
      const error = new Error((data && data.detail) || response.statusText);
      error.status = response.status;
      error.retryAfter = response.headers.get("Retry-After");
      throw error;
    }
    return data;
  }

  async function registerPasskey(inviteToken) {
    const body = inviteToken ? { invite_token: inviteToken } : {};
    const options = await call("POST", "/api/auth/passkey/register/options", body);
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options);
    const credential = await navigator.credentials.create({ publicKey });
    return call("POST", "/api/auth/passkey/register/verify", { credential: credential.toJSON() });
  }

  async function signInWithPasskey() {
    const options = await call("POST", "/api/auth/passkey/login/options", {});
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
    const credential = await navigator.credentials.get({ publicKey });
    return call("POST", "/api/auth/passkey/login/verify", { credential: credential.toJSON() });
  }

  async function me() {
    try {
      const found = await call("GET", "/api/me");
      setCsrf(found.csrf_token);
      return found;
    } catch (error) {
      if (error.status === 401) return null;
      throw error;
    }
  }

  function show(id, visible) { document.getElementById(id).hidden = !visible; }
  function text(id, value) { document.getElementById(id).textContent = value == null ? "" : value; }

  function report(error) {
    const message = error.status === 429 && error.retryAfter
      ? `${error.message}`
      : (error.name === "NotAllowedError" ? "The passkey prompt was cancelled or timed out." : error.message);
    text("error", message);
    show("error", true);
  }

  function clearError() { show("error", false); }

  // Take a one-time token out of the address bar so it is not kept in history or bookmarks.
  function takeParam(name) {
    const url = new URL(window.location.href);
    const value = url.searchParams.get(name);
    if (value) {
      url.searchParams.delete(name);
      window.history.replaceState(null, "", url.pathname + url.search);
    }
    return value;
  }

  return { call, setCsrf, registerPasskey, signInWithPasskey, me, show, text, report, clearError, takeParam };
})();
