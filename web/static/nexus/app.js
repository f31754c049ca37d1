// The FlowGrid app: chat with Nexus (streamed), approvals, touched records, pipeline and lists.
import { renderMarkdown } from "./markdown.js";
import { ApiError, api, setCsrf, stream } from "./sse.js";

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};
const pretty = (value) => JSON.stringify(value, null, 2);

const state = { me: null, conversation: null, busy: false, touched: new Map() };

function showError(error) {
  const box = $("app-error");
  box.textContent = error ? (error.message || String(error)) : "";
  box.hidden = !error;
}

// --- views -------------------------------------------------------------------------------

function showView(name) {
  for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== `view-${name}`;
  for (const tab of document.querySelectorAll("#tabs button")) {
    if (tab.dataset.view === name) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  if (name === "pipeline") loadPipeline();
  if (name === "contacts") loadList("contacts", ["first_name", "last_name", "email", "phone", "title"]);
  if (name === "companies") loadList("companies", ["name", "domain", "industry", "phone"]);
  if (name === "audit") loadAudit(null);
  if (name === "chat") $("prompt").focus();
}

// --- chat rendering ----------------------------------------------------------------------

function addMessage(role, content) {
  const item = el("li", { className: `msg msg-${role}` });
  if (content !== undefined) item.append(content);
  $("messages").append(item);
  item.scrollIntoView({ block: "end" });
  return item;
}

function toolChip(call) {
  const chip = el("details", { className: "chip", id: `tool-${call.id}` });
  const summary = el("summary", {}, el("span", { className: "chip-name", textContent: call.name }),
    el("span", { className: "chip-state", textContent: " … running" }));
  chip.append(summary, el("p", { className: "chip-label", textContent: "Arguments" }),
    el("pre", { textContent: pretty(call.args) }));
  return chip;
}

function toolResult(result, chip) {
  if (!chip) return;
  chip.classList.add(result.ok ? "ok" : "failed");
  chip.querySelector(".chip-state").textContent = result.ok ? " ✓ done" : " ✗ failed";
  chip.append(el("p", { className: "chip-label", textContent: "Result" }),
    el("pre", { textContent: pretty(result.result) }));
  noteTouched(result);
}

// Records a tool returned: shown in the side panel (label, kind, what happened).
const KIND_OF = /^(?:create|get|search|update|delete|bulk_update)_(contact|compan|deal|task)|^(move_deal_stage|mark_deal)/;
function noteTouched(result) {
  if (!result.ok || !result.result) return;
  const match = KIND_OF.exec(result.name);
  if (!match) return;
  const kind = match[2] ? "deal" : match[1] === "compan" ? "company" : match[1];
  const data = result.result.data || {};
  const records = Array.isArray(data.items) ? data.items
    : data.deleted ? [data.deleted] : data.updated ? [data.updated] : [data];
  const verb = result.name.split("_")[0];
  for (const record of records) {
    if (!record || !record.id) continue;
    const label = [record.first_name, record.last_name].filter(Boolean).join(" ")
      || record.name || record.title || record.id;
    state.touched.set(record.id, { kind, label, verb });
  }
  renderTouched();
}

function renderTouched() {
  const list = $("touched-list");
  list.replaceChildren();
  for (const [id, item] of state.touched) {
    const li = el("li", { className: `touched-${item.verb}` });
    li.dataset.recordId = id;
    li.append(el("span", { className: "kind", textContent: item.kind }), " ",
      el("span", { className: "label", textContent: item.label }),
      el("span", { className: "verb", textContent: ` (${item.verb === "delete" ? "deleted" : item.verb})` }));
    list.append(li);
  }
  $("touched-empty").hidden = state.touched.size > 0;
}

function approvalCard(request) {
  const card = el("div", { className: "approval", role: "group" });
  card.setAttribute("aria-label", `Approval needed: ${request.name}`);
  card.append(
    el("p", { className: "approval-title" }, el("strong", { textContent: "Approval needed: " }),
      el("code", { textContent: request.name }), ` (${request.effect || "action"})`),
    el("p", { className: "chip-label", textContent: "What it will touch" }),
    el("pre", { textContent: pretty(request.preview) }),
    el("p", { className: "chip-label", textContent: "Arguments" }),
    el("pre", { textContent: pretty(request.args) }),
    el("p", { className: "muted", textContent: request.expires_at ? `Expires ${new Date(request.expires_at).toLocaleTimeString()}` : "" }),
  );
  const approve = el("button", { type: "button", className: "approve", textContent: "Approve" });
  const deny = el("button", { type: "button", className: "deny secondary", textContent: "Deny" });
  const decide = async (yes) => {
    approve.disabled = deny.disabled = true;
    card.classList.add(yes ? "approved" : "denied");
    card.append(el("p", { className: "decision", textContent: yes ? "Approved." : "Denied." }));
    await runTurn(() => stream("POST", `/api/chat/conversations/${state.conversation}/approvals`,
      { approval_id: request.approval_id, approve: yes }));
  };
  approve.addEventListener("click", () => decide(true));
  deny.addEventListener("click", () => decide(false));
  card.append(el("div", { className: "approval-actions" }, approve, deny));
  return card;
}

// One streamed turn: text into an assistant bubble, tools as chips, approvals as cards.
async function runTurn(open) {
  state.busy = true;
  $("send").disabled = true;
  const bubble = addMessage("assistant");
  bubble.setAttribute("aria-busy", "true");
  const tools = el("div", { className: "tools" });
  const body = el("div", { className: "answer" });
  const typing = el("p", { className: "muted typing", textContent: "Nexus is working…" });
  bubble.append(tools, body, typing);
  let text = "";
  try {
    for await (const ev of open()) {
      if (ev.event === "text-delta") {
        text += ev.data.delta;
        body.replaceChildren(renderMarkdown(text));
      } else if (ev.event === "tool-call") {
        tools.append(toolChip(ev.data));
      } else if (ev.event === "tool-result") {
        toolResult(ev.data, bubble.querySelector(`[id="tool-${CSS.escape(ev.data.id)}"]`));
      } else if (ev.event === "approval-request") {
        const chip = bubble.querySelector(`[id="tool-${CSS.escape(ev.data.tool_call_id)}"] .chip-state`);
        if (chip) chip.textContent = " ⏸ waiting for your approval";
        bubble.append(approvalCard(ev.data));
      } else if (ev.event === "error") {
        bubble.append(el("p", { className: "error", role: "alert", textContent: ev.data.message }));
      } else if (ev.event === "done") {
        const usage = ev.data.usage || {};
        if (usage.latency_ms !== undefined) bubble.dataset.latency = usage.latency_ms;
      }
    }
  } catch (error) {
    bubble.append(el("p", { className: "error", role: "alert", textContent: error.message || String(error) }));
  } finally {
    typing.remove();
    bubble.removeAttribute("aria-busy");
    state.busy = false;
    $("send").disabled = false;
    bubble.scrollIntoView({ block: "end" });
  }
}

async function ensureConversation() {
  if (state.conversation) return state.conversation;
  const created = await api("POST", "/api/chat/conversations", {});
  state.conversation = created.id;
  sessionStorage.setItem("nexus.conversation", created.id);
  return created.id;
}

async function send(text) {
  if (state.busy || !text.trim()) return;
  showError(null);
  try {
    await ensureConversation();
  } catch (error) {
    showError(error);
    return;
  }
  addMessage("user", el("p", { textContent: text }));
  $("prompt").value = "";
  await runTurn(() => stream("POST", `/api/chat/conversations/${state.conversation}/messages`, { text }));
}

async function restore() {
  const id = sessionStorage.getItem("nexus.conversation");
  if (!id) return;
  try {
    const history = await api("GET", `/api/chat/conversations/${id}`);
    state.conversation = id;
    let bubble = null;
    for (const item of history.items) {
      if (item.type === "user") { addMessage("user", el("p", { textContent: item.text })); bubble = null; continue; }
      bubble = bubble || addMessage("assistant");
      if (item.type === "assistant") bubble.append(renderMarkdown(item.text));
      if (item.type === "tool-call") bubble.append(toolChip(item));
      if (item.type === "tool-result") toolResult(item, bubble.querySelector(`[id="tool-${CSS.escape(item.id)}"]`));
    }
    for (const request of history.pending || []) (bubble || addMessage("assistant")).append(approvalCard(request));
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) showError(error);
    sessionStorage.removeItem("nexus.conversation");
  }
}

