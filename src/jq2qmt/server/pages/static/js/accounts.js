// 跟单: every follower account — settings, heartbeat (silent followers stand out), last
// account snapshot vs target, recent rounds with orders and rejections, plans held for
// confirmation (approve / reject), pause/resume and dry-run switches. A new account is in
// preflight (its follower only looks and reports): its card shows what the follower saw
// and the button that confirms the account. Data is only ever set as text, never as HTML.
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
    approval: a.approval || null,
    confirmed: a.confirmed !== false,
    preflight: a.preflight || null,
    ignoredCodes: Array.isArray(a.ignored_codes) ? a.ignored_codes : [],
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
  if (!document.hidden && !(dialog && dialog.open)) state.timer = setTimeout(load, REFRESH_MS);
}

// Detail (scaled merged target, followed strategies, last round with the account
// snapshot) and the recent rounds of one account.
async function loadDetails(account) {
  const [detail, reports] = await Promise.all([
    api(base(account.id)).then((r) => r.data).catch(() => null),
    api(base(account.id) + '/reports?limit=8&kind=round').then((r) => r.data.reports || []).catch(() => null),
  ]);
  return { detail, reports };
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
      '还没有跟单账户。点右上角「＋ 新增账户」添加（或在服务器上运行 ', el('code', { text: 'jq2qmt account add 账户ID --name 名称' }), '）。')));
    return;
  }
  box.replaceChildren(...accounts.map((a, i) => accountCard(a, details[i])));
}

function accountCard(a, info) {
  const status = followerStatus(a.lastSeen);
  const reports = info.reports || [];
  const detail = info.detail || {};
  const lastRound = detail.last_report || reports[0] || null;
  const held = a.held;
  const cls = 'account' + (status.key === 'silent' || status.key === 'never' ? ' silent' : '') + (a.confirmed ? '' : ' preflight');
  const card = el('article', { class: cls, dataset: { account: a.id } },
    el('header', { class: 'account-head' },
      el('h2', { text: a.name || a.id }), el('span', { class: 'muted small', text: a.id }),
      el('span', { class: 'badge ' + status.cls, text: status.label, title: '最近心跳 ' + fmtTime(a.lastSeen) }),
      !a.confirmed ? el('span', { class: 'badge badge-warn', text: '预检中：尚未下单', dataset: { state: 'preflight' } })
        : null,
      a.paused ? el('span', { class: 'badge badge-warn', text: '已暂停' })
        : (a.confirmed ? el('span', { class: 'badge badge-ok', text: '跟单中' }) : null),
      a.dryRun ? el('span', { class: 'badge badge-info', text: '模拟运行（不下单）' }) : null,
      el('div', { class: 'switches' },
        el('button', { class: 'btn', type: 'button', text: '编辑设置', dataset: { action: 'edit' }, onclick: () => openEditor(a, detail) }),
        el('button', { class: 'btn ' + (a.paused ? 'btn-primary' : 'btn-danger'), type: 'button', dataset: { action: a.paused ? 'resume' : 'pause' },
          text: a.paused ? '恢复跟单' : '暂停跟单', onclick: () => setPaused(a, !a.paused) }),
        el('label', { class: 'switch' }, el('input', { type: 'checkbox', class: 'dry-run', checked: a.dryRun,
          onchange: (ev) => setDryRun(a, ev.target.checked, ev.target) }), '模拟运行'))),
    el('div', { class: 'account-body' },
      a.confirmed ? null : el('section', { class: 'wide preflight-box' }, preflightBlock(a)),
      held ? el('section', { class: 'wide held' }, heldBlock(a, held)) : null,
      approvalNote(a, held),
      detail.merged_target_error ? el('section', { class: 'wide' }, el('div', { class: 'alert alert-error target-error', role: 'alert' },
        el('strong', { text: '目标无法计算，跟单端每一轮都会报错、不下单：' }), targetProblem(detail.merged_target_error))) : null,
      el('section', {}, el('h3', { text: '跟单设置' }), settingsList(a, detail)),
      el('section', {}, el('h3', { text: '跟单端' }), followerList(a, status, lastRound)),
      ...(lastRound || reports.length ? [
        el('section', { class: 'wide' }, el('h3', { text: '账户持仓 vs 目标' }),
          compareTable(lastRound, detail, detail.ignored_codes || a.ignoredCodes, a.preflight)),
        el('section', { class: 'wide' }, el('h3', { text: '最近轮次' }), roundsTable(reports, info.reports === null))]
        : [el('section', { class: 'wide' }, el('p', { class: 'muted' },
          '跟单端还没有报告过。在 QMT 中粘贴 ', el('code', { text: 'jq2qmt export qmt' }), ' 导出的脚本，或运行 ',
          el('code', { text: 'jq2qmt follow' }), ' 之后，这里会显示账户持仓与每一轮的下单。'))])));
  return card;
}

