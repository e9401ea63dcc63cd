// 总览: merged target, every strategy's snapshot, allocation charts, stale highlight.
// Refreshes itself with If-None-Match on the total's ETag: while nothing changes each
// poll is a 304 without a body, and the page re-renders only on a real change.
import {
  api, el, escapeHtml, fillBody, fmtInt, fmtPrice, fmtMoney, fmtPct, fmtWan, fmtTime, fmtAge, isStale,
  isAdjustment, strategyList, normalizePosition, strategyUrl, flash, parseTime, tradingDaysBetween,
} from './app.js';

const POLL_MS = 15000;
const state = { etag: null, checkedAt: null, timer: null, charts: {} };
const includeBox = document.getElementById('include-adjustments');

function totalUrl() {
  return '/api/v1/positions/total?include_adjustments=' + (includeBox.checked ? 'true' : 'false');
}

async function refresh(force = false) {
  clearTimeout(state.timer);
  try {
    const prices = await api('/api/v1/prices', { etag: force ? null : state.pricesEtag });
    if (!prices.notModified) {
      state.pricesEtag = prices.etag;
      state.prices = (prices.data && prices.data.prices) || {};
    }
    const total = await api(totalUrl(), { etag: force ? null : state.etag });
    state.checkedAt = new Date();
    if (!total.notModified) {
      const all = await api('/api/v1/positions/all');
      state.etag = total.etag;
      state.strategies = strategyList(all.data);
      render(total.data, state.strategies);
    } else if (state.strategies) {
      refreshAges(state.strategies);  // nothing changed: only the ages move on with the clock
      if (!prices.notModified) applyPrices();  // new prices: the value cells change in place
    }
    setRefreshState(total.notModified ? '无变化' : '已更新');
  } catch (err) {
    setRefreshState('刷新失败');
    if (err.status !== 401) flash(err.message, true);
  }
  schedule();
}

function schedule() {
  clearTimeout(state.timer);
  if (!document.hidden) state.timer = setTimeout(() => refresh(), POLL_MS);
}

function setRefreshState(what) {
  const t = state.checkedAt ? fmtTime(state.checkedAt).slice(11) : '';
  document.getElementById('refresh-state').textContent = `${what} · ${t} 检查 · 每 ${POLL_MS / 1000} 秒自动刷新`;
}

function totalPositions(data) {
  const list = (data && (data.positions || data.items)) || (Array.isArray(data) ? data : []);
  return list.map(normalizePosition).map((p) => Object.assign(p, { value: p.volume * p.cost }));
}

// With 含调整 unticked the tiles and charts count only the JoinQuant strategies, as the
// merged table does; the strategy list below still shows every strategy.
const counted = (strategies) => (includeBox.checked ? strategies : strategies.filter((s) => !isAdjustment(s.name)));

function render(totalData, strategies) {
  const positions = totalPositions(totalData);
  const gross = positions.reduce((s, p) => s + Math.max(p.value, 0), 0);
  renderTiles(positions, counted(strategies), totalData, gross);
  renderTotal(positions, gross);
  renderStrategies(strategies);
  lastRender = [positions, counted(strategies), gross];
  renderCharts(positions, counted(strategies), gross);
  applyPrices();
}

// Market value and unrealised P&L at the newest price a follower traded on (its time in
// the tooltip); codes no follower has priced yet show —.
const qmtCode = (code) => String(code).replace(/\.XSHG$/, '.SH').replace(/\.XSHE$/, '.SZ');

