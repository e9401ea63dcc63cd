// Shared helpers of the jq2qmt pages: API calls with the session's CSRF token,
// error messages, DOM building, number/time formatting, the stale-strategy rule.

const meta = document.querySelector('meta[name="csrf-token"]');
export const csrfToken = meta ? meta.content : '';

export class ApiError extends Error {
  constructor(status, body) {
    super(errorMessage(body, status));
    this.status = status;
    this.body = body;
  }
}

// One call to the JSON API. Writes carry the CSRF token; 401 sends the user to login.
// `etag`: sent as If-None-Match; a 304 answer resolves to {notModified: true}.
// `loginOn401: false` for calls where 401 means a wrong password, not a lost session.
export async function api(path, { method = 'GET', body, etag, loginOn401 = true } = {}) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrfToken;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (etag) headers['If-None-Match'] = etag;
  const resp = await fetch(path, {
    method, headers, credentials: 'same-origin', cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (resp.status === 304) return { notModified: true, etag };
  let data = null;
  const text = await resp.text();
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = { message: text.slice(0, 200) }; }
  }
  if (resp.status === 401 && loginOn401) {
    goLogin();
    throw new ApiError(401, data);
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return { data, etag: resp.headers.get('ETag') };
}

export function goLogin() {
  const next = location.pathname + location.search;
  location.assign('/login?next=' + encodeURIComponent(next) + '&expired=1');
}

// The server's error bodies name a message in several shapes (ours, FastAPI's).
export function errorMessage(body, status) {
  if (body) {
    if (typeof body === 'string') return body;
    const e = body.error && typeof body.error === 'object' ? body.error : body;
    for (const key of ['message', 'msg', 'error', 'detail', 'reason']) {
      const v = e[key];
      if (typeof v === 'string' && v) return v;
    }
    if (Array.isArray(body.detail) && body.detail.length) {
      return body.detail.map((d) => d.msg || JSON.stringify(d)).join('；');
    }
    const fields = fieldErrors(body);
    if (fields.length) return fields.map((f) => f.message).join('；');
  }
  return status ? '请求失败（HTTP ' + status + '）' : '请求失败';
}

// Per-field errors as [{field, index, message}] where `index` is the position row
// the field belongs to (from paths like "positions[2].code" or ["body","positions",2,"code"]).
export function fieldErrors(body) {
  if (!body || typeof body !== 'object') return [];
  const e = body.error && typeof body.error === 'object' ? body.error : body;
  let list = e.errors || e.fields || e.details || (Array.isArray(body.detail) ? body.detail : null);
  if (!list && (e.field || e.loc)) list = [e];
  if (!Array.isArray(list)) return [];
  return list.map((item) => {
    let field = item.field || item.loc || item.path || '';
    if (Array.isArray(field)) field = field.filter((p) => p !== 'body').join('.');
    const m = /positions\D*(\d+)/.exec(String(field));
    return {
      field: String(field),
      index: item.index !== undefined ? Number(item.index) : (m ? Number(m[1]) : null),
      message: item.message || item.msg || item.reason || String(item.error || ''),
    };
  });
}

// Text for the few places that take HTML (ECharts' tooltips): every name, code or
// message that came from an upload or a user goes through this first. Everywhere
// else data is set with textContent (`el`), never as markup.
const HTML_ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function escapeHtml(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

// el('td', {class: 'num', text: '1'}, child, ...)
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'text') node.textContent = v;
    else if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function fillBody(tbody, rows, emptyText, colspan) {
  tbody.replaceChildren();
  if (!rows.length) {
    tbody.append(el('tr', {}, el('td', { class: 'empty', colspan: String(colspan), text: emptyText })));
    return;
  }
  tbody.append(...rows);
}

