// 委托/成交: the order log of every follower (GET /api/v1/orders), newest first, 100
// rows a page. The filters and the page live in the URL (?account=&code=&status=&day=&page=),
// so a reload or a shared link shows the same rows; the periodic refresh re-reads
// the same URL and never touches the controls. Uploaded or reported text (codes,
// reasons, strategy names) is set with textContent only.
import { api, el, fillBody, fmtInt, fmtPrice, fmtTime, flash } from './app.js';

const PAGE_SIZE = 100;
const POLL_MS = 30000;
const CSV_LIMIT = 5000;
const FILTERS = ['account', 'code', 'status', 'day'];
const STATUSES = ['open', 'filled', 'partial', 'cancelled', 'rejected', 'skipped'];
const state = { params: readParams(), text: null, etag: null, timer: null, total: 0 };
const form = document.getElementById('o-filters');
const boxes = Object.fromEntries(FILTERS.map((k) => [k, document.getElementById('o-' + k)]));

function readParams() {
  const q = new URLSearchParams(location.search);
  const page = parseInt(q.get('page') || '1', 10);
  return { account: q.get('account') || '', code: (q.get('code') || '').trim(),
    status: STATUSES.includes(q.get('status')) ? q.get('status') : '', day: q.get('day') || '',
    page: page > 0 ? page : 1 };
}

function query(extra) {
  const q = new URLSearchParams();
  for (const k of FILTERS) if (state.params[k]) q.set(k, state.params[k]);
  for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
  return q;
}

function writeParams() {
  const q = query(state.params.page > 1 ? { page: state.params.page } : {});
  const url = location.pathname + (q.toString() ? '?' + q : '');
  if (url !== location.pathname + location.search) history.replaceState(null, '', url);
}

// The order's state in the words of a broker app.
export function statusText(o) {
  switch (o.status) {
    case 'open': return o.traded_volume ? '部成' : '已报';
    case 'filled': return '已成';
    case 'partial': return '部成已撤';
    case 'cancelled': return '已撤';
    case 'rejected': return '废单';
    case 'skipped': return '跳过';
    default: return o.status || '—';
  }
}

const STATUS_BADGE = { filled: 'badge-ok', rejected: 'badge-danger', open: 'badge-info', partial: 'badge-warn' };

function sideText(side) {
  return side === 'buy' ? '买入' : (side === 'sell' ? '卖出' : (side || '—'));
}

function averagePrice(fills) {
  let volume = 0;
  let value = 0;
  for (const f of fills) { volume += f.volume; value += f.volume * f.price; }
  return volume ? value / volume : null;
}

function fillsCell(o) {
  const fills = o.fills || [];
  const cell = el('td', { class: 'num fills' });
  if (o.status === 'skipped') { cell.textContent = '—'; return cell; }
  const avg = averagePrice(fills);
  cell.append(el('div', { text: `${fmtInt(o.traded_volume)} / ${fmtInt(o.volume)}` + (fills.length > 1 ? ` 均价 ${fmtPrice(avg)}` : '') }));
  for (const f of fills.slice(0, 3)) {
    cell.append(el('div', { class: 'muted small',
      text: `${fmtInt(f.volume)} @ ${fmtPrice(f.price)}` + (f.time ? ` · ${String(f.time).slice(11, 19) || f.time}` : '')
        + (f.slippage_bps !== null && f.slippage_bps !== undefined ? ` · ${Number(f.slippage_bps).toFixed(1)}bp` : '') }));
  }
  if (fills.length > 3) cell.append(el('div', { class: 'muted small', text: `另 ${fills.length - 3} 笔` }));
  return cell;
}

function row(o) {
  const status = statusText(o);
  return el('tr', { dataset: { id: String(o.id), status: o.status } },
    el('td', { class: 'time' }, fmtTime(o.placed_at).slice(5),
      o.round_id ? el('div', { class: 'round', text: o.round_id }) : null),
    el('td', { class: 'acct', text: o.account_id || '—' }),
    el('td', { class: 'code', text: o.code }),
    el('td', { class: 'side ' + (o.side === 'buy' ? 'up' : (o.side === 'sell' ? 'down' : '')), text: o.status === 'skipped' ? '—' : sideText(o.side) }),
    el('td', { class: 'num', text: o.volume ? fmtInt(o.volume) : '—' }),
    el('td', { class: 'num', text: fmtPrice(o.price) }),
    el('td', { class: 'num', text: fmtPrice(o.ref_price) }),
    el('td', {}, el('span', { class: 'badge ' + (STATUS_BADGE[o.status] || ''), text: status }),
      o.status_text && o.status_text !== status ? el('div', { class: 'muted small', text: o.status_text }) : null),
    fillsCell(o),
    el('td', { class: 'reason', text: o.reason || '' }),
    el('td', { class: 'strategies', text: (o.strategies || []).join('、') }));
}

