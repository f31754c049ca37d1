// /platform: passkey-only sign-in and enrollment, workspaces and their keys. Never records.
"use strict";

(() => {
  const fg = flowgrid;
  const enrollToken = fg.takeParam("enroll");
  let retiring = null;

  async function guarded(work) {
    fg.clearError();
    try { await work(); } catch (error) { fg.report(error); }
  }

  function cell(row, value) {
    const td = document.createElement("td");
    td.textContent = value;
    row.appendChild(td);
    return td;
  }

  async function loadWorkspaces() {
    const rows = await fg.call("GET", "/api/platform/workspaces");
    const body = document.getElementById("workspaces");
    body.replaceChildren();
    for (const ws of rows) {
      const row = document.createElement("tr");
      cell(row, ws.name);
      cell(row, ws.status);
      cell(row, `${ws.key_provider}: ${ws.key_state}`);
      cell(row, ws.created_at.slice(0, 10));
      const actions = cell(row, "");
      if (ws.status === "active") {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = "Retire key…";
        button.setAttribute("aria-label", `Retire the key of ${ws.name}`);
        button.addEventListener("click", () => startRetire(ws));
        actions.appendChild(button);
      }
      body.appendChild(row);
    }
  }

  function startRetire(ws) {
    retiring = ws;
    fg.text("retire-name", ws.name);
    const input = document.getElementById("retire-confirm");
    input.value = "";
    document.getElementById("retire-submit").disabled = true;
    fg.show("retire-form", true);
    input.focus();
  }

  async function showConsole(me) {
    if (!me.user.platform_admin) {
      throw new Error("This console is for FlowGrid platform admins.");
    }
    fg.setCsrf(me.csrf_token);
    fg.show("enroll", false);
    fg.show("signin", false);
    fg.text("me-email", me.user.email);
    fg.show("console", true);
    await loadWorkspaces();
  }

  document.getElementById("enroll-passkey").addEventListener("click", () => {
    guarded(async () => showConsole(await fg.registerPasskey(enrollToken)));
  });

  document.getElementById("passkey-signin").addEventListener("click", () => {
    guarded(async () => showConsole(await fg.signInWithPasskey()));
  });

  document.getElementById("signout").addEventListener("click", () => {
    guarded(async () => {
      await fg.call("POST", "/api/auth/logout");
      fg.show("console", false);
      fg.show("signin", true);
      fg.text("status", "Signed out.");
    });
  });

  document.getElementById("retire-confirm").addEventListener("input", (event) => {
    document.getElementById("retire-submit").disabled = !retiring || event.target.value !== retiring.name;
  });

  document.getElementById("retire-cancel").addEventListener("click", () => {
    retiring = null;
    fg.show("retire-form", false);
  });

  document.getElementById("retire-form").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(async () => {
      const done = await fg.call("POST", `/api/platform/workspaces/${retiring.id}/retire`, {
        confirm_name: document.getElementById("retire-confirm").value,
      });
      fg.text("status", `Key of ${retiring.name} retired (${done.key_state}).`);
      retiring = null;
      fg.show("retire-form", false);
      await loadWorkspaces();
    });
  });

  document.getElementById("create-form").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(async () => {
      const created = await fg.call("POST", "/api/platform/workspaces", {
        name: document.getElementById("ws-name").value,
        owner_email: document.getElementById("ws-owner").value,
      });
      fg.text("created-url", created.invite_url);
      fg.show("created", true);
      await loadWorkspaces();
    });
  });

  guarded(async () => {
    if (enrollToken) { fg.show("enroll", true); return; }
    const me = await fg.me();
    if (me && me.user.platform_admin) { await showConsole(me); return; }
    fg.show("signin", true);
  });
})();
