// 跟单: every follower account — settings, heartbeat (silent followers stand out), last
// account snapshot vs target, recent rounds with orders and rejections, plans held for
// confirmation (approve / reject), pause/resume and dry-run switches.
import {
  api, el, fillBody, fmtInt, fmtPrice, fmtMoney, fmtTime, fmtAge, fmtPct, fmtSigned, flash, parseTime,
} from './app.js';

const box = document.getElementById('accounts');
const REFRESH_MS = 15000;
const SILENT_AFTER_S = 120;
const state = { timer: null, open: new Set() };

// The silent rule: during trading hours (weekdays 09:15–15:05 Beijing) a follower that
// sent neither a heartbeat nor a report for 2 minutes is 失联; outside them it is only 离线.
export function followerStatus(lastSeen, now = new Date()) {
  const seen = parseTime(lastSeen);
  if (!seen) return { key: 'never', label: '从未连接', cls: 'badge-danger' };
  const age = (now - seen) / 1000;
  if (age <= SILENT_AFTER_S) return { key: 'online', label: '在线', cls: 'badge-ok' };
  return inTradingHours(now) ? { key: 'silent', label: '失联', cls: 'badge-danger' } : { key: 'offline', label: '离线', cls: '' };
}

export function inTradingHours(now = new Date()) {
  const b = new Date(now.getTime() + 8 * 3600 * 1000);
  const wd = b.getUTCDay();
  const minutes = b.getUTCHours() * 60 + b.getUTCMinutes();
  return wd >= 1 && wd <= 5 && minutes >= 9 * 60 + 15 && minutes <= 15 * 60 + 5;
}

const base = (id) => '/api/v1/accounts/' + encodeURIComponent(id);

function normalizeAccount(a) {
  const follow = a.follow || {};
  let strategies = follow.strategies || a.strategies || {};
  if (Array.isArray(strategies)) {
    strategies = Object.fromEntries(strategies.map((s) => [s.strategy || s.name, s]));
  }
  return {
    id: a.account_id || a.id,
    name: a.name || '',
    mode: follow.mode || a.mode || 'ratio',
    strategies,
    paused: Boolean(a.paused),
    dryRun: Boolean(a.dry_run),
    settings: a.settings || {},
    lastSeen: a.last_seen || a.last_heartbeat || a.last_seen_at || null,
    follower: a.follower || null,
    held: a.held || a.pending_approval || null,
    approvedVersion: a.approved_version || null,
  };
}

async function load() {
  clearTimeout(state.timer);
  try {
    const { data } = await api('/api/v1/accounts');
    const accounts = (data.accounts || data.items || data || []).map(normalizeAccount);
    const details = await Promise.all(accounts.map(loadDetails));
    render(accounts, details);
    document.getElementById('accounts-state').textContent = `${fmtTime(new Date()).slice(11)} 更新 · 每 ${REFRESH_MS / 1000} 秒自动刷新`;
  } catch (err) {
    if (err.status === 404) showMissing('服务器还没有账户接口（GET /api/v1/accounts），无法显示跟单账户。');
    else if (err.status !== 401) flash(err.message, true);
  }
  if (!document.hidden) state.timer = setTimeout(load, REFRESH_MS);
}

async function loadDetails(account) {
  const [reports, plan] = await Promise.all([
    api(base(account.id) + '/reports?limit=10').then((r) => r.data.reports || r.data.items || r.data || []).catch(() => null),
    api(base(account.id) + '/plan').then((r) => r.data).catch(() => null),
  ]);
  return { reports, plan };
}

function showMissing(text) {
  const warn = document.getElementById('accounts-missing');
  warn.textContent = text;
  warn.hidden = false;
  box.replaceChildren();
}

function render(accounts, details) {
  if (!accounts.length) {
    box.replaceChildren(el('div', { class: 'card' }, el('p', { class: 'empty' },
      '还没有跟单账户。在服务器上运行 ', el('code', { text: 'jq2qmt account add 账户ID --name 名称' }), ' 添加。')));
    return;
  }
  box.replaceChildren(...accounts.map((a, i) => accountCard(a, details[i])));
}