function applyPrices() {
  const prices = state.prices || {};
  let value = 0, pnl = 0, priced = 0, unpriced = 0, latest = null;
  for (const row of document.querySelectorAll('#total-table tbody tr[data-code]')) {
    const quote = prices[qmtCode(row.dataset.code)];
    const volume = Number(row.dataset.volume), cost = Number(row.dataset.cost);
    const cells = [row.querySelector('td.price'), row.querySelector('td.mv'), row.querySelector('td.pnl')];
    if (!quote || !(volume > 0)) {
      cells.forEach((c) => { if (c) { c.textContent = '—'; c.title = volume > 0 ? '跟单端还没有报告这只证券的价格' : ''; } });
      if (volume > 0) unpriced += 1;
      continue;
    }
    const mv = volume * quote.price, gain = (quote.price - cost) * volume;
    value += mv; pnl += gain; priced += 1;
    if (!latest || String(quote.time) > String(latest)) latest = quote.time;
    cells[0].textContent = fmtPrice(quote.price);
    cells[1].textContent = fmtMoney(mv);
    cells[2].textContent = (gain > 0 ? '+' : '') + fmtMoney(gain);
    cells[2].className = 'num pnl hide-phone ' + (gain > 0 ? 'up' : gain < 0 ? 'down' : '');
    cells.forEach((c) => { c.title = `价格时间 ${fmtTime(quote.time)}`; });
  }
  document.getElementById('tile-mv').textContent = priced ? `${fmtWan(value)} · ${pnl >= 0 ? '+' : ''}${fmtWan(pnl)}` : '—';
  document.getElementById('tile-mv-note').textContent = priced
    ? `价格截至 ${fmtTime(latest)}${unpriced ? `，${unpriced} 只未定价` : ''}`
    : '跟单端还没有报告价格';
}

// A 304 poll: the page is not redrawn (an open strategy, a text selection and the
// scroll position stay); the age texts are updated in place, and the list is rebuilt
// only when a strategy crossed the stale rule since the last draw.
function refreshAges(strategies) {
  const now = new Date();
  const box = document.getElementById('strategy-list');
  const staleNow = strategies.filter((s) => isStale(s.name, s.update_time, now)).map((s) => s.name).join('\n');
  if (staleNow !== state.staleKey) { renderStrategies(strategies); return; }
  const nodes = new Map([...box.querySelectorAll('details.strategy')].map((d) => [d.dataset.strategy, d]));
  for (const s of strategies) {
    const node = nodes.get(s.name);
    const age = node && node.querySelector('.strategy-age');
    const text = `更新 ${fmtTime(s.update_time)}（${fmtAge(s.update_time, now)}）`;
    if (age && age.textContent !== text) age.textContent = text;
  }
}

function renderTiles(positions, strategies, totalData, gross) {
  document.getElementById('tile-strategies').textContent = String(strategies.length);
  document.getElementById('tile-codes').textContent = String(positions.length);
  document.getElementById('tile-value').textContent = fmtWan(gross);
  const times = strategies.map((s) => parseTime(s.update_time)).filter(Boolean);
  const latest = (totalData && totalData.update_time) || (times.length ? new Date(Math.max(...times)) : null);
  document.getElementById('tile-updated').textContent = latest ? fmtTime(latest) : '—';
}

function renderTotal(positions, gross) {
  const rows = positions
    .slice()
    .sort((a, b) => b.value - a.value)
    .map((p) => el('tr', { dataset: { code: p.code, volume: String(p.volume), cost: String(p.cost) } },
      el('td', { text: p.code }),
      el('td', { text: p.name || '' }),
      el('td', { class: 'num' + (p.volume < 0 ? ' down' : '') }, fmtInt(p.volume),
        p.volume < 0 ? el('span', { class: 'badge badge-warn negative-target', text: '按 0 处理（清仓）' }) : null),
      el('td', { class: 'num', text: fmtPrice(p.cost) }),
      el('td', { class: 'num', text: fmtMoney(p.value) }),
      el('td', { class: 'num', text: gross > 0 && p.value >= 0 ? fmtPct(p.value / gross) : '—',
        title: p.volume < 0 ? '合并目标为负：跟单端按 0 处理（卖出全部持仓，不卖空）' : null }),
      el('td', { class: 'num price hide-phone', text: '—' }),
      el('td', { class: 'num mv hide-phone', text: '—' }),
      el('td', { class: 'num pnl hide-phone', text: '—' })));
  fillBody(document.querySelector('#total-table tbody'), rows, '还没有任何策略上传持仓。', 9);
  document.getElementById('total-note').textContent = includeBox.checked ? '已计入调整策略' : '未计入调整策略';
}