function heldBlock(a, held) {
  return [
    el('strong', { text: '有计划等待确认' }),
    el('p', { class: 'small' }, held.held_reason || held.reason || '超出限额，需要确认后才会下单。',
      el('br'), el('span', { class: 'muted', text: `计划版本 ${held.plan_version || '—'}${held.created_at ? ' · ' + fmtTime(held.created_at) : ''}` })),
    heldOrders(held.orders),
    el('div', { class: 'toolbar' },
      el('button', { class: 'btn btn-primary', type: 'button', text: '批准执行', dataset: { action: 'approve' },
        onclick: () => approve(a, held.plan_version) }),
      el('button', { class: 'btn btn-danger', type: 'button', text: '拒绝', dataset: { action: 'reject' },
        onclick: () => reject(a, held.plan_version) })),
  ];
}

// The orders the held round would have sent, so 批准执行 is not a blind click.
function heldOrders(orders) {
  if (!Array.isArray(orders)) return null;
  if (!orders.length) return el('p', { class: 'muted small held-orders', text: '这个计划不下任何委托。' });
  const sum = (side) => orders.filter((o) => o.side === side).reduce((t, o) => t + (Number(o.value) || 0), 0);
  const body = el('tbody');
  fillBody(body, orders.map((o) => el('tr', { dataset: { code: o.code } },
    el('td', { text: o.code }),
    el('td', { class: o.side === 'buy' ? 'up' : 'down', text: o.side === 'buy' ? '买入' : o.side === 'sell' ? '卖出' : String(o.side || '') }),
    el('td', { class: 'num', text: fmtInt(o.volume) }),
    el('td', { class: 'num', text: fmtPrice(o.price) }),
    el('td', { class: 'num', text: o.value === null || o.value === undefined ? '—' : fmtMoney(o.value) }))), '', 5);
  return el('div', { class: 'held-orders' },
    el('p', { class: 'small', text: `批准后跟单端会发送这 ${orders.length} 笔委托（按暂缓时的行情估算）：买入 ${fmtMoney(sum('buy'))} 元 · 卖出 ${fmtMoney(sum('sell'))} 元` }),
    el('div', { class: 'table-wrap' }, el('table', { class: 'table' },
      el('thead', {}, el('tr', {}, el('th', { text: '代码' }), el('th', { text: '方向' }), el('th', { class: 'num', text: '数量' }),
        el('th', { class: 'num', text: '价格' }), el('th', { class: 'num', text: '金额' }))), body)));
}

// A standing approval: stale when a followed strategy changed after the hold (the
// follower does not trade a plan other than the approved one, and holds again).
function approvalNote(a, held) {
  const ap = a.approval;
  if (!ap || !ap.plan_version) return null;
  if (ap.stale) {
    return el('section', { class: 'wide' }, el('div', { class: 'alert alert-warn approval-stale', role: 'alert' },
      el('strong', { text: '批准已失效：' }),
      `批准${ap.approved_at ? '（' + fmtTime(ap.approved_at) + '）' : ''}之后，策略 ${(ap.changed || []).join('、') || '—'} 又更新了，计划已经变化。`
      + '跟单端不会执行已批准的旧计划；若新计划仍超出限额，会再次暂缓，需要重新确认。'));
  }
  if (held) return null;
  return el('section', { class: 'wide' }, el('p', { class: 'small muted approval-pending',
    text: `已批准计划 ${ap.plan_version}${ap.approved_at ? '（' + fmtTime(ap.approved_at) + '）' : ''}：跟单端下一轮执行一次。` }));
}