const intFmt = new Intl.NumberFormat('zh-CN', { maximumFractionDigits: 0 });
const moneyFmt = new Intl.NumberFormat('zh-CN', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const priceFmt = new Intl.NumberFormat('zh-CN', { minimumFractionDigits: 2, maximumFractionDigits: 4 });

export const fmtInt = (n) => (n === null || n === undefined || isNaN(n) ? '—' : intFmt.format(n));
export const fmtMoney = (n) => (n === null || n === undefined || isNaN(n) ? '—' : moneyFmt.format(n));
export const fmtPrice = (n) => (n === null || n === undefined || isNaN(n) ? '—' : priceFmt.format(n));
export const fmtPct = (x) => (x === null || x === undefined || isNaN(x) ? '—' : (x * 100).toFixed(2) + '%');
export const fmtSigned = (n) => (n > 0 ? '+' : '') + fmtInt(n);

// Money in 万 for tiles and charts.
export function fmtWan(n) {
  if (n === null || n === undefined || isNaN(n)) return '—';
  if (Math.abs(n) >= 1e8) return (n / 1e8).toFixed(2) + ' 亿';
  if (Math.abs(n) >= 1e4) return (n / 1e4).toFixed(2) + ' 万';
  return moneyFmt.format(n);
}

// Server times are ISO 8601; a time without a zone is Beijing time (as the seed's).
export function parseTime(value) {
  if (!value) return null;
  if (typeof value === 'number') return new Date(value * 1000);
  let s = String(value).trim().replace(' ', 'T');
  if (!/(Z|[+-]\d\d:?\d\d)$/.test(s)) s += '+08:00';
  const d = new Date(s);
  return isNaN(d.getTime()) ? null : d;
}

const timeFmt = new Intl.DateTimeFormat('zh-CN', {
  timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
});

export function fmtTime(value) {
  const d = value instanceof Date ? value : parseTime(value);
  if (!d) return '—';
  const p = Object.fromEntries(timeFmt.formatToParts(d).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

// "3 分钟前" style age, for heartbeats and refresh state.
export function fmtAge(value, now = new Date()) {
  const d = value instanceof Date ? value : parseTime(value);
  if (!d) return '从未';
  const s = Math.max(0, Math.round((now - d) / 1000));
  if (s < 60) return s + ' 秒前';
  if (s < 3600) return Math.floor(s / 60) + ' 分钟前';
  if (s < 86400) return Math.floor(s / 3600) + ' 小时前';
  return Math.floor(s / 86400) + ' 天前';
}

// Beijing calendar date of a Date as a UTC-midnight Date (for day arithmetic).
function beijingDay(d) {
  const b = new Date(d.getTime() + 8 * 3600 * 1000);
  return Date.UTC(b.getUTCFullYear(), b.getUTCMonth(), b.getUTCDate());
}

// Weekdays (Mon–Fri, Beijing dates) strictly between the day of `from` and the day of `to`.
export function tradingDaysBetween(from, to) {
  let count = 0;
  const day = 86400 * 1000;
  for (let t = beijingDay(from) + day; t < beijingDay(to); t += day) {
    const wd = new Date(t).getUTCDay();
    if (wd !== 0 && wd !== 6) count += 1;
  }
  return count;
}

// The stale rule: a strategy is stale when at least one whole trading day (a weekday,
// Beijing time; holidays are not known and count as trading days) has passed since the
// day of its last update without a new upload. Adjustment strategies are never stale.
export function isStale(strategyName, updateTime, now = new Date()) {
  if (isAdjustment(strategyName)) return false;
  const d = updateTime instanceof Date ? updateTime : parseTime(updateTime);
  if (!d) return true;
  return tradingDaysBetween(d, now) >= 1;
}

export const ADJUSTMENT_PREFIX = 'ADJUSTMENT_';
export const isAdjustment = (name) => String(name || '').startsWith(ADJUSTMENT_PREFIX);

let flashTimer = null;
export function flash(message, isError = false) {
  const box = document.getElementById('flash');
  if (!box) return;
  box.textContent = message;
  box.className = 'flash' + (isError ? ' error' : '');
  box.hidden = false;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => { box.hidden = true; }, isError ? 8000 : 3500);
}

// Strategy lists from GET /api/v1/positions/all in whichever shape the server uses:
// {strategies: [...]}, {strategies: {name: {...}}}, or a bare list.
export function strategyList(data) {
  let list = data && (data.strategies || data.items || data.data) ? (data.strategies || data.items || data.data) : data;
  if (list && !Array.isArray(list) && typeof list === 'object') {
    list = Object.entries(list).map(([name, s]) => Object.assign({ strategy_name: name }, s));
  }
  return (list || []).map((s) => ({
    name: s.strategy_name || s.name || s.strategy,
    version: s.version,
    update_time: s.update_time || s.updated_at,
    as_of: s.as_of,
    positions: (s.positions || []).map(normalizePosition),
    portfolio: s.portfolio || null,
  }));
}

export function normalizePosition(p) {
  return {
    code: p.code,
    name: p.name || '',
    volume: Number(p.volume !== undefined ? p.volume : p.total_volume),
    cost: Number(p.cost !== undefined ? p.cost : p.avg_cost),
  };
}

export const strategyUrl = (name) => '/history/' + encodeURIComponent(name);

// ---- table enhancer: search, column sort and paging ------------------------------------
//
// Pages opt in with attributes on a table (its tbody rows are the items) or on a list
// container (its children are the items):
//   data-enhance              search box, sortable columns (tables), paging
//   data-enhance-page="50"    rows per page (default 50)
//   data-enhance-key="..."    keeps search/sort/page across re-renders (default: the id)
// The page keeps rendering rows as before (e.g. `fillBody` on every refresh); the enhancer
// watches the container and applies the current search, sort and page to the new rows.
// Search matches every space-separated term against a row's text (code or name).

const enhanceState = new Map();
const ENHANCE_MIN_ROWS = 10;

function enhanceStateFor(key) {
  if (!enhanceState.has(key)) enhanceState.set(key, { query: '', sortCol: -1, sortDir: 1, page: 0 });
  return enhanceState.get(key);
}

// Sort key of a cell's text: a number when the text is one ("1,234.50", "+12", "38.2%", "−5"),
// otherwise the text itself.
export function sortValue(text) {
  const t = String(text || '').trim().replace(/[,\s%＋+]/g, '').replace(/^[−–]/, '-');
  if (t !== '' && t !== '-' && isFinite(Number(t))) return Number(t);
  return null;
}

const collator = new Intl.Collator('zh-CN', { numeric: true });

function compareCells(a, b) {
  const na = sortValue(a);
  const nb = sortValue(b);
  if (na !== null && nb !== null) return na - nb;
  if (na !== null) return -1;
  if (nb !== null) return 1;
  return collator.compare(a, b);
}

export function enhanceTable(target, options = {}) {
  if (target.dataset.enhanced) return;
  target.dataset.enhanced = '1';
  const isTable = target.tagName === 'TABLE';
  const container = isTable ? target.tBodies[0] : target;
  if (!container) return;
  const pageSize = Number(options.pageSize || target.dataset.enhancePage || 50);
  const key = options.key || target.dataset.enhanceKey || target.id || ('t' + enhanceState.size);
  const st = enhanceStateFor(key);
  const label = options.label || target.dataset.enhanceLabel || (isTable ? '行' : '项');

  const search = el('input', { type: 'search', class: 'enh-search', placeholder: '搜索代码或名称',
    'aria-label': '搜索代码或名称', autocomplete: 'off', value: st.query });
  const count = el('span', { class: 'muted small enh-count', 'aria-live': 'polite' });
  const prev = el('button', { class: 'btn btn-small', type: 'button', text: '上一页', 'aria-label': '上一页' });
  const next = el('button', { class: 'btn btn-small', type: 'button', text: '下一页', 'aria-label': '下一页' });
  const pageText = el('span', { class: 'small enh-page' });
  const pager = el('span', { class: 'enh-pager' }, prev, pageText, next);
  const bar = el('div', { class: 'toolbar enh-bar' }, search, count, pager);
  const anchor = target.parentElement && target.parentElement.classList.contains('table-wrap') ? target.parentElement : target;
  anchor.before(bar);

  let applying = false;
  const items = () => [...container.children].filter((r) => !r.querySelector(':scope > td.empty'));

  function apply() {
    applying = true;
    const all = items();
    bar.hidden = all.length <= ENHANCE_MIN_ROWS && !st.query;
    if (isTable && st.sortCol >= 0) {
      const cellText = (r) => (r.cells[st.sortCol] ? r.cells[st.sortCol].textContent : '');
      const sorted = all.map((r, i) => [r, i]).sort((x, y) => compareCells(cellText(x[0]), cellText(y[0])) * st.sortDir || x[1] - y[1]);
      const tail = [...container.children].filter((r) => !all.includes(r));
      if (sorted.some(([r], i) => r !== all[i])) container.append(...sorted.map((x) => x[0]), ...tail);
      all.splice(0, all.length, ...sorted.map((x) => x[0]));
    }
    const terms = st.query.toLowerCase().split(/\s+/).filter(Boolean);
    const matching = all.filter((r) => {
      const text = r.textContent.toLowerCase();
      return terms.every((t) => text.includes(t));
    });
    const pages = Math.max(1, Math.ceil(matching.length / pageSize));
    st.page = Math.min(st.page, pages - 1);
    const shown = new Set(matching.slice(st.page * pageSize, (st.page + 1) * pageSize));
    for (const r of all) r.classList.toggle('enh-off', !shown.has(r));
    count.textContent = terms.length ? `找到 ${matching.length} / 共 ${all.length} ${label}` : `共 ${all.length} ${label}`;
    pageText.textContent = `第 ${st.page + 1} / ${pages} 页`;
    pager.hidden = pages <= 1;
    prev.disabled = st.page === 0;
    next.disabled = st.page >= pages - 1;
    let none = container.querySelector(':scope > .enh-none');
    if (terms.length && !matching.length && all.length) {
      if (!none) {
        none = isTable ? el('tr', { class: 'enh-none' }, el('td', { class: 'empty', colspan: String(target.tHead ? target.tHead.rows[0].cells.length : 1), text: '没有匹配的结果。' }))
          : el('p', { class: 'empty enh-none', text: '没有匹配的结果。' });
        container.append(none);
      }
    } else if (none) none.remove();
    if (isTable && target.tHead) {
      [...target.tHead.rows[0].cells].forEach((th, i) => {
        th.setAttribute('aria-sort', i === st.sortCol ? (st.sortDir > 0 ? 'ascending' : 'descending') : 'none');
      });
    }
    observer.takeRecords();
    applying = false;
  }

  const observer = new MutationObserver(() => { if (!applying) apply(); });
  observer.observe(container, { childList: true });

  search.addEventListener('input', () => { st.query = search.value; st.page = 0; apply(); });
  prev.addEventListener('click', () => { st.page -= 1; apply(); });
  next.addEventListener('click', () => { st.page += 1; apply(); });

  if (isTable && target.tHead) {
    [...target.tHead.rows[0].cells].forEach((th, i) => {
      if (!th.textContent.trim() || th.dataset.nosort !== undefined) return;
      // the button's name stays the column's name (what a screen reader reads for the
      // header); the order is the header's aria-sort
      const button = el('button', { type: 'button', class: 'th-sort', text: th.textContent.trim(),
        title: `按「${th.textContent.trim()}」排序` });
      button.addEventListener('click', () => {
        if (st.sortCol === i) st.sortDir = -st.sortDir;
        else { st.sortCol = i; st.sortDir = th.classList.contains('num') ? -1 : 1; }
        st.page = 0;
        apply();
      });
      th.replaceChildren(button);
    });
  }
  apply();
  return { apply, state: st };
}

function enhanceAll(root = document) {
  if (root.matches && root.matches('[data-enhance]')) enhanceTable(root);
  if (root.querySelectorAll) root.querySelectorAll('[data-enhance]:not([data-enhanced])').forEach((t) => enhanceTable(t));
}

// ---- dialogs: focus goes back to the opener; Tab stays inside; Esc closes -------------
//
// Every <dialog> opened with showModal() remembers the element that had the focus and
// returns the focus to it when the dialog closes (when that element is gone, to the
// page's main heading). Tab and Shift+Tab wrap around inside the dialog. Esc is the
// browser's own `cancel`, which closes the dialog and fires `close` like a button does.

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

export function focusables(root) {
  return [...root.querySelectorAll(FOCUSABLE)].filter((n) => n.offsetParent !== null || n === document.activeElement);
}

// A selector that finds the opener again after a re-render: its id, or its data-action
// inside the element with the same data-account / data-strategy / data-code.
function openerSelector(node) {
  if (!node || node === document.body) return null;
  if (node.id) return '#' + CSS.escape(node.id);
  const action = node.dataset && node.dataset.action;
  const owner = node.closest('[data-account], [data-strategy], [data-code], [data-channel]');
  if (!action || !owner) return null;
  const key = ['account', 'strategy', 'code', 'channel'].find((k) => owner.dataset[k] !== undefined);
  return `[data-${key}="${CSS.escape(owner.dataset[key])}"] [data-action="${CSS.escape(action)}"]`;
}

function fallbackFocus() {
  const h = document.querySelector('main h1');
  if (h) { h.setAttribute('tabindex', '-1'); h.focus(); }
}

if (typeof HTMLDialogElement !== 'undefined' && !HTMLDialogElement.prototype.jq2qmtFocus) {
  const show = HTMLDialogElement.prototype.showModal;
  HTMLDialogElement.prototype.jq2qmtFocus = true;
  HTMLDialogElement.prototype.showModal = function showModal() {
    const opener = document.activeElement;
    const again = openerSelector(opener);
    const result = show.call(this);
    const dialog = this;
    dialog.addEventListener('close', () => {
      // after the page's own close handlers (they may re-render the opener's card)
      setTimeout(() => {
        if (document.activeElement && document.activeElement !== document.body && !dialog.contains(document.activeElement)) return;
        // a refresh may have replaced the opener: its twin on the new card takes the focus
        const target = opener && opener.isConnected ? opener : (again ? document.querySelector(again) : null);
        if (target && target !== document.body) target.focus(); else fallbackFocus();
      }, 0);
    }, { once: true });
    return result;
  };
  document.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Tab') return;
    const dialog = document.querySelector('dialog[open]');
    if (!dialog) return;
    const list = focusables(dialog);
    if (!list.length) return;
    const first = list[0];
    const last = list[list.length - 1];
    if (ev.shiftKey && (document.activeElement === first || !dialog.contains(document.activeElement))) {
      ev.preventDefault(); last.focus();
    } else if (!ev.shiftKey && (document.activeElement === last || !dialog.contains(document.activeElement))) {
      ev.preventDefault(); first.focus();
    }
  });
}

