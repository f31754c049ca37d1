// /login: password or passkey sign-in, invite acceptance, adding a passkey, signing out.
"use strict";

(() => {
  const fg = flowgrid;
  const inviteToken = fg.takeParam("invite");

  function signedIn(me) {
    fg.setCsrf(me.csrf_token);
    fg.show("signin", false);
    fg.show("invite", false);
    fg.text("me-email", me.user.email);
    fg.text("me-workspace", me.workspace ? me.workspace.name : "no workspace");
    fg.text("me-role", me.role || "platform admin");
    fg.text("status", `Signed in as ${me.user.email}.`);
    fg.show("account", true);
  }

  function signedOut() {
    fg.setCsrf(null);
    fg.show("account", false);
    fg.show("signin", true);
  }

  async function guarded(work) {
    fg.clearError();
    try { await work(); } catch (error) { fg.report(error); }
  }

  async function showInvite() {
    const invite = await fg.call("POST", "/api/auth/invite/accept", { token: inviteToken });
    fg.text("invite-workspace", invite.workspace_name || "FlowGrid");
    fg.text("invite-email", invite.email);
    fg.text("invite-role", invite.role || "");
    fg.show("invite-existing", invite.has_credentials);
    fg.show("invite-choices", !invite.has_credentials);
    fg.show("invite", true);
    if (invite.has_credentials) fg.show("signin", true);
  }

  document.getElementById("password-form").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(async () => {
      const me = await fg.call("POST", "/api/auth/login", {
        email: document.getElementById("email").value,
        password: document.getElementById("password").value,
      });
      signedIn(me);
    });
  });

  document.getElementById("passkey-signin").addEventListener("click", () => {
    guarded(async () => signedIn(await fg.signInWithPasskey()));
  });

  document.getElementById("invite-form").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(async () => {
      const password = document.getElementById("new-password").value;
      if (password !== document.getElementById("new-password-again").value) {
        throw new Error("The two passwords differ.");
      }
      signedIn(await fg.call("POST", "/api/auth/invite/accept", { token: inviteToken, password }));
    });
  });

  document.getElementById("invite-passkey").addEventListener("click", () => {
    guarded(async () => signedIn(await fg.registerPasskey(inviteToken)));
  });

  document.getElementById("add-passkey").addEventListener("click", () => {
    guarded(async () => {
      await fg.registerPasskey(null);
      fg.text("status", "Passkey added. You can sign in with it from now on.");
    });
  });

  document.getElementById("signout").addEventListener("click", () => {
    guarded(async () => {
      await fg.call("POST", "/api/auth/logout");
      signedOut();
      fg.text("status", "Signed out.");
    });
  });

  guarded(async () => {
    const me = await fg.me();
    if (me && !inviteToken) { signedIn(me); return; }
    if (inviteToken) { await showInvite(); return; }
    signedOut();
  });
})();
