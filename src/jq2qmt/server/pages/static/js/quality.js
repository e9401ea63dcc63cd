// 跟单质量: one account's tracking deviation, slippage, fill rate and latencies over a
// day range, from GET /api/v1/accounts/{id}/quality. The account, the range and the
// curve grain live in the URL (?account=&from=&to=&grain=), so a reload or a shared
// link shows the same view; the periodic refresh re-reads the same URL and never
// touches the controls. Every name, code and reason is set with textContent; the
// ECharts tooltips escape them (escapeHtml).
import {
  api, el, escapeHtml, fillBody, fmtInt, fmtMoney, fmtPrice, fmtPct, fmtTime, flash, strategyUrl,
} from './app.js';

const POLL_MS = 60000;
const state = { accounts: [], params: readParams(), data: null, text: null, etag: null, timer: null, charts: {} };
const form = document.getElementById('q-filters');
const accountBox = document.getElementById('q-account');
const fromBox = document.getElementById('q-from');
const toBox = document.getElementById('q-to');

// Skip reason codes of the rebalancing engine, in Chinese (unknown codes are shown as they are).
const SKIP_REASONS = {
  suspended: '停牌', no_quote: '无行情', limit_up: '涨停封板', limit_down: '跌停封板',
  below_min_value: '低于最小下单金额', over_max_order_value: '超过单笔上限', not_sellable: '可卖不足',
  below_lot: '不足一手', ignored: '忽略', insufficient_cash: '资金不足', stale_quote: '行情过期',
  settling: '等待结算', max_reprices: '重新定价次数用完', open_order_not_ours: '非本系统的挂单',
};
export const skipReasonText = (code) => (SKIP_REASONS[code] ? `${SKIP_REASONS[code]}（${code}）` : code);

function readParams() {
  const q = new URLSearchParams(location.search);
  const grain = q.get('grain');
  return { account: q.get('account') || '', from: q.get('from') || '', to: q.get('to') || '',
    grain: grain === 'day' || grain === 'round' ? grain : '' };
}

function writeParams() {
  const q = new URLSearchParams();
  for (const key of ['account', 'from', 'to', 'grain']) if (state.params[key]) q.set(key, state.params[key]);
  const url = location.pathname + (q.toString() ? '?' + q : '');
  if (url !== location.pathname + location.search) history.replaceState(null, '', url);
}

function apiUrl(format) {
  const q = new URLSearchParams();
  if (state.params.from) q.set('from', state.params.from);
  if (state.params.to) q.set('to', state.params.to);
  if (format) q.set('format', format);
  return '/api/v1/accounts/' + encodeURIComponent(state.params.account) + '/quality' + (q.toString() ? '?' + q : '');
}

// ---- number formats ---------------------------------------------------------------------
export const fmtYuan = (n) => (n === null || n === undefined ? '—' : '¥' + fmtMoney(n));
export const fmtPctPoints = (x) => (x === null || x === undefined ? '—' : Number(x).toFixed(2) + '%');
export const fmtBps = (x) => (x === null || x === undefined ? '—' : Number(x).toFixed(2) + ' bp');
export function fmtSeconds(s) {
  if (s === null || s === undefined) return '—';
  if (s < 60) return Number(s).toFixed(1) + ' 秒';
  if (s < 3600) return (s / 60).toFixed(1) + ' 分钟';
  return (s / 3600).toFixed(1) + ' 小时';
}
const fmtP = (p) => (p && p.count ? `${fmtSeconds(p.p50)} / ${fmtSeconds(p.p90)}` : '—');

function beijingToday() {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(new Date());
}