function accountCard(a, detail) {
  const status = followerStatus(a.lastSeen);
  const reports = detail.reports || [];
  const lastRound = reports.find((r) => (r.kind || 'round') === 'round');
  const held = a.held || (lastRound && lastRound.status === 'held' ? { plan_version: lastRound.plan_version, held_reason: lastRound.held_reason } : null);
  const card = el('article', { class: 'account' + (status.key === 'silent' || status.key === 'never' ? ' silent' : ''), dataset: { account: a.id } },
    el('header', { class: 'account-head' },
      el('h2', { text: a.name || a.id }), el('span', { class: 'muted small', text: a.id }),
      el('span', { class: 'badge ' + status.cls, text: status.label, title: '最近心跳 ' + fmtTime(a.lastSeen) }),
      a.paused ? el('span', { class: 'badge badge-warn', text: '已暂停' }) : el('span', { class: 'badge badge-ok', text: '跟单中' }),
      a.dryRun ? el('span', { class: 'badge badge-info', text: '模拟运行（不下单）' }) : null,
      el('div', { class: 'switches' },
        el('button', { class: 'btn ' + (a.paused ? 'btn-primary' : 'btn-danger'), type: 'button', dataset: { action: a.paused ? 'resume' : 'pause' },
          text: a.paused ? '恢复跟单' : '暂停跟单', onclick: () => setPaused(a, !a.paused) }),
        el('label', { class: 'switch' }, el('input', { type: 'checkbox', class: 'dry-run', checked: a.dryRun,
          onchange: (ev) => setDryRun(a, ev.target.checked, ev.target) }), '模拟运行'))),
    el('div', { class: 'account-body' },
      held ? el('section', { class: 'wide held' }, heldBlock(a, held)) : null,
      el('section', {}, el('h3', { text: '跟单设置' }), settingsList(a)),
      el('section', {}, el('h3', { text: '跟单端' }), followerList(a, status, lastRound)),
      el('section', { class: 'wide' }, el('h3', { text: '账户持仓 vs 目标' }), compareTable(a, lastRound, detail.plan)),
      el('section', { class: 'wide' }, el('h3', { text: '最近轮次' }), roundsTable(reports, detail.reports === null))));
  return card;
}

function heldBlock(a, held) {
  return [
    el('strong', { text: '有计划等待确认' }),
    el('p', { class: 'small' }, held.held_reason || held.reason || '超出限额，需要确认后才会下单。',
      el('br'), el('span', { class: 'muted', text: `计划版本 ${held.plan_version || '—'}` })),
    el('div', { class: 'toolbar' },
      el('button', { class: 'btn btn-primary', type: 'button', text: '批准执行', dataset: { action: 'approve' },
        onclick: () => approve(a, held.plan_version) }),
      el('button', { class: 'btn btn-danger', type: 'button', text: '拒绝并暂停', dataset: { action: 'reject' },
        onclick: () => reject(a) })),
  ];
}

function kv(pairs) {
  return el('dl', { class: 'kv' }, ...pairs.filter(Boolean).flatMap(([k, v]) => [el('dt', { text: k }), el('dd', {}, v)]));
}

function settingsList(a) {
  const s = a.settings;
  const follows = Object.entries(a.strategies).map(([name, f]) => {
    const how = f.ratio !== undefined && f.ratio !== null ? `× ${f.ratio}` : (f.capital ? `资金 ${fmtMoney(f.capital)}` : '');
    return el('div', {}, name, ' ', el('span', { class: 'muted', text: how }));
  });
  return kv([
    ['方式', a.mode === 'weight' ? '按权重（资金）' : '按数量比例'],
    ['策略', follows.length ? follows : el('span', { class: 'muted', text: '未跟随任何策略' })],
    ['忽略', (s.ignore || []).length ? (s.ignore || []).join('、') : '—'],
    ['单笔上限', s.max_order_value ? fmtMoney(s.max_order_value) : '不限'],
    ['换手上限', s.max_turnover ? fmtPct(s.max_turnover) : '不限'],
    ['最小金额', s.min_order_value ? fmtMoney(s.min_order_value) : '—'],
    s.slice_value ? ['拆单', fmtMoney(s.slice_value)] : null,
  ]);
}