// ---- preflight ---------------------------------------------------------------------

const BROKERS = { builtin: 'QMT 内置', miniqmt: 'miniQMT', paper: '模拟券商' };
const HTTP_MODES = { thread: '后台线程', inline: '同一线程', sync: '同步' };
const PREFLIGHT_ROWS = 8;

function preflightBlock(a) {
  const report = a.preflight;
  const p = (report && report.preflight) || {};
  const intro = el('p', { class: 'small' },
    '新账户先只看不下单：跟单端读取持仓、资金、委托和行情，报告到这里，不向券商发送任何委托。',
    '核对无误后确认账户，跟单端下一轮起按计划真实下单。');
  const button = el('div', { class: 'toolbar' },
    el('button', { class: 'btn btn-primary', type: 'button', text: '确认账户，开始跟单', dataset: { action: 'confirm' },
      onclick: () => confirmAccount(a) }),
    el('span', { class: 'muted small' }, '命令行：', el('code', { text: `jq2qmt account confirm ${a.id}` })));
  const head = el('strong', { text: '预检中：尚未下单' });
  if (!report) {
    return [head, intro, el('p', { class: 'muted', dataset: { preflight: 'none' },
      text: '尚未收到预检报告。跟单端连接服务器后的第一轮会发送。' }), button];
  }
  const asset = p.asset;
  const checks = p.checks || {};
  const yesNo = (v) => (v === undefined || v === null ? '—' : v ? '可用' : '不可用');
  const errors = Array.isArray(p.errors) ? p.errors : [];
  const order = ['POSITION', 'ORDER', 'ACCOUNT'];
  const rank = (g) => (order.includes(g) ? order.indexOf(g) : order.length);
  const fields = p.fields && typeof p.fields === 'object'
    ? Object.entries(p.fields).sort((x, y) => rank(x[0]) - rank(y[0]) || (x[0] < y[0] ? -1 : 1)) : [];
  const summary = kv([
    ['收到', `${fmtTime(report.received_at)}（${fmtAge(report.received_at)}）· 交易所时间 ${p.at ? String(p.at).replace('T', ' ') : '—'}`],
    ['环境', `${BROKERS[p.broker] || p.broker || '—'} · Python ${p.python || '—'} · ${p.platform || '—'}`],
    ['资金', asset ? `现金 ${fmtMoney(asset.cash)} · 冻结 ${fmtMoney(asset.frozen_cash)} · 市值 ${fmtMoney(asset.market_value)} · 总资产 ${fmtMoney(asset.total_asset)}`
      : el('span', { class: 'up', text: '未读到资金' })],
    ['运行', `HTTP ${HTTP_MODES[checks.http] || checks.http || '—'} · 线程 ${yesNo(checks.threads)} · requests ${yesNo(checks.requests)} · 一轮 ${p.round_ms === undefined || p.round_ms === null ? '—' : fmtPrice(p.round_ms)} 毫秒`],
    ['日志', checks.journal_error
      ? el('span', {}, checks.journal || '无', el('span', { class: 'up', text: `（写入失败：${checks.journal_error}）` }))
      : (checks.journal || '无')],
    ['字段', fields.length ? fields.map(([group, names]) => `${group} ${(names || []).length} 个`).join(' · ') : '—'],
    ['错误', errors.length ? el('div', { class: 'up preflight-errors' }, ...errors.slice(0, 10).map((t) => el('div', { text: String(t) })),
      errors.length > 10 ? el('div', { text: `…共 ${errors.length} 条` }) : null) : '无'],
  ]);
  const positions = Array.isArray(p.positions) ? p.positions : [];
  const orders = Array.isArray(p.open_orders) ? p.open_orders : [];
  const quotes = Array.isArray(p.quotes) ? p.quotes : [];
  return [head, intro, summary,
    miniTable(`持仓 ${positions.length} 个`, 'pf-positions', ['代码', '名称', '数量', '可用', '成本'], [2, 3, 4], positions,
      (r) => [r.code, r.name || '', fmtInt(r.volume), fmtInt(r.can_use_volume), fmtPrice(r.avg_cost)], '账户没有持仓。'),
    miniTable(`未完成委托 ${orders.length} 笔`, 'pf-orders', ['代码', '方向', '数量', '已成', '价格', '状态', '备注'], [2, 3, 4], orders,
      (r) => [r.code, r.side === 'buy' ? '买' : r.side === 'sell' ? '卖' : (r.side || ''), fmtInt(r.volume), fmtInt(r.traded_volume),
        fmtPrice(r.price), r.status === undefined || r.status === null ? '—' : String(r.status), r.remark || ''], '没有未完成的委托。'),
    miniTable(`行情 ${quotes.length} 个`, 'pf-quotes', ['代码', '最新', '买一', '卖一', '时效'], [1, 2, 3, 4], quotes,
      (r) => [r.code, fmtPrice(r.last), fmtPrice(r.bid1), fmtPrice(r.ask1),
        r.age_seconds === undefined || r.age_seconds === null ? '无时间' : `${fmtPrice(r.age_seconds)} 秒前`], '没有读到行情。'),
    button];
}