// --- pipeline board and lists ------------------------------------------------------------

async function allOf(plural) {
  const items = [];
  let cursor = null;
  do {
    const page = await api("GET", `/api/v1/${plural}?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < 1000);
  return items;
}

function money(totals) {
  const parts = Object.entries(totals).map(([cur, amount]) =>
    `${cur} ${Number(amount).toLocaleString(undefined, { maximumFractionDigits: 2 })}`);
  return parts.join(" · ") || "—";
}

async function loadPipeline() {
  const status = $("pipeline-status");
  status.textContent = "Loading…";
  try {
    const [stages, deals] = await Promise.all([allOf("stages"), allOf("deals")]);
    stages.sort((a, b) => (a.position ?? 0) - (b.position ?? 0));
    const board = $("board");
    board.replaceChildren();
    const columns = [...stages, { id: null, name: "(no stage)" }];
    for (const stage of columns) {
      const inStage = deals.filter((d) => (d.stage_id || null) === stage.id);
      if (stage.id === null && !inStage.length) continue;
      const totals = {};
      for (const d of inStage) totals[d.currency || "USD"] = (totals[d.currency || "USD"] || 0) + Number(d.amount || 0);
      const column = el("section", { className: "column" });
      column.setAttribute("aria-label", `${stage.name}: ${inStage.length} deals`);
      column.append(el("h2", { textContent: stage.name }),
        el("p", { className: "total", textContent: `${inStage.length} deal${inStage.length === 1 ? "" : "s"} · ${money(totals)}` }));
      const list = el("ul", { className: "cards" });
      for (const d of inStage) {
        list.append(el("li", { className: "card" }, el("strong", { textContent: d.name }),
          el("span", { className: "muted", textContent: d.amount != null ? ` ${d.currency || ""} ${Number(d.amount).toLocaleString()}` : "" })));
      }
      column.append(list);
      board.append(column);
    }
    status.textContent = `${deals.length} deals in ${stages.length} stages.`;
  } catch (error) {
    status.textContent = "";
    showError(error);
  }
}

async function loadList(plural, columns) {
  const status = $(`${plural}-status`);
  status.textContent = "Loading…";
  try {
    const items = await allOf(plural);
    const table = el("table");
    const head = table.createTHead().insertRow();
    for (const c of columns) head.append(el("th", { textContent: c.replace("_", " ") }));
    const body = table.createTBody();
    for (const item of items) {
      const row = body.insertRow();
      for (const c of columns) row.insertCell().textContent = item[c] ?? "";
    }
    $(`${plural}-table`).replaceChildren(table);
    status.textContent = `${items.length} ${plural}.`;
  } catch (error) {
    status.textContent = "";
    showError(error);
  }
}

// --- audit trail (admins and owners) ----------------------------------------------------

const ADMIN_ROLES = new Set(["admin", "owner"]);

function changes(event) {
  const before = event.before || {};
  const after = event.after || {};
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])]
    .filter((k) => !["tenant_id", "created_at", "updated_at", "version"].includes(k))
    .filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
  return keys.map((k) => `${k}: ${before[k] ?? "∅"} → ${after[k] ?? "∅"}`).join("\n");
}

async function loadAudit(cursor) {
  const status = $("audit-status");
  status.textContent = "Loading…";
  try {
    const page = await api("GET", `/api/audit?limit=50${cursor ? `&cursor=${cursor}` : ""}`);
    let table = $("audit-table").querySelector("table");
    if (!cursor || !table) {
      table = el("table");
      const head = table.createTHead().insertRow();
      for (const h of ["#", "when", "actor", "via", "action", "table", "record", "changes"]) {
        head.append(el("th", { textContent: h }));
      }
      table.createTBody();
      $("audit-table").replaceChildren(table);
    }
    for (const event of page.items) {
      const row = table.tBodies[0].insertRow();
      for (const value of [event.seq, event.at, event.actor, event.via, event.action,
        event.table_name, event.record_id]) row.insertCell().textContent = value ?? "";
      row.insertCell().append(el("pre", { textContent: changes(event) }));
    }
    const more = $("audit-more");
    more.hidden = !page.next_cursor;
    more.onclick = () => loadAudit(page.next_cursor);
    status.textContent = `${table.tBodies[0].rows.length} events shown.`;
  } catch (error) {
    status.textContent = "";
    showError(error);
  }
}

async function verifyAudit() {
  const status = $("audit-status");
  status.textContent = "Verifying…";
  try {
    const result = await api("GET", "/api/audit/verify");
    status.textContent = result.ok
      ? `Chain verified: ${result.events} events, no gap, no edit.`
      : `Chain broken at event ${result.first_bad_seq}: ${result.reason}`;
  } catch (error) {
    status.textContent = "";
    showError(error);
  }
}

// --- start -------------------------------------------------------------------------------

async function start() {
  let me;
  try {
    me = await api("GET", "/api/me");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) { $("signed-out").hidden = false; return; }
    showError(error);
    return;
  }
  state.me = me;
  setCsrf(me.csrf_token);
  $("who").textContent = `${me.user.email} · ${me.workspace ? me.workspace.name : ""} · ${me.role || ""}`;
  $("audit-tab").hidden = !ADMIN_ROLES.has(me.role);
  $("audit-verify").addEventListener("click", verifyAudit);
  for (const tab of document.querySelectorAll("#tabs button")) {
    tab.addEventListener("click", () => showView(tab.dataset.view));
  }
  $("composer").addEventListener("submit", (event) => { event.preventDefault(); send($("prompt").value); });
  $("prompt").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send($("prompt").value);
    }
  });
  $("new-chat").addEventListener("click", () => {
    sessionStorage.removeItem("nexus.conversation");
    state.conversation = null;
    state.touched.clear();
    renderTouched();
    $("messages").replaceChildren();
    $("prompt").focus();
  });
  try {
    const trust = await api("GET", "/api/trust");
    $("model-note").textContent = `Model: ${trust.model.name} (${trust.model.provider})`;
  } catch { /* the note is optional */ }
  await restore();
  showView("chat");
}

start();