// ---- loading ----------------------------------------------------------------------------
async function loadAccounts() {
  const { data } = await api('/api/v1/accounts');
  state.accounts = (data && data.accounts) || [];
  accountBox.replaceChildren(...state.accounts.map((a) => el('option', { value: a.account_id },
    a.name && a.name !== a.account_id ? `${a.account_id} · ${a.name}` : a.account_id)));
  if (!state.accounts.length) {
    accountBox.append(el('option', { value: '', text: '（没有跟单账户）' }));
    showEmpty('还没有跟单账户。用 jq2qmt account add 添加账户，跟单端运行几轮之后这里会出现曲线和统计。');
    return false;
  }
  if (!state.accounts.some((a) => a.account_id === state.params.account)) state.params.account = state.accounts[0].account_id;
  accountBox.value = state.params.account;
  return true;
}

async function refresh({ quiet = false } = {}) {
  clearTimeout(state.timer);
  if (!state.params.account) return;
  try {
    // If-None-Match: an unchanged answer is a 304 without a body and nothing is redrawn
    const resp = await api(apiUrl(), { etag: state.text === null ? null : state.etag });
    const data = resp.notModified ? null : resp.data;
    const text = data === null ? state.text : JSON.stringify(data);
    const changed = text !== state.text;
    state.text = text;
    if (!resp.notModified) state.etag = resp.etag;
    if (changed) {
      state.data = data;
      render(data);
    }
    setRefreshState(changed ? '已更新' : '无变化');
  } catch (err) {
    setRefreshState('刷新失败');
    if (err.status !== 401 && (!quiet || err.status)) flash(errText(err), true);
  }
  schedule();
}

function errText(err) {
  const e = err.body && err.body.error;
  const field = e && e.field ? `（${e.field}）` : '';
  return (err.message || '请求失败').split(' / ')[0] + field;
}

function schedule() {
  clearTimeout(state.timer);
  if (!document.hidden) state.timer = setTimeout(() => refresh({ quiet: true }), POLL_MS);
}

function setRefreshState(what) {
  document.getElementById('refresh-state').textContent =
    `${what} · ${fmtTime(new Date()).slice(11)} 检查 · 每 ${POLL_MS / 1000} 秒自动刷新`;
}

function showEmpty(message) {
  const box = document.getElementById('q-empty');
  box.hidden = !message;
  box.textContent = message || '';
}

// ---- rendering --------------------------------------------------------------------------
function render(q) {
  // the controls show the range the server used (its defaults when the URL has none)
  if (!state.params.from) fromBox.value = q.from;
  if (!state.params.to) toBox.value = q.to;
  document.getElementById('q-csv').href = apiUrl('csv');
  document.getElementById('q-orders').href = '/orders?account=' + encodeURIComponent(q.account_id);
  showEmpty(q.rounds.length ? '' : `账户 ${q.account_id} 在 ${q.from} 至 ${q.to} 之间没有跟单轮次记录。跟单端运行并报告之后这里会出现数据。`);
  renderTiles(q);
  renderCharts(q);
  renderStrategies(q.by_strategy);
  renderReasons(q.execution);
  renderOpen(q.execution.open_at_close);
  renderHoldings(q.holdings);
  renderDays(q.days);
}

function renderTiles(q) {
  const last = q.rounds.length ? q.rounds[q.rounds.length - 1] : null;
  const today = beijingToday();
  document.getElementById('tile-dev-label').textContent =
    !last || last.day === today ? '今日跟踪偏离' : `最近跟踪偏离（${last.day}）`;
  document.getElementById('tile-dev-value').textContent = last ? fmtYuan(last.deviation_value) : '—';
  document.getElementById('tile-dev-pct').textContent = last
    ? `${fmtPctPoints(last.deviation_pct)} · ${fmtTime(last.at || last.received_at).slice(5, 16)} 一轮` : '没有轮次';
  const ex = q.execution;
  document.getElementById('tile-slip-bps').textContent = fmtBps(ex.slippage_bps);
  document.getElementById('tile-slip-cost').textContent = `成本 ${fmtYuan(ex.slippage_cost)} · ${fmtInt(ex.fills)} 笔成交`;
  document.getElementById('tile-fill-rate').textContent = fmtPct(ex.fill_rate);
  document.getElementById('tile-fill-detail').textContent =
    `${fmtInt(ex.filled_volume)} / ${fmtInt(ex.ordered_volume)} 股 · ${fmtInt(ex.orders)} 笔委托`;
  document.getElementById('tile-latency-order').textContent = '首笔委托 ' + fmtP(ex.upload_to_first_order_s);
  document.getElementById('tile-latency-fill').textContent = '最后成交 ' + fmtP(ex.upload_to_last_fill_s) + '（p50 / p90）';
}

