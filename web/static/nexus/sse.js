// Server-Sent Events over fetch (the chat turn is a POST, which EventSource cannot send).
// Yields {id, event, data} with data parsed as JSON; comments (pings) are skipped.

export async function* readEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields = {};
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const name = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        fields[name] = name in fields ? `${fields[name]}\n${value}` : value;
      }
      if (fields.event && fields.data !== undefined) {
        yield { id: Number(fields.id || 0), event: fields.event, data: JSON.parse(fields.data) };
      }
    }
  }
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

let csrf = null;
export function setCsrf(token) { csrf = token || null; }

function headers(body, extra = {}) {
  const h = { Accept: "application/json", ...extra };
  if (body !== undefined) h["Content-Type"] = "application/json";
  if (csrf) h["X-CSRF-Token"] = csrf;
  return h;
}

export async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: method === "GET" ? { Accept: "application/json" } : headers(body),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, (data && data.detail) || response.statusText);
  return data;
}

// A streamed request: errors before the stream are JSON and thrown; events are yielded.
export async function* stream(method, path, body, extraHeaders = {}) {
  const response = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: { ...headers(body, extraHeaders), Accept: "text/event-stream" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch { /* not JSON */ }
    throw new ApiError(response.status, detail);
  }
  yield* readEvents(response);
}