function strategyValue(s) {
  return s.positions.reduce((sum, p) => sum + p.volume * p.cost, 0);
}

function renderStrategies(strategies) {
  const box = document.getElementById('strategy-list');
  const open = new Set([...box.querySelectorAll('details[open]')].map((d) => d.dataset.strategy));
  const now = new Date();
  const stale = [];
  const items = strategies.map((s) => {
    const isOld = isStale(s.name, s.update_time, now);
    if (isOld) stale.push(s.name);
    const updated = parseTime(s.update_time);
    const badges = [
      isAdjustment(s.name) ? el('span', { class: 'badge badge-info', text: '调整' }) : null,
      isOld ? el('span', { class: 'badge badge-warn', text: updated ? `过期 · ${tradingDaysBetween(updated, now)} 个交易日未更新` : '从未更新' }) : null,
    ];
    return el('details', { class: 'strategy' + (isOld ? ' stale' : ''), dataset: { strategy: s.name }, open: open.has(s.name) },
      el('summary', {},
        el('span', { class: 'strategy-name', text: s.name }), ...badges,
        el('span', { class: 'strategy-meta' },
          el('span', { text: `版本 ${s.version ?? '—'}` }),
          el('span', { class: 'strategy-age', text: `更新 ${fmtTime(s.update_time)}（${fmtAge(s.update_time, now)}）` }),
          el('span', { text: `${s.positions.length} 只` }),
          el('span', { text: `成本市值 ${fmtWan(strategyValue(s))}` })),
        el('span', { class: 'strategy-links' },
          el('a', { href: strategyUrl(s.name), text: '历史' }),
          el('a', { href: '/adjustment?strategy=' + encodeURIComponent(s.name), text: isAdjustment(s.name) ? '编辑' : '修正' }))),
      el('div', { class: 'strategy-body table-wrap' }, positionsTable(s.positions)));
  });
  state.staleKey = stale.join('\n');
  box.replaceChildren(...(items.length ? items : [el('p', { class: 'empty', text: '还没有策略。聚宽策略上传第一次持仓后会出现在这里。' })]));
  const banner = document.getElementById('stale-banner');
  banner.hidden = !stale.length;
  banner.textContent = stale.length ? `${stale.length} 个策略超过 1 个交易日未更新：${stale.join('、')}。请检查聚宽模拟交易是否仍在运行。` : '';
}

function positionsTable(positions) {
  const rows = positions.map((p) => el('tr', {},
    el('td', { text: p.code }), el('td', { text: p.name }),
    el('td', { class: 'num' + (p.volume < 0 ? ' down' : ''), text: fmtInt(p.volume) }),
    el('td', { class: 'num', text: fmtPrice(p.cost) }),
    el('td', { class: 'num', text: fmtMoney(p.volume * p.cost) })));
  const tbody = el('tbody');
  fillBody(tbody, rows, '空仓', 5);
  return el('table', { class: 'table' },
    el('thead', {}, el('tr', {}, el('th', { text: '代码' }), el('th', { text: '名称' }),
      el('th', { class: 'num', text: '数量' }), el('th', { class: 'num', text: '成本' }),
      el('th', { class: 'num', text: '成本市值' }))),
    tbody);
}

function chart(id) {
  if (!window.echarts) return null;
  if (!state.charts[id]) state.charts[id] = window.echarts.init(document.getElementById(id), null, { renderer: 'canvas' });
  return state.charts[id];
}