function followerList(a, status, lastRound) {
  const f = a.follower || (lastRound && lastRound.follower) || {};
  const kinds = { builtin: 'QMT 内置', miniqmt: 'miniQMT', paper: '模拟券商' };
  return kv([
    ['最近心跳', el('span', {}, fmtTime(a.lastSeen), ' ', el('span', { class: 'muted', text: a.lastSeen ? `（${fmtAge(a.lastSeen)}）` : '' }))],
    ['状态', el('span', { class: 'badge ' + status.cls, text: status.label })],
    ['类型', f.kind ? (kinds[f.kind] || f.kind) + (f.version ? ' ' + f.version : '') : '—'],
    ['最近一轮', lastRound ? `${fmtTime(lastRound.created_at || lastRound.time || lastRound.received_at)} · ${statusLabel(lastRound.status)}` : '—'],
  ]);
}

const STATUS = {
  ok: ['完成', 'badge-ok'], held: ['待确认', 'badge-warn'], dry_run: ['模拟运行', 'badge-info'],
  paused: ['已暂停', 'badge-warn'], outside_session: ['非交易时段', ''], error: ['出错', 'badge-danger'], idle: ['无需调仓', ''],
};
const statusLabel = (s) => (STATUS[s] || [s || '—'])[0];
const statusBadge = (s) => el('span', { class: 'badge ' + ((STATUS[s] || [])[1] || ''), text: statusLabel(s) });

// Target per code for this account: the plan's strategies scaled by its follow settings
// (ratio mode; in weight mode the follower scales by capital, shown unscaled here).
function targetOf(a, plan) {
  const target = {};
  if (!plan || !Array.isArray(plan.targets)) return null;
  const follow = (plan.follow && plan.follow.strategies) || a.strategies;
  for (const t of plan.targets) {
    const f = follow[t.strategy] || {};
    const ratio = (plan.follow && plan.follow.mode === 'weight') || f.ratio === undefined ? 1 : Number(f.ratio);
    for (const p of t.positions || []) target[p.code] = (target[p.code] || 0) + p.volume * ratio;
  }
  return target;
}

function compareTable(a, lastRound, plan) {
  const held = {};
  const account = lastRound && lastRound.account;
  for (const p of (account && account.positions) || []) held[p.code] = p;
  const target = targetOf(a, plan) || {};
  const codes = [...new Set([...Object.keys(held), ...Object.keys(target)])].sort();
  const rows = codes.map((code) => {
    const t = target[code];
    const h = held[code] ? held[code].volume : 0;
    const diff = t === undefined ? null : Math.round(t) - h;
    return el('tr', { dataset: { code } },
      el('td', { text: code }),
      el('td', { class: 'num', text: t === undefined ? '—' : fmtInt(Math.round(t)) }),
      el('td', { class: 'num', text: fmtInt(h) }),
      el('td', { class: 'num', text: held[code] ? fmtInt(held[code].can_use_volume) : '—' }),
      el('td', { class: 'num ' + (diff > 0 ? 'up' : diff < 0 ? 'down' : ''), text: diff === null ? '忽略/不在目标' : (diff ? fmtSigned(diff) : '0') }));
  });
  const tbody = el('tbody');
  fillBody(tbody, rows, account ? '账户空仓且目标为空。' : '跟单端还没有报告过账户持仓。', 5);
  const note = account ? el('p', { class: 'muted small' },
    `账户快照 ${fmtTime(lastRound.created_at || lastRound.time)} · 现金 ${fmtMoney(account.cash)} · 总资产 ${fmtMoney(account.total_asset)}`,
    plan ? '' : ' · 目标不可读') : null;
  return [note, el('div', { class: 'table-wrap' }, el('table', { class: 'table compare' },
    el('thead', {}, el('tr', {}, el('th', { text: '代码' }), el('th', { class: 'num', text: '目标' }),
      el('th', { class: 'num', text: '持有' }), el('th', { class: 'num', text: '可用' }), el('th', { class: 'num', text: '差额' }))),
    tbody))];
}