// A small table of preflight rows (`numeric`: indexes of right-aligned columns).
function miniTable(title, cls, heads, numeric, rows, cells, emptyText) {
  const body = el('tbody');
  const align = (i) => (numeric.includes(i) ? 'num' : null);
  fillBody(body, rows.slice(0, PREFLIGHT_ROWS).map((r) => el('tr', {},
    ...cells(r).map((v, i) => el('td', { class: align(i), text: String(v) })))),
  emptyText, heads.length);
  return el('div', { class: 'preflight-table ' + cls },
    el('h4', { text: title + (rows.length > PREFLIGHT_ROWS ? `（显示前 ${PREFLIGHT_ROWS} 个）` : '') }),
    el('div', { class: 'table-wrap' }, el('table', { class: 'table' },
      el('thead', {}, el('tr', {}, ...heads.map((h, i) => el('th', { class: align(i), text: h })))),
      body)));
}

function confirmAccount(a) {
  const name = a.name || a.id;
  if (!confirm(`确认账户 ${name}？\n\n确认后跟单端下一轮起会按计划向券商发送真实委托，使用真实资金。请先核对上面的预检报告（持仓、资金、委托、行情）。`)) return;
  return act(api(base(a.id) + '/confirm', { method: 'POST', body: {} }), `已确认 ${name}：跟单端下一轮起开始下单`);
}

function kv(pairs) {
  return el('dl', { class: 'kv' }, ...pairs.filter(Boolean).flatMap(([k, v]) => [el('dt', { text: k }), el('dd', {}, v)]));
}

function settingsList(a, detail) {
  const s = a.settings;
  const rows = detail.strategies || Object.entries(a.strategies).map(([name, f]) => ({ strategy: name, follow: f }));
  const follows = rows.map((r) => {
    const f = r.follow || {};
    const how = f.ratio !== undefined && f.ratio !== null ? `× ${f.ratio}` : (f.capital ? `资金 ${fmtMoney(f.capital)}` : '');
    return el('div', { class: 'follow-row', dataset: { strategy: r.strategy } }, r.strategy, ' ', el('span', { class: 'muted', text: how }),
      r.missing ? el('span', { class: 'badge badge-danger', text: '策略不存在或已删除' })
        : (r.version ? el('span', { class: 'muted small', text: ` · v${r.version}` }) : null));
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
    ['最近一轮', lastRound ? `${fmtTime(lastRound.created_at)} · ${statusLabel(lastRound.status)}` : '—'],
  ]);
}

const STATUS = {
  ok: ['完成', 'badge-ok'], held: ['待确认', 'badge-warn'], dry_run: ['模拟运行', 'badge-info'],
  paused: ['已暂停', 'badge-warn'], outside_session: ['非交易时段', ''], error: ['出错', 'badge-danger'], idle: ['无需调仓', ''],
  preflight: ['预检（不下单）', 'badge-warn'],
};
const statusLabel = (s) => (STATUS[s] || [s || '—'])[0];