async function refresh({ quiet = false } = {}) {
  clearTimeout(state.timer);
  const offset = (state.params.page - 1) * PAGE_SIZE;
  document.getElementById('o-csv').href = '/api/v1/orders?' + query({ limit: CSV_LIMIT, format: 'csv' });
  try {
    // If-None-Match: an unchanged answer is a 304 without a body and nothing is redrawn
    const resp = await api('/api/v1/orders?' + query({ limit: PAGE_SIZE, offset }), { etag: state.text === null ? null : state.etag });
    const data = resp.notModified ? null : resp.data;
    const text = data === null ? state.text : JSON.stringify(data);
    const changed = text !== state.text;
    state.text = text;
    if (!resp.notModified) state.etag = resp.etag;
    if (changed) render(data);
    setRefreshState(changed ? '已更新' : '无变化');
  } catch (err) {
    setRefreshState('刷新失败');
    if (err.status !== 401 && (!quiet || err.status)) {
      const field = err.body && err.body.error && err.body.error.field;
      flash(String(err.message).split(' / ')[0] + (field ? `（${field}）` : ''), true);
    }
  }
  schedule();
}

function render(data) {
  const total = data.total ?? data.count;
  state.total = total;
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  if (state.params.page > pages && total > 0) {  // the filters shrank the log: show its last page
    state.params.page = pages;
    writeParams();
    state.text = null;
    refresh();
    return;
  }
  const filtered = FILTERS.some((k) => state.params[k]);
  fillBody(document.querySelector('#orders-table tbody'), data.orders.map(row),
    filtered ? '没有符合条件的委托。' : '还没有委托记录。跟单端下单、撤单、被拒或跳过之后会出现在这里。', 11);
  const first = total ? data.offset + 1 : 0;
  const last = data.offset + data.orders.length;
  document.getElementById('o-summary').textContent = `共 ${fmtInt(total)} 条` + (total ? `，第 ${fmtInt(first)}–${fmtInt(last)} 条` : '');
  document.getElementById('o-page').textContent = `第 ${state.params.page} / ${pages} 页`;
  document.getElementById('o-prev').disabled = state.params.page <= 1;
  document.getElementById('o-next').disabled = state.params.page >= pages;
  document.getElementById('o-pager').hidden = pages <= 1;
}

function schedule() {
  clearTimeout(state.timer);
  if (!document.hidden) state.timer = setTimeout(() => refresh({ quiet: true }), POLL_MS);
}

function setRefreshState(what) {
  document.getElementById('refresh-state').textContent =
    `${what} · ${fmtTime(new Date()).slice(11)} 检查 · 每 ${POLL_MS / 1000} 秒自动刷新`;
}

function showControls() {
  for (const k of FILTERS) boxes[k].value = state.params[k];
}

async function loadAccounts() {
  try {
    const { data } = await api('/api/v1/accounts');
    const ids = ((data && data.accounts) || []).map((a) => a.account_id);
    if (state.params.account && !ids.includes(state.params.account)) ids.push(state.params.account);
    boxes.account.replaceChildren(el('option', { value: '', text: '全部账户' }),
      ...ids.map((id) => el('option', { value: id, text: id })));
  } catch (err) {
    if (err.status !== 401) flash(err.message, true);
  }
}

function go(page) {
  state.params.page = page;
  writeParams();
  state.text = null;
  refresh();
}

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const code = boxes.code.value.trim().toUpperCase();  // codes are stored as 600519.SH
  if (code && !/^[\x21-\x7e]{1,32}$/.test(code)) {
    flash('代码只能是 ASCII 字符（如 600519.SH），最多 32 个。', true);
    boxes.code.focus();
    return;
  }
  state.params.account = boxes.account.value;
  state.params.code = code;
  boxes.code.value = code;
  state.params.status = boxes.status.value;
  state.params.day = boxes.day.value;
  go(1);
});
for (const k of ['account', 'status', 'day']) boxes[k].addEventListener('change', () => form.requestSubmit());
document.getElementById('o-clear').addEventListener('click', () => {
  for (const k of FILTERS) state.params[k] = '';
  showControls();
  go(1);
});
document.getElementById('o-prev').addEventListener('click', () => go(Math.max(1, state.params.page - 1)));
document.getElementById('o-next').addEventListener('click', () => go(state.params.page + 1));
document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh({ quiet: true }); else clearTimeout(state.timer); });

(async () => {
  await loadAccounts();
  showControls();
  await refresh();
})();

// Exposed for the browser tests.
window.jq2qmt = Object.assign(window.jq2qmt || {}, { ordersRefresh: refresh, ordersState: state });
