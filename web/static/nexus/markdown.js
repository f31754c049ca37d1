// A tiny, safe Markdown renderer for model output. It builds DOM nodes with textContent and
// never parses HTML, so markup in an answer stays text. Links render only for http(s) URLs;
// images are NEVER <img> (an image URL could carry data to another host): they become links.
// Supported: paragraphs, # headings, **bold**, *italic*, `code`, ``` blocks, - and 1. lists,
// > quotes, | tables |, [links](https://...), ![images](https://...).

const SAFE_URL = /^https?:\/\/[^\s]+$/i;

export function safeHref(url) {
  try {
    const parsed = new URL(url, "https://invalid.invalid/");
    if (!SAFE_URL.test(url) || !["http:", "https:"].includes(parsed.protocol)) return null;
    return parsed.href;
  } catch {
    return null;
  }
}

function link(text, url, isImage) {
  const href = safeHref(url);
  const label = isImage ? `image: ${text || url}` : text || url;
  if (!href) return document.createTextNode(isImage ? `[${label}]` : label);
  const a = document.createElement("a");
  a.href = href;
  a.textContent = label;
  a.rel = "noopener noreferrer nofollow";
  a.target = "_blank";
  if (isImage) a.className = "md-image-link";
  return a;
}

const INLINE = /(!?)\[([^\]]*)\]\(([^)\s]*)\)|\*\*([^*]+)\*\*|`([^`]+)`|\*([^*\s][^*]*)\*/g;

export function renderInline(text, parent) {
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) parent.append(unescape(text.slice(last, m.index)));
    if (m[3] !== undefined && m[0].includes("](")) {
      parent.append(link(unescape(m[2]), m[3], m[1] === "!"));
    } else if (m[4] !== undefined) {
      const b = document.createElement("strong");
      renderInline(m[4], b);
      parent.append(b);
    } else if (m[5] !== undefined) {
      const c = document.createElement("code");
      c.textContent = m[5];
      parent.append(c);
    } else if (m[6] !== undefined) {
      const i = document.createElement("em");
      renderInline(m[6], i);
      parent.append(i);
    }
    last = m.index + m[0].length;
  }
  if (last < text.length) parent.append(unescape(text.slice(last)));
}

function unescape(text) {
  return text.replace(/\\([\\|*_`[\]()#>-])/g, "$1");
}

function splitRow(line) {
  const cells = [];
  let current = "";
  const body = line.trim().replace(/^\|/, "").replace(/\|$/, "");
  for (let i = 0; i < body.length; i++) {
    if (body[i] === "\\" && body[i + 1] === "|") { current += "\\|"; i++; continue; }
    if (body[i] === "|") { cells.push(current.trim()); current = ""; continue; }
    current += body[i];
  }
  cells.push(current.trim());
  return cells;
}

function table(lines) {
  const t = document.createElement("table");
  const head = t.createTHead().insertRow();
  for (const cell of splitRow(lines[0])) {
    const th = document.createElement("th");
    renderInline(cell, th);
    head.append(th);
  }
  const body = t.createTBody();
  for (const line of lines.slice(2)) {
    const row = body.insertRow();
    for (const cell of splitRow(line)) renderInline(cell, row.insertCell());
  }
  const wrap = document.createElement("div");
  wrap.className = "table-wrap";
  wrap.append(t);
  return wrap;
}

export function renderMarkdown(source) {
  const root = document.createElement("div");
  root.className = "md";
  const lines = String(source || "").replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) { i++; continue; }
    if (line.startsWith("```")) {
      const pre = document.createElement("pre");
      const code = document.createElement("code");
      const body = [];
      i++;
      while (i < lines.length && !lines[i].startsWith("```")) body.push(lines[i++]);
      i++;
      code.textContent = body.join("\n");
      pre.append(code);
      root.append(pre);
      continue;
    }
    const heading = /^(#{1,4})\s+(.*)$/.exec(line);
    if (heading) {
      const h = document.createElement(`h${Math.min(heading[1].length + 2, 6)}`);
      renderInline(heading[2], h);
      root.append(h);
      i++;
      continue;
    }
    if (line.trim().startsWith("|") && i + 1 < lines.length && /^\s*\|?\s*:?-{2,}/.test(lines[i + 1])) {
      const block = [];
      while (i < lines.length && lines[i].trim().startsWith("|")) block.push(lines[i++]);
      root.append(table(block));
      continue;
    }
    if (line.startsWith(">")) {
      const quote = document.createElement("blockquote");
      const body = [];
      while (i < lines.length && lines[i].startsWith(">")) body.push(lines[i++].replace(/^>\s?/, ""));
      quote.append(renderMarkdown(body.join("\n")));
      root.append(quote);
      continue;
    }
    const bullet = /^\s*([-*]|\d+\.)\s+/;
    if (bullet.test(line)) {
      const ordered = /^\s*\d+\./.test(line);
      const list = document.createElement(ordered ? "ol" : "ul");
      while (i < lines.length && bullet.test(lines[i])) {
        const li = document.createElement("li");
        renderInline(lines[i++].replace(bullet, ""), li);
        list.append(li);
      }
      root.append(list);
      continue;
    }
    const p = document.createElement("p");
    const body = [];
    while (i < lines.length && lines[i].trim() && !/^(```|#|>|\s*\||\s*([-*]|\d+\.)\s)/.test(lines[i])) {
      body.push(lines[i++]);
    }
    if (!body.length) body.push(lines[i++]);
    body.forEach((text, n) => {
      if (n) p.append(document.createElement("br"));
      renderInline(text, p);
    });
    root.append(p);
  }
  return root;
}