function renderCharts(positions, strategies, gross) {
  const byCode = positions.filter((p) => p.value > 0).sort((a, b) => b.value - a.value);
  const top = byCode.slice(0, 10).map((p) => ({ name: p.name ? `${p.name} ${p.code}` : p.code, value: round2(p.value) }));
  const rest = byCode.slice(10).reduce((s, p) => s + p.value, 0);
  // 其他 is grey, never one of the ten slice colours (which then never repeat)
  if (rest > 0) top.push({ name: '其他', value: round2(rest), itemStyle: { color: '#b8c2cc' } });
  const codes = chart('chart-codes');
  if (codes) {
    // Narrow screens: a legend below instead of labels around the ring (they would be cut).
    const narrow = codes.getWidth() < 520;
    codes.setOption({
      animation: false,
      color: PIE_COLORS,
      tooltip: { trigger: 'item', formatter: (p) => `${escapeHtml(p.name)}<br>${fmtMoney(p.value)}（${p.percent}%）` },
      legend: narrow ? { bottom: 0, left: 'center', width: '92%', itemGap: 8, itemWidth: 12, itemHeight: 10,
        textStyle: { fontSize: 11 }, formatter: (n) => n.split(' ')[0] } : { show: false },
      series: [{ type: 'pie', radius: narrow ? ['32%', '58%'] : ['38%', '68%'], center: ['50%', narrow ? '40%' : '52%'], data: top,
        label: narrow ? { position: 'inside', formatter: (p) => (p.percent >= 6 ? p.percent.toFixed(0) + '%' : ''), color: '#fff', fontSize: 11 }
          : { formatter: (p) => `${p.name}\n${p.percent}%`, fontSize: 11 },
        minShowLabelAngle: 6, avoidLabelOverlap: true }],
      graphic: top.length ? [] : [{ type: 'text', left: 'center', top: 'middle', style: { text: '暂无持仓', fill: '#6b7785' } }],
    }, true);
  }
  const byStrategy = strategies.map((s) => ({ name: s.name, value: round2(strategyValue(s)) }))
    .sort((a, b) => a.value - b.value);
  const strat = chart('chart-strategies');
  if (strat) {
    // Many strategies: the largest BAR_WINDOW bars are shown and the rest scroll
    // (mouse wheel, drag or the slider on the right) instead of squeezing every bar.
    const n = byStrategy.length;
    const scroll = n > BAR_WINDOW;
    const narrowBar = strat.getWidth() < 520;
    strat.setOption({
      animation: false,
      tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' },
        formatter: (items) => items.map((p) => `${escapeHtml(p.name)}<br>${p.marker}${fmtMoney(p.value)}`).join('<br>') },
      grid: { left: 8, right: scroll ? 40 : 24, top: 10, bottom: 10, containLabel: true },
      dataZoom: scroll ? [
        { type: 'inside', yAxisIndex: 0, startValue: n - BAR_WINDOW, endValue: n - 1, zoomOnMouseWheel: false,
          moveOnMouseWheel: true, moveOnMouseMove: true },
        { type: 'slider', yAxisIndex: 0, right: 6, width: 16, startValue: n - BAR_WINDOW, endValue: n - 1,
          showDetail: false, brushSelect: false, zoomLock: true }] : [],
      xAxis: { type: 'value', splitNumber: narrowBar ? 3 : 5, axisLabel: { formatter: (v) => fmtWan(v).replace('.00', '') } },
      yAxis: { type: 'category', data: byStrategy.map((d) => d.name),
        axisLabel: { width: strat && strat.getWidth() < 520 ? 90 : 150, overflow: 'truncate' } },
      series: [{ type: 'bar', data: byStrategy.map((d) => ({ value: d.value,
        itemStyle: { color: d.value < 0 ? '#188a42' : (isAdjustment(d.name) ? '#8aa9d6' : '#1f6feb') } })),
      barMaxWidth: 26 }],
    }, true);
  }
}

const round2 = (x) => Math.round(x * 100) / 100;
const BAR_WINDOW = 15;
const PIE_COLORS = ['#1f6feb', '#f08a24', '#2aa876', '#d1343e', '#8e5bd6', '#13a8b8', '#c9a400', '#e05fa5', '#5b7083', '#7fb800'];

includeBox.addEventListener('change', () => refresh(true));
document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh(); else clearTimeout(state.timer); });
let lastRender = null;
window.addEventListener('resize', () => {
  Object.values(state.charts).forEach((c) => c.resize());
  if (lastRender) renderCharts(...lastRender);  // switch between the wide and narrow layouts
});
refresh(true);

// Exposed for the browser tests, which check the stale rule on the page's own code.
window.jq2qmt = Object.assign(window.jq2qmt || {}, { isStale, tradingDaysBetween, refresh });