function grain(q) {
  if (state.params.grain) return state.params.grain;
  return q.days.length >= 5 ? 'day' : 'round';
}

function chart(id) {
  if (!window.echarts) return null;
  if (!state.charts[id]) state.charts[id] = window.echarts.init(document.getElementById(id), null, { renderer: 'canvas' });
  return state.charts[id];
}

const round4 = (x) => (x === null || x === undefined ? null : Math.round(x * 10000) / 10000);

function roundLabel(r) {
  return fmtTime(r.at || r.received_at).slice(5, 19);  // MM-DD HH:MM:SS
}

function renderCharts(q) {
  const g = grain(q);
  for (const b of document.querySelectorAll('[data-grain]')) b.setAttribute('aria-pressed', String(b.dataset.grain === g));
  const points = g === 'day' ? q.days : q.rounds;
  // a round's label is its exchange time; rounds within one second (a replay) are numbered
  let labels = points.map((p) => (g === 'day' ? p.day : roundLabel(p)));
  if (g === 'round' && new Set(labels).size < labels.length) labels = labels.map((t, i) => `第${i + 1}轮 ${t}`);
  const short = (v) => (g === 'day' ? v.slice(5) : (v.startsWith('第') ? v.split(' ')[0] : v.slice(6, 14)));
  const empty = points.length ? [] : [{ type: 'text', left: 'center', top: 'middle', style: { text: '暂无数据', fill: '#6b7785' } }];
  const axisTip = (fmt) => (items) => {
    const head = escapeHtml(items.length ? items[0].axisValue : '');
    return head + items.map((p) => `<br>${p.marker}${escapeHtml(p.seriesName)}：${escapeHtml(fmt(p))}`).join('');
  };
  const equity = chart('chart-equity');
  if (equity) {
    equity.setOption({
      animation: false,
      tooltip: { trigger: 'axis', formatter: axisTip((p) => (p.value === null || p.value === undefined ? '—' : Number(p.value).toFixed(4))) },
      legend: { top: 0, data: ['策略', '账户'] },
      grid: { left: 8, right: 16, top: 34, bottom: 8, containLabel: true },
      xAxis: { type: 'category', data: labels, boundaryGap: false,
        axisLabel: { formatter: short, hideOverlap: true } },
      yAxis: { type: 'value', scale: true, axisLabel: { formatter: (v) => v.toFixed(3) } },
      series: [
        { name: '策略', type: 'line', data: points.map((p) => round4(p.strategy_norm)), showSymbol: points.length < 40,
          connectNulls: true, lineStyle: { width: 2 }, itemStyle: { color: '#1f6feb' } },
        { name: '账户', type: 'line', data: points.map((p) => round4(p.account_norm)), showSymbol: points.length < 40,
          connectNulls: true, lineStyle: { width: 2 }, itemStyle: { color: '#d1343e' } },
      ],
      graphic: empty,
    }, true);
  }
  const dev = chart('chart-deviation');
  if (dev) {
    const series = [
      { name: g === 'day' ? '收盘偏离 ¥' : '偏离 ¥', type: 'bar', yAxisIndex: 0, barMaxWidth: 18,
        data: points.map((p) => p.deviation_value), itemStyle: { color: '#8aa9d6' } },
      { name: '偏离 %', type: 'line', yAxisIndex: 1, data: points.map((p) => p.deviation_pct),
        showSymbol: points.length < 40, itemStyle: { color: '#d1343e' } },
    ];
    if (g === 'day') {
      series.push({ name: '当日最大偏离 %', type: 'line', yAxisIndex: 1, data: points.map((p) => p.max_deviation_pct),
        showSymbol: points.length < 40, lineStyle: { type: 'dashed' }, itemStyle: { color: '#e0a800' } });
    }
    dev.setOption({
      animation: false,
      tooltip: { trigger: 'axis', formatter: axisTip((p) => (p.value === null || p.value === undefined ? '—'
        : (p.seriesName.includes('%') ? fmtPctPoints(p.value) : fmtYuan(p.value)))) },
      legend: { top: 0, data: series.map((s) => s.name) },
      grid: { left: 8, right: 8, top: 34, bottom: 8, containLabel: true },
      xAxis: { type: 'category', data: labels,
        axisLabel: { formatter: short, hideOverlap: true } },
      yAxis: [
        { type: 'value', axisLabel: { formatter: (v) => (Math.abs(v) >= 1e4 ? (v / 1e4).toFixed(v % 1e4 ? 1 : 0) + '万' : String(v)) } },
        { type: 'value', axisLabel: { formatter: (v) => v + '%' }, splitLine: { show: false } },
      ],
      series,
      graphic: empty,
    }, true);
  }
  document.getElementById('dev-note').textContent =
    g === 'day' ? '每日最后一轮的偏离；虚线为当日最大值' : '每轮的偏离（Σ|目标−持有|×价格）';
}