// Focus that fell to <body> (the focused button was disabled after a save, or a refresh
// replaced it) comes back where it was: a re-rendered control's twin takes it at once
// (below); otherwise the next Tab goes to the first control after the lost one, not to
// the top of the page.
let lastFocus = null;
let lastFocusAgain = null;
document.addEventListener('focusin', (ev) => {
  if (ev.target === document.body || ev.target.closest('dialog')) return;
  lastFocus = ev.target;
  lastFocusAgain = openerSelector(ev.target);
});
document.addEventListener('keydown', (ev) => {
  if (ev.key !== 'Tab' || ev.shiftKey || document.activeElement !== document.body || !lastFocus) return;
  if (document.querySelector('dialog[open]')) return;
  let target = null;
  if (lastFocus.isConnected && !lastFocus.disabled && lastFocus.offsetParent !== null) target = lastFocus;
  else if (!lastFocus.isConnected && lastFocusAgain) target = document.querySelector(lastFocusAgain);
  if ((!target || target.disabled) && lastFocus.isConnected) {
    target = focusables(document.body).find((n) => lastFocus.compareDocumentPosition(n) & Node.DOCUMENT_POSITION_FOLLOWING);
  }
  if (target && !target.disabled) {
    ev.preventDefault();
    target.focus();
  }
});

// Page-wide: enhance opted-in tables now and whenever a page inserts one.
if (typeof document !== 'undefined' && document.body) {
  enhanceAll();
  new MutationObserver((records) => {
    for (const r of records) for (const n of r.addedNodes) if (n.nodeType === 1) enhanceAll(n);
    // an auto-refresh replaced the focused control: its twin takes the focus at once
    if (document.activeElement === document.body && lastFocus && !lastFocus.isConnected && lastFocusAgain
        && !document.querySelector('dialog[open]')) {
      const twin = document.querySelector(lastFocusAgain);
      if (twin) twin.focus({ preventScroll: true });
    }
  }).observe(document.body, { childList: true, subtree: true });
}