// Why the engine or the follower left an order out (report `skipped[].reason`).
export const SKIP_REASONS = {
  suspended: '停牌', limit_up: '涨停', limit_down: '跌停', not_sellable: '不可卖（T+1/冻结）',
  insufficient_cash: '资金不足', below_lot: '不足一手', below_min_value: '低于最小金额', ignored: '忽略',
  no_quote: '无行情', over_max_order_value: '超单笔上限', stale_quote: '行情过期', settling: '等待成交回报',
  rejected: '被拒', max_reprices: '改价次数用完', open_order_not_ours: '有手工委托',
};
export const skipReason = (r) => SKIP_REASONS[r] || String(r || '—');
// "000001.SZ 资金不足：需 …" — the detail's Chinese half, without repeating the reason.
function skipText(o) {
  const label = skipReason(o.reason);
  const detail = o.detail ? String(o.detail).split(' / ')[0] : '';
  return `${o.code || ''} ${detail.startsWith(label) ? detail : label + (detail ? '：' + detail : '')}`;
}

// A round that placed orders but left some out (other than by the ignore list, which is
// the user's own choice) or had orders refused is partly done, not a green 完成.
function outcomeBadge(r) {
  const o = roundOutcome(r);
  return el('span', { class: 'badge ' + o.cls, text: o.label, dataset: { outcome: o.partial ? 'partial' : r.status || '' } });
}

export function roundOutcome(r) {
  const skipped = (r.skipped || []).filter((x) => x && x.reason !== 'ignored');
  const rejected = r.rejected || [];
  if ((r.status === 'ok' || r.status === 'dry_run') && (skipped.length || rejected.length)) {
    return { label: r.status === 'ok' ? '部分完成' : '模拟运行 · 部分完成', cls: 'badge-warn', partial: true };
  }
  return { label: statusLabel(r.status), cls: (STATUS[r.status] || [])[1] || '', partial: false };
}

// Why the server could not compute the account's target, in words a trader acts on.
function targetProblem(error) {
  const m = /^targets\.(.+)\.portfolio_value/.exec(String(error));
  if (m) {
    return `策略 ${m[1]} 的快照没有总资产（portfolio.total_value），按权重跟单无法换算数量。`
      + '请让聚宽策略重新上传带 portfolio 的快照，或在「持仓调整」中确认该策略最近的修正没有清除它。'
      + `（${error}）`;
  }
  return String(error);
}

// Last account snapshot (from the follower's last round) against the account's target
// (the followed strategies merged and scaled by the server, as the follower's engine does).
// `ignored`: the codes the server found matched by the account's ignore list (read with
// the follower's own rule; the page does not interpret the patterns itself).
function compareTable(lastRound, detail, ignored, preflight) {
  const ignore = new Set(ignored || []);
  const held = {};
  // The newest round that read the account (paused and out-of-session rounds do not).
  const snap = detail.last_account || (lastRound && lastRound.account ? lastRound : null);
  let account = snap && snap.account;
  let source = '账户快照';
  let when = snap ? fmtTime(snap.created_at) : '';
  if (snap && lastRound && snap.round_id !== lastRound.round_id) {
    when += `（${fmtAge(snap.created_at)}；之后的轮次为「${statusLabel(lastRound.status)}」，未读取账户）`;
  }
  const seen = preflight && preflight.preflight;
  if (!account && seen && Array.isArray(seen.positions)) {  // before any trading round: what the preflight saw
    account = { positions: seen.positions, cash: (seen.asset || {}).cash, total_asset: (seen.asset || {}).total_asset };
    source = '预检看到的持仓';
    when = fmtTime(preflight.received_at);
  }
  for (const p of (account && account.positions) || []) held[p.code] = p;
  const target = {};
  const names = {};
  for (const t of detail.merged_target || []) { target[t.code] = t.volume; names[t.code] = t.name; }
  const codes = [...new Set([...Object.keys(held), ...Object.keys(target)])].sort();
  const rows = codes.map((code) => {
    const t = target[code];
    const h = held[code] ? held[code].volume : 0;
    const diff = t === undefined ? -h : t - h;  // a held code outside the target is sold
    return el('tr', { dataset: { code } },
      el('td', { text: code }),
      el('td', { text: names[code] || (held[code] && held[code].name) || (detail.held_names || {})[code] || '' }),
      el('td', { class: 'num', text: t === undefined ? '0' : fmtInt(t) }),
      el('td', { class: 'num', text: fmtInt(h) }),
      el('td', { class: 'num', text: held[code] && held[code].can_use_volume !== undefined ? fmtInt(held[code].can_use_volume) : '—' }),
      el('td', { class: 'num ' + (diff > 0 ? 'up' : diff < 0 ? 'down' : ''),
        title: t === undefined && !ignore.has(code) ? '不在目标中：跟单端会卖出全部持仓' : null, text: ignore.has(code) ? '忽略' : t === undefined ? (h ? `${fmtSigned(diff)} 清仓` : '不在目标中')
        : (diff ? fmtSigned(diff) : '一致') }));
  });
  const tbody = el('tbody');
  fillBody(tbody, rows, account ? '账户空仓且目标为空。' : '跟单端还没有报告过账户持仓。', 6);
  const note = el('p', { class: 'muted small' }, account
    ? `${source} ${when} · 现金 ${fmtMoney(account.cash)} · 总资产 ${fmtMoney(account.total_asset)}`
    : '还没有账户快照。',
    detail.merged_target_error ? el('span', { class: 'up', text: ` · 目标无法计算：${detail.merged_target_error}` }) : '');
  return [note, el('div', { class: 'table-wrap' }, el('table', { class: 'table compare' },
    el('thead', {}, el('tr', {}, el('th', { text: '代码' }), el('th', { text: '名称' }), el('th', { class: 'num', text: '目标' }),
      el('th', { class: 'num', text: '持有' }), el('th', { class: 'num', text: '可用' }), el('th', { class: 'num', text: '差额' }))),
    tbody))];
}