function renderStrategies(list) {
  const rows = list.map((s) => el('tr', { dataset: { strategy: s.strategy } },
    el('td', {}, el('a', { href: strategyUrl(s.strategy), text: s.strategy })),
    el('td', { class: 'num', text: fmtInt(s.orders) }),
    el('td', { class: 'num', text: fmtPct(s.fill_rate) }),
    el('td', { class: 'num', text: fmtInt(s.fills) }),
    el('td', { class: 'num', text: s.slippage_bps === null ? '—' : Number(s.slippage_bps).toFixed(2) }),
    el('td', { class: 'num', text: fmtMoney(s.slippage_cost) }),
    el('td', { class: 'num', text: fmtP(s.upload_to_first_order_s) }),
    el('td', { class: 'num', text: fmtP(s.upload_to_last_fill_s) }),
    el('td', { class: 'num' + (s.rejects ? ' up' : ''), text: fmtInt(s.rejects) }),
    el('td', { class: 'num', text: fmtInt(s.skipped) })));
  fillBody(document.querySelector('#strategy-table tbody'), rows, '区间内没有委托。', 10);
}

function renderReasons(ex) {
  const rows = [
    ...ex.reject_reasons.map((r) => el('tr', {},
      el('td', {}, el('span', { class: 'badge badge-danger', text: '废单' })),
      el('td', { class: 'wrap', text: r.reason }), el('td', { class: 'num', text: fmtInt(r.count) }))),
    ...ex.skip_reasons.map((r) => el('tr', {},
      el('td', {}, el('span', { class: 'badge', text: '跳过' })),
      el('td', { class: 'wrap', text: skipReasonText(r.reason) }), el('td', { class: 'num', text: fmtInt(r.count) }))),
  ];
  fillBody(document.querySelector('#reject-table tbody'), rows, '没有废单或跳过。', 3);
}

function renderOpen(list) {
  const rows = list.map((o) => el('tr', {},
    el('td', { text: o.day }), el('td', { text: o.code }),
    el('td', { class: o.side === 'buy' ? 'up' : 'down', text: o.side === 'buy' ? '买' : (o.side === 'sell' ? '卖' : (o.side || '—')) }),
    el('td', { class: 'num', text: `${fmtInt(o.volume)} / ${fmtInt(o.traded_volume)}` }),
    el('td', { class: 'num', text: fmtPrice(o.price) }),
    el('td', { text: o.status_text || (o.traded_volume ? '部成' : '已报') })));
  fillBody(document.querySelector('#open-table tbody'), rows, '没有收盘仍未完成的委托。', 6);
}

// price times are ISO from the server or the broker's own text ("20261125 10:00:00")
function priceTime(value) {
  if (!value) return '—';
  return /^\d{4}-\d\d-\d\dT/.test(value) ? fmtTime(value) : String(value);
}

