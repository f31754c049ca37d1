// /trust: each promise of the security page next to live evidence from this workspace.
import { api } from "./sse.js";

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

function verdict(ok, text) {
  return el("p", { className: `verdict ${ok ? "ok" : "bad"}`, textContent: `${ok ? "✓" : "✗"} ${text}` });
}

function promise(title, claim, ...evidence) {
  const section = el("section", { className: "promise" });
  section.append(el("h2", { textContent: title }), el("blockquote", { textContent: claim }),
    el("div", { className: "evidence" }, el("h3", { textContent: "Live evidence" }), ...evidence));
  return section;
}

function rlsTable(tables) {
  const table = el("table", { id: "rls-table" });
  const head = table.createTHead().insertRow();
  for (const h of ["table", "per tenant", "RLS enabled", "RLS forced"]) head.append(el("th", { textContent: h }));
  const body = table.createTBody();
  for (const t of tables) {
    const row = body.insertRow();
    row.insertCell().textContent = t.table_name;
    row.insertCell().textContent = t.tenant_scoped ? "yes" : t.platform ? "platform (sign-in data)" : "no";
    row.insertCell().textContent = t.rls ? "yes" : "no";
    row.insertCell().textContent = t.forced ? "yes" : "no";
  }
  return el("div", { className: "table-wrap" }, table);
}

async function start() {
  try {
    const t = await api("GET", "/api/trust");
    const scoped = t.rls.filter((r) => r.tenant_scoped);
    const allForced = scoped.length > 0 && scoped.every((r) => r.rls && r.forced);
    const audit = t.audit;
    $("promises").append(
      promise("Encryption at rest", "Every contact field is encrypted at rest with AES-256-GCM. Each tenant has its own encryption key … If you cancel, your tenant key can be retired.",
        verdict(t.keys.key_state === "active" || t.keys.key_state === "enabled", `This workspace's key: ${t.keys.key_state}`),
        el("p", { textContent: `Key provider: ${t.keys.provider} (${t.keys.provider_class})` })),
      promise("Tenant isolation", "Multi-tenant row-level isolation is enforced in the database, not in application code.",
        verdict(allForced, `${scoped.filter((r) => r.rls && r.forced).length} of ${scoped.length} tenant tables have row-level security enabled and forced (read from pg_catalog)`),
        rlsTable(t.rls)),
      promise("Audit logging", "Every mutation is logged with the actor, the affected record, the previous and new values, and the timestamp … Logs are append-only.",
        audit ? verdict(audit.ok, audit.ok ? `Audit chain verified: ${audit.events} events, hashes intact` : `Audit chain broken at event ${audit.first_bad_seq}: ${audit.reason}`)
          : el("p", { className: "muted", textContent: "Audit verification is not available in this build." })),
      promise("AI scope", "Nexus … cannot see other tenants. It cannot make outbound calls … without an explicit, scoped integration. Prompts and outputs are processed via our model provider.",
        el("p", { id: "model-provider", textContent: `Model in use: ${t.model.name} (provider: ${t.model.provider})` }),
        el("p", { textContent: `Nexus tools available to your role: ${t.tools.available}; ${t.tools.pausing} of them pause for a person's approval.` })),
      promise("Subprocessors", "See the list of subprocessors.",
        el("ul", {}, ...t.subprocessors.map((s) => el("li", { textContent: `${s.name}: ${s.purpose}` })))),
      promise("What we don't have yet", "We are not SOC 2 Type II or ISO 27001 certified. We do not pursue HIPAA or BAA.",
        el("p", { textContent: "No certification is claimed anywhere in the product." })),
    );
    $("trust-status").textContent = `Evidence read at ${new Date(t.checked_at).toLocaleString()}.`;
  } catch (error) {
    $("trust-status").textContent = "";
    $("trust-error").hidden = false;
    $("trust-error").textContent = error.status === 401 ? "Sign in to see this workspace's evidence." : error.message;
  }
}

start();
