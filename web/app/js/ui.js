// Small DOM helpers: no framework, no innerHTML with data (text only).

// h builds an element: h('button', {testid: 'x', onclick: f}, 'text', child…).
// Attributes: class, testid (data-testid), on* listeners, boolean props
// (disabled, checked, selected, required, multiple) and any other attribute.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'testid') el.dataset.testid = v;
    else if (k === 'class') el.className = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (['disabled', 'checked', 'selected', 'required', 'multiple', 'hidden'].includes(k)) el[k] = Boolean(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// set replaces an element's children.
export function set(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let uid = 0;
// field is a labelled control: field('Email', h('input', …)).
export function field(label, control, cls) {
  if (!control.id) control.id = `f${++uid}`;
  return h('label', { for: control.id, class: cls }, label, control);
}

export function main() { return document.getElementById('main'); }

// page replaces the main area and moves focus to its heading for screen
// readers and keyboard users.
export function page(title, ...children) {
  const heading = h('h1', { tabindex: '-1' }, title);
  set(main(), heading, ...children);
  document.title = `${title} · Quizcast`;
  heading.focus({ preventScroll: true });
  return main();
}

// announce speaks a message through the polite live region.
export function announce(text) {
  const el = document.getElementById('announcer');
  el.textContent = '';
  setTimeout(() => { el.textContent = text; }, 30);
}

// Times are shown in the browser's locale and time zone.
export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}
export function day(iso) {
  if (!iso) return '';
  const d = new Date(iso.length === 10 ? `${iso}T00:00:00Z` : iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleDateString(undefined, { timeZone: 'UTC' });
}
export function pct(x) { return x === null || x === undefined ? '–' : `${Math.round(x * 100)}%`; }
export function ms(x) { return x === null || x === undefined ? '–' : `${(x / 1000).toFixed(1)} s`; }

// errorText turns an API error into one readable line (with its fields).
export function errorText(err) {
  if (!err) return '';
  let text = err.message || String(err);
  if (err.fields) text += ' (' + Object.entries(err.fields).map(([k, v]) => `${k}: ${v}`).join('; ') + ')';
  return text;
}
export function errorBox() { return h('p', { class: 'error', role: 'alert' }); }
export function showError(box, err) { box.textContent = errorText(err); }

// bar is a horizontal bar whose width is set through the CSSOM (allowed by
// the Content-Security-Policy, unlike style attributes).
export function bar(fraction) {
  const fill = h('div', { class: 'fill' });
  fill.style.width = `${Math.max(0, Math.min(1, fraction || 0)) * 100}%`;
  return h('div', { class: 'track', 'aria-hidden': 'true' }, fill);
}

export function table(headers, rows) {
  return h('table', {},
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col', class: x.num ? 'num' : '' }, x.label || x)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c, i) => h('td', { class: headers[i] && headers[i].num ? 'num' : '' }, c))))));
}

// saveBlob offers a downloaded body as a file.
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}
