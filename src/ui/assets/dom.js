// DOM helpers. Every value from the server goes into the page as text (text nodes,
// textContent, setAttribute of inert attributes): never innerHTML, so a device name,
// tag, config line or failure text full of <script> stays text.

// el('a', {href: '/x', class: 'c'}, 'text', childNode, [more, children])
// Attributes: 'class', 'for', aria-*, data-* and plain ones via setAttribute; 'on*' keys
// take functions (addEventListener), never strings.
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      node.addEventListener(key.slice(2), value);
    } else if (key === 'hidden' || key === 'disabled' || key === 'checked' || key === 'selected') {
      node[key] = Boolean(value);
    } else if (key === 'value') {
      node.value = String(value);
    } else {
      node.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

export function replace(node, ...children) {
  clear(node);
  return append(node, children);
}

function pad(n) { return String(n).padStart(2, '0'); }

// "2026-12-05 18:22:52" in the browser's local time zone (engineers compare with their
// own clock), or '—' for none.
export function clock(unix) {
  if (unix === null || unix === undefined) return '—';
  const d = new Date(unix * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
         `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// "3 min ago", "in 40 s", relative to the server's `now`.
export function ago(unix, now) {
  if (unix === null || unix === undefined) return '';
  let s = Math.round(now - unix);
  const future = s < 0;
  s = Math.abs(s);
  let text;
  if (s < 60) text = `${s} s`;
  else if (s < 3600) text = `${Math.floor(s / 60)} min`;
  else if (s < 86400 * 2) text = `${Math.floor(s / 3600)} h`;
  else text = `${Math.floor(s / 86400)} d`;
  return future ? `in ${text}` : `${text} ago`;
}

// A <time> element: the clock time, with the relative time beside it (and the UTC
// ISO form as its machine-readable datetime and tooltip).
// `compact` (the fleet table): only the relative time, the clock time as its tooltip.
export function time_el(unix, now, compact) {
  if (unix === null || unix === undefined) return el('span', {class: 'muted'}, '—');
  const iso = new Date(unix * 1000).toISOString();
  if (compact && now) return el('time', {datetime: iso, title: `${clock(unix)} (${iso})`}, ago(unix, now));
  return el('time', {datetime: iso, title: iso},
            clock(unix), now ? el('span', {class: 'rel'}, ' · ', ago(unix, now)) : null);
}

export function short_commit(commit) { return commit ? commit.slice(0, 10) : ''; }

export function bytes(n) {
  if (n === null || n === undefined) return '—';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function device_href(device, params) {
  const q = params ? `?${new URLSearchParams(params)}` : '';
  return `/ui/devices/${encodeURIComponent(device)}${q}`;
}

// A message box for errors and notes; role=alert so screen readers hear failures.
export function notice(text, kind) {
  return el('p', {class: `notice ${kind || 'error'}`, role: kind === 'info' ? 'status' : 'alert'},
            text);
}