function roundsTable(reports, unavailable) {
  const rounds = reports.filter((r) => (r.kind || 'round') === 'round');
  const rows = rounds.map((r) => {
    const placed = r.placed || [];
    const rejected = r.rejected || [];
    const errors = r.errors || [];
    return el('tr', { dataset: { round: r.round_id || '' } },
      el('td', { text: fmtTime(r.created_at || r.time || r.received_at) }),
      el('td', {}, statusBadge(r.status)),
      el('td', {}, orderList(placed, (o) => `${o.side === 'buy' ? '买' : '卖'} ${o.code} ${fmtInt(o.volume)} @ ${fmtPrice(o.price)}`)),
      el('td', {}, orderList(rejected, (o) => `${o.side === 'buy' ? '买' : '卖'} ${o.code} ${fmtInt(o.volume)}：${o.reason || ''}`, 'up')),
      el('td', {}, errors.length ? el('span', { class: 'up', text: errors.join('；') }) : (r.held_reason || '')));
  });
  const tbody = el('tbody');
  fillBody(tbody, rows, unavailable ? '无法读取报告。' : '还没有报告。', 5);
  return el('div', { class: 'table-wrap' }, el('table', { class: 'table rounds' },
    el('thead', {}, el('tr', {}, el('th', { text: '时间' }), el('th', { text: '结果' }), el('th', { text: '下单' }),
      el('th', { text: '被拒' }), el('th', { text: '错误/说明' }))),
    tbody));
}

function orderList(list, fmt, cls = '') {
  if (!list.length) return el('span', { class: 'muted', text: '—' });
  return el('div', { class: 'orders ' + cls }, ...list.slice(0, 6).map((o) => el('div', { text: fmt(o) })),
    list.length > 6 ? el('div', { class: 'muted', text: `…共 ${list.length} 笔` }) : null);
}

async function act(promise, message) {
  try {
    await promise;
    flash(message);
  } catch (err) {
    if (err.status !== 401) flash(err.message, true);
  }
  await load();
}

function setPaused(a, paused) {
  if (paused && !confirm(`暂停 ${a.name || a.id} 的跟单？暂停后跟单端不再下单。`)) return;
  return act(api(base(a.id) + (paused ? '/pause' : '/resume'), { method: 'POST', body: {} }),
    paused ? `已暂停 ${a.name || a.id}` : `已恢复 ${a.name || a.id}`);
}

function setDryRun(a, on, box) {
  box.disabled = true;
  return act(api(base(a.id), { method: 'PATCH', body: { dry_run: on } }),
    on ? `${a.name || a.id} 改为模拟运行（不下单）` : `${a.name || a.id} 恢复真实下单`);
}

function approve(a, planVersion) {
  if (!confirm('批准这个计划？跟单端下一轮会执行一次。')) return;
  return act(api(base(a.id) + '/approve', { method: 'POST', body: { plan_version: planVersion } }), '已批准');
}

function reject(a) {
  if (!confirm('拒绝这个计划并暂停跟单？')) return;
  return act(api(base(a.id) + '/pause', { method: 'POST', body: {} }), '已拒绝并暂停');
}

document.addEventListener('visibilitychange', () => { if (!document.hidden) load(); else clearTimeout(state.timer); });
load();
window.jq2qmt = Object.assign(window.jq2qmt || {}, { followerStatus, inTradingHours, reload: load });