function renderHoldings(h) {
  const note = document.getElementById('holdings-note');
  note.textContent = h ? `最近一轮 ${fmtTime(h.at || h.received_at)} · 总资产 ${fmtYuan(h.total_asset)} · 现金 ${fmtYuan(h.cash)}` : '';
  const rows = (h ? h.positions : []).map((p) => el('tr', {},
    el('td', { text: p.code }),
    el('td', { class: 'num', text: fmtInt(p.volume) }),
    el('td', { class: 'num' + (p.target !== null && p.target !== p.volume ? ' up' : ''), text: fmtInt(p.target) }),
    el('td', { class: 'num', text: fmtPrice(p.price) }),
    el('td', { text: priceTime(p.price_time) }),
    el('td', { class: 'num', text: fmtMoney(p.market_value) }),
    el('td', { class: 'num', text: fmtMoney(p.cost) }),
    el('td', { class: 'num ' + (p.unrealised_pnl > 0 ? 'up' : (p.unrealised_pnl < 0 ? 'down' : '')), text: fmtMoney(p.unrealised_pnl) })));
  fillBody(document.querySelector('#holdings-table tbody'), rows, '没有持仓。', 8);
}

function renderDays(days) {
  const rows = days.slice().reverse().map((d) => el('tr', {},
    el('td', { text: d.day }),
    el('td', { class: 'num', text: fmtInt(d.rounds) }),
    el('td', { class: 'num', text: fmtMoney(d.total_asset) }),
    el('td', { class: 'num', text: fmtMoney(d.deviation_value) }),
    el('td', { class: 'num', text: fmtPctPoints(d.deviation_pct) }),
    el('td', { class: 'num', text: fmtPctPoints(d.max_deviation_pct) }),
    el('td', { class: 'num', text: fmtInt(d.orders) }),
    el('td', { class: 'num', text: fmtPct(d.fill_rate) }),
    el('td', { class: 'num', text: d.slippage_bps === null ? '—' : Number(d.slippage_bps).toFixed(2) }),
    el('td', { class: 'num', text: fmtMoney(d.slippage_cost) }),
    el('td', { class: 'num' + (d.rejects ? ' up' : ''), text: fmtInt(d.rejects) }),
    el('td', { class: 'num', text: fmtInt(d.skipped) }),
    el('td', { class: 'num' + (d.open_at_close ? ' up' : ''), text: fmtInt(d.open_at_close) })));
  fillBody(document.querySelector('#days-table tbody'), rows, '区间内没有记录。', 13);
}

// ---- events -----------------------------------------------------------------------------
form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  if (fromBox.value && toBox.value && fromBox.value > toBox.value) {
    flash('开始日期不能晚于结束日期。', true);
    fromBox.focus();
    return;
  }
  state.params.account = accountBox.value;
  state.params.from = fromBox.value;
  state.params.to = toBox.value;
  writeParams();
  state.text = null;
  refresh();
});
accountBox.addEventListener('change', () => form.requestSubmit());
for (const b of document.querySelectorAll('[data-grain]')) {
  b.addEventListener('click', () => {
    state.params.grain = b.dataset.grain;
    writeParams();
    if (state.data) renderCharts(state.data);
  });
}
document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh({ quiet: true }); else clearTimeout(state.timer); });
window.addEventListener('resize', () => {
  Object.values(state.charts).forEach((c) => c.resize());
  if (state.data) renderCharts(state.data);
});

(async () => {
  try {
    if (state.params.from) fromBox.value = state.params.from;
    if (state.params.to) toBox.value = state.params.to;
    if (await loadAccounts()) {
      writeParams();
      await refresh();
    }
  } catch (err) {
    if (err.status !== 401) flash(err.message, true);
  }
})();

// Exposed for the browser tests.
window.jq2qmt = Object.assign(window.jq2qmt || {}, { qualityRefresh: refresh, qualityState: state });