function roundsTable(reports, unavailable) {
  const rounds = reports.filter((r) => (r.kind || 'round') === 'round');
  const rows = rounds.map((r) => {
    const placed = r.placed || [];
    const rejected = r.rejected || [];
    const skipped = r.skipped || [];
    const errors = r.errors || [];
    return el('tr', { dataset: { round: r.round_id || '' } },
      el('td', { text: fmtTime(r.created_at) }),
      el('td', {}, outcomeBadge(r)),
      el('td', {}, orderList(placed, (o) => `${o.side === 'buy' ? '买' : '卖'} ${o.code} ${fmtInt(o.volume)} @ ${fmtPrice(o.price)}`)),
      el('td', {}, orderList(skipped, skipText, 'skipped')),
      el('td', {}, orderList(rejected, (o) => `${o.side === 'buy' ? '买' : '卖'} ${o.code} ${fmtInt(o.volume)}：${o.reason || ''}`, 'up')),
      el('td', {}, errors.length ? el('span', { class: 'up', text: errors.join('；') }) : (r.held_reason || '')));
  });
  const tbody = el('tbody');
  fillBody(tbody, rows, unavailable ? '无法读取报告。' : '还没有报告。', 6);
  return el('div', { class: 'table-wrap' }, el('table', { class: 'table rounds' },
    el('thead', {}, el('tr', {}, el('th', { text: '时间' }), el('th', { text: '结果' }), el('th', { text: '下单' }),
      el('th', { text: '跳过' }), el('th', { text: '被拒' }), el('th', { text: '错误/说明' }))),
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

// Pausing is the safe action and needs no confirmation; resuming turns real orders
// back on, so it asks first (unless the account is in dry run, which sends none).
function setPaused(a, paused) {
  if (!paused && !confirm(`恢复 ${a.name || a.id} 的跟单？${a.dryRun ? '账户处于模拟运行，恢复后仍不下单。'
    : '跟单端下一轮起会向券商发送真实委托，使用真实资金。'}`)) return;
  return act(api(base(a.id) + (paused ? '/pause' : '/resume'), { method: 'POST', body: {} }),
    paused ? `已暂停 ${a.name || a.id}` : `已恢复 ${a.name || a.id}`);
}

function setDryRun(a, on, box) {
  if (!on && !confirm(`关闭 ${a.name || a.id} 的模拟运行？${a.paused ? '账户已暂停，恢复跟单后' : '跟单端下一轮起'}会向券商发送真实委托，使用真实资金。`)) {
    box.checked = true;
    return;
  }
  box.disabled = true;
  return act(api(base(a.id), { method: 'PATCH', body: { dry_run: on } }),
    on ? `${a.name || a.id} 改为模拟运行（不下单）` : `${a.name || a.id} 恢复真实下单`);
}

function approve(a, planVersion) {
  if (!confirm('批准这个计划？跟单端下一轮会执行一次。')) return;
  return act(api(base(a.id) + '/approve', { method: 'POST', body: { plan_version: planVersion } }), '已批准');
}

function reject(a, planVersion) {
  if (!confirm('拒绝这个计划？跟单端不会执行它，直到目标再次变化。')) return;
  return act(api(base(a.id) + '/reject', { method: 'POST', body: { plan_version: planVersion } }), '已拒绝');
}

// ---- settings editor --------------------------------------------------------------

const dialog = document.getElementById('settings-dialog');
const editor = { account: null, follows: [] };
const $ = (id) => document.getElementById(id);

async function openEditor(a, detail) {
  clearTimeout(state.timer);  // no re-render under the open dialog
  editor.account = a;
  const rows = detail.strategies || Object.entries(a.strategies).map(([name, f]) => ({ strategy: name, follow: f }));
  const key = a.mode === 'weight' ? 'capital' : 'ratio';
  editor.key = key;
  editor.original = Object.fromEntries(rows.map((r) => [r.strategy, (r.follow || {})[key]]));
  editor.follows = rows.map((r) => ({ strategy: r.strategy, value: String((r.follow || {})[key] ?? '') }));
  $('settings-title').textContent = `跟单设置 · ${a.name || a.id}`;
  $('s-name').value = a.name || '';
  $('s-mode-note').textContent = key === 'capital' ? '按权重：为每个策略分配的资金（元）' : '按数量比例：策略持仓数量 × 比例';
  $('s-scale-head').textContent = key === 'capital' ? '资金（元）' : '比例';
  const s = a.settings;
  $('s-ignore').value = (s.ignore || []).join(', ');
  $('s-min').value = s.min_order_value ? String(s.min_order_value) : '';
  $('s-max').value = s.max_order_value ?? '';
  $('s-turnover').value = s.max_turnover ? String(Math.round(s.max_turnover * 10000) / 100) : '';
  $('s-slice').value = s.slice_value ?? '';
  $('s-error').textContent = '';
  let names = [];
  try { names = (await api('/api/v1/strategies')).data.strategies.map((x) => x.strategy_name); } catch (e) { names = []; }
  editor.available = names;
  renderFollows();
  dialog.showModal();
}

function renderFollows() {
  const tbody = $('s-follows').querySelector('tbody');
  const rows = editor.follows.map((f, i) => el('tr', { dataset: { strategy: f.strategy } },
    el('td', { text: f.strategy }),
    el('td', { class: 'num' }, el('input', { value: f.value, inputmode: 'decimal', 'aria-label': `${f.strategy} 的${editor.key === 'capital' ? '资金' : '比例'}`,
      oninput: (ev) => { f.value = ev.target.value; } })),
    el('td', { class: 'actions' }, el('button', { class: 'btn btn-small btn-danger', type: 'button', text: '取消跟随',
      onclick: () => { editor.follows.splice(i, 1); renderFollows(); } }))));
  fillBody(tbody, rows, '未跟随任何策略。', 3);
  const taken = new Set(editor.follows.map((f) => f.strategy));
  const free = editor.available.filter((n) => !taken.has(n));
  $('s-add-strategy').replaceChildren(...(free.length ? free.map((n) => el('option', { value: n, text: n }))
    : [el('option', { value: '', text: '没有可添加的策略' })]));
  $('s-add').disabled = !free.length;
}

$('s-add').addEventListener('click', () => {
  const name = $('s-add-strategy').value;
  if (!name) return;
  editor.follows.push({ strategy: name, value: editor.key === 'capital' ? '' : '1' });
  renderFollows();
});
$('s-cancel').addEventListener('click', () => dialog.close());
// However the dialog closes (取消, Esc, 保存), auto-refresh starts again.
dialog.addEventListener('close', () => { load(); });
$('settings-form').addEventListener('input', () => { $('s-error').textContent = ''; });

// The server names fields as the API does (settings.max_turnover, follow.X.ratio,
// ignore[0]) and states limits in the API's units; the dialog says them in its own
// words and units (换手上限 is typed in %, the API takes a fraction).
const FIELD_LABELS = {
  name: '名称', ratio: '比例', capital: '资金', ignore: '忽略的代码', min_order_value: '最小下单金额',
  max_order_value: '单笔上限', max_turnover: '换手上限', slice_value: '拆单金额', mode: '跟单方式',
};
export function settingsError(field, message) {
  const text = String(message || '').split(' / ')[0];
  if (!field) return text;
  const parts = String(field).replace(/^settings\./, '').split('.');
  const key = parts[parts.length - 1].replace(/\[(\d+)\]$/, '');
  const index = /\[(\d+)\]$/.exec(parts[parts.length - 1]);
  let label = FIELD_LABELS[key] || key;
  if (parts[0] === 'follow' && parts.length >= 3) label = `${parts.slice(1, -1).join('.')} 的${label}`;
  if (index) label += `第 ${Number(index[1]) + 1} 项`;
  let said = text;
  if (key === 'max_turnover') said = text.replace(/(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)/gi, (n) => `${+(Number(n) * 100).toPrecision(12)}%`);
  else if (/value$|^capital$/.test(key)) said = text.replace(/(\d+(?:\.\d+)?e[+-]?\d+)/gi, (n) => `${fmtMoney(Number(n))} 元`);
  return `${label}：${said}`;
}

const optionalNumber = (text, label, scale = 1) => {
  const t = text.trim();
  if (!t) return null;
  const n = Number(t);
  if (!isFinite(n) || n <= 0) throw new Error(`${label}须为大于 0 的数字，或留空`);
  return n * scale;
};

// Page-side checks, then PATCH the account and PUT/DELETE the follows that changed.
// The server checks everything again; its message (naming the field) is shown here.
$('settings-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const a = editor.account;
  const err = $('s-error');
  err.textContent = '';
  let body;
  try {
    if (!$('s-name').value.trim()) throw new Error('名称不能为空（账户 ID 不会改变；不想改名就保留原名）');
    const min = $('s-min').value.trim();
    if (min && (!isFinite(Number(min)) || Number(min) < 0)) throw new Error('最小下单金额须为不小于 0 的数字');
    body = {
      name: $('s-name').value.trim(),
      settings: {
        ignore: $('s-ignore').value.split(/[,，\s]+/).map((x) => x.trim()).filter(Boolean),
        min_order_value: min ? Number(min) : 0,
        max_order_value: optionalNumber($('s-max').value, '单笔上限'),
        max_turnover: optionalNumber($('s-turnover').value, '换手上限', 0.01),
        slice_value: optionalNumber($('s-slice').value, '拆单金额'),
      },
    };
    const follow = {};
    for (const f of editor.follows) {
      const n = Number(f.value);
      if (!f.value.trim() || !isFinite(n) || n <= 0) throw new Error(`${f.strategy} 的${editor.key === 'capital' ? '资金' : '比例'}须为大于 0 的数字`);
      if (editor.key === 'ratio' && n > 1000) throw new Error(`${f.strategy} 的比例不能大于 1000`);
      if (n !== editor.original[f.strategy]) follow[f.strategy] = { [editor.key]: n };
    }
    for (const name of Object.keys(editor.original)) {
      if (!editor.follows.some((f) => f.strategy === name)) follow[name] = null;  // unfollow
    }
    if (Object.keys(follow).length) body.follow = follow;
  } catch (e) { err.textContent = e.message; return; }
  $('s-save').disabled = true;
  try {
    // settings and follows in one request: the server saves all of it or nothing
    await api(base(a.id), { method: 'PATCH', body });
    flash(`已保存 ${body.name} 的设置`);
    dialog.close();  // the close handler reloads
  } catch (e) {
    if (e.status !== 401) {
      err.textContent = settingsError(e.body && e.body.error && e.body.error.field, e.message) + '（未保存任何修改）';
    }
  } finally {
    $('s-save').disabled = false;
  }
});

document.addEventListener('visibilitychange', () => { if (!document.hidden) load(); else clearTimeout(state.timer); });
load();
window.jq2qmt = Object.assign(window.jq2qmt || {}, { followerStatus, inTradingHours, reload: load });
