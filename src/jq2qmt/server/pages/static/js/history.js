// 历史: every stored version of a strategy, and the diff between any two of them.
import {
  api, el, fillBody, fmtInt, fmtPrice, fmtTime, fmtSigned, flash,
  normalizePosition, strategyUrl,
} from './app.js';

const picker = document.getElementById('history-strategy');
const current = picker.dataset.current;
const base = (name) => '/api/v1/strategies/' + encodeURIComponent(name);

const SOURCE_LABELS = [
  [/^client:/, '聚宽上传'],
  [/^admin/, '手工修改'],
  [/^cli/, '命令行'],
];
export function sourceLabel(source) {
  const s = String(source || '');
  for (const [re, label] of SOURCE_LABELS) if (re.test(s)) return `${label}（${s}）`;
  return s || '—';
}
const KIND_LABELS = { snapshot: '', remove: '已移除', restore: '恢复' };

// Active strategies and, marked 已删除, removed ones (their history stays readable).
async function loadPicker() {
  const { data } = await api('/api/v1/strategies?include_removed=true');
  const active = (data.strategies || []).map((s) => s.strategy_name);
  const removed = (data.removed || []).map((s) => s.strategy_name).filter((n) => !active.includes(n));
  const option = (n, gone) => el('option', { value: n, text: gone ? `${n}（已删除）` : n, selected: n === current,
    dataset: gone ? { removed: 'true' } : {} });
  const groups = [el('option', { value: '', text: '— 选择策略 —' }), ...active.sort().map((n) => option(n, false))];
  if (removed.length) groups.push(el('optgroup', { label: '已删除（历史保留）' }, ...removed.sort().map((n) => option(n, true))));
  if (current && !active.includes(current) && !removed.includes(current)) groups.push(option(current, false));
  picker.replaceChildren(...groups);
}

function versionsOf(data) {
  const list = (data && (data.versions || data.history || data.items)) || (Array.isArray(data) ? data : []);
  return list.map((v) => ({
    version: v.version,
    time: v.created_at || v.update_time || v.time,
    source: v.source,
    kind: v.kind || 'snapshot',
    count: v.count ?? v.position_count ?? (v.positions ? v.positions.length : null),
  })).sort((a, b) => b.version - a.version);
}

const PAGE = 100;
const listing = { loaded: 0, latest: 0 };

function versionRow(v, checkOld, checkNew) {
  return el('tr', { dataset: { version: String(v.version) } },
    el('td', {}, el('input', { type: 'radio', name: 'old', value: String(v.version), checked: checkOld, 'aria-label': `旧版本 ${v.version}` })),
    el('td', {}, el('input', { type: 'radio', name: 'new', value: String(v.version), checked: checkNew, 'aria-label': `新版本 ${v.version}` })),
    el('td', {}, `v${v.version} `, KIND_LABELS[v.kind] ? el('span', { class: 'badge badge-warn', text: KIND_LABELS[v.kind] }) : null),
    el('td', { text: fmtTime(v.time) }),
    el('td', { text: sourceLabel(v.source) }),
    el('td', { class: 'num', text: v.count === null ? '—' : fmtInt(v.count) }));
}

// The page's end state when the strategy has no history at all: a clear message, no
// spinner, and nothing to compare.
function showMissing() {
  const tbody = document.querySelector('#versions-table tbody');
  fillBody(tbody, [], `没有名为「${current}」的策略（从未上传过，或名称有误）。请在上面选择一个策略。`, 6);
  tbody.querySelector('td').dataset.state = 'missing';
  document.getElementById('show-diff').disabled = true;
  document.getElementById('more-versions').hidden = true;
}

async function loadVersions() {
  let data;
  try {
    data = (await api(base(current) + '/history?limit=' + PAGE)).data;
  } catch (err) {
    if (err.status === 404) { showMissing(); return; }
    const tbody = document.querySelector('#versions-table tbody');
    fillBody(tbody, [], '无法读取历史版本：' + err.message, 6);
    document.getElementById('show-diff').disabled = true;
    throw err;
  }
  const versions = versionsOf(data);
  listing.loaded = versions.length;
  listing.latest = Number(data.version) || 0;
  const tbody = document.querySelector('#versions-table tbody');
  fillBody(tbody, versions.map((v, i) => versionRow(v, i === 1, i === 0)), '这个策略还没有历史版本。', 6);
  document.getElementById('removed-note').hidden = !data.removed;
  updateMore(versions.length);
  document.getElementById('show-diff').disabled = versions.length < 1;
  if (versions.length >= 1) showDiff();
}

// Versions are numbered 1…latest; a full page means older ones remain.
function updateMore(lastPage) {
  const more = document.getElementById('more-versions');
  const left = Math.max(listing.latest - listing.loaded, 0);
  more.hidden = lastPage < PAGE || !left;
  more.textContent = `加载更早的版本（还有 ${fmtInt(left)} 个）`;
  document.getElementById('versions-count').textContent = `已显示 ${fmtInt(listing.loaded)} / ${fmtInt(Math.max(listing.latest, listing.loaded))} 个版本`;
}

async function loadMore() {
  const more = document.getElementById('more-versions');
  more.disabled = true;
  try {
    const { data } = await api(base(current) + `/history?limit=${PAGE}&offset=${listing.loaded}`);
    const versions = versionsOf(data);
    const tbody = document.querySelector('#versions-table tbody');
    tbody.append(...versions.map((v) => versionRow(v, false, false)));
    listing.loaded += versions.length;
    updateMore(versions.length);
  } finally {
    more.disabled = false;
  }
}

async function positionsAt(version) {
  if (!version) return [];
  const { data } = await api(base(current) + '/versions/' + encodeURIComponent(version));
  const snap = data.snapshot || data;
  return (snap.positions || []).map(normalizePosition);
}

// Rows of the diff: added, removed, changed (volume or cost), with the volume delta.
export function diffPositions(older, newer) {
  const a = new Map(older.map((p) => [p.code, p]));
  const b = new Map(newer.map((p) => [p.code, p]));
  const rows = [];
  for (const [code, p] of b) {
    const o = a.get(code);
    if (!o) rows.push({ change: 'added', code, name: p.name, old: null, new: p });
    else if (o.volume !== p.volume || Math.abs(o.cost - p.cost) > 1e-9) rows.push({ change: 'changed', code, name: p.name || o.name, old: o, new: p });
  }
  for (const [code, o] of a) if (!b.has(code)) rows.push({ change: 'removed', code, name: o.name, old: o, new: null });
  const order = { added: 0, removed: 1, changed: 2 };
  return rows.sort((x, y) => order[x.change] - order[y.change] || x.code.localeCompare(y.code));
}

const CHANGE_LABELS = { added: '新增', removed: '移除', changed: '变动' };

async function showDiff() {
  const older = document.querySelector('input[name="old"]:checked');
  const newer = document.querySelector('input[name="new"]:checked');
  if (!newer) { flash('请选择新版本', true); return; }
  const vOld = older ? older.value : null;
  const vNew = newer.value;
  const [a, b] = await Promise.all([positionsAt(vOld), positionsAt(vNew)]);
  const rows = diffPositions(a, b);
  const delta = (r) => (r.new ? r.new.volume : 0) - (r.old ? r.old.volume : 0);
  const trs = rows.map((r) => el('tr', { class: 'diff-' + r.change, dataset: { code: r.code, change: r.change } },
    el('td', {}, el('span', { class: 'badge ' + (r.change === 'added' ? 'badge-danger' : r.change === 'removed' ? 'badge-ok' : 'badge-info'), text: CHANGE_LABELS[r.change] })),
    el('td', { text: r.code }),
    el('td', { text: r.name || '' }),
    el('td', { class: 'num', text: r.old ? fmtInt(r.old.volume) : '—' }),
    el('td', { class: 'num', text: r.new ? fmtInt(r.new.volume) : '—' }),
    el('td', { class: 'num delta ' + (delta(r) > 0 ? 'up' : delta(r) < 0 ? 'down' : ''), text: delta(r) ? fmtSigned(delta(r)) : '0' }),
    el('td', { class: 'num', text: r.old ? fmtPrice(r.old.cost) : '—' }),
    el('td', { class: 'num', text: r.new ? fmtPrice(r.new.cost) : '—' })));
  fillBody(document.querySelector('#diff-table tbody'), trs, '两个版本的持仓完全相同。', 8);
  const count = (c) => rows.filter((r) => r.change === c).length;
  document.getElementById('diff-title').textContent = vOld ? `差异 v${vOld} → v${vNew}` : `v${vNew} 的持仓`;
  document.getElementById('diff-summary').textContent = `新增 ${count('added')} · 移除 ${count('removed')} · 变动 ${count('changed')}`;
  document.getElementById('diff-card').hidden = false;
}

picker.addEventListener('change', () => { if (picker.value) location.assign(strategyUrl(picker.value)); });
const diffBtn = document.getElementById('show-diff');
if (diffBtn) diffBtn.addEventListener('click', () => showDiff().catch((e) => flash(e.message, true)));
const moreBtn = document.getElementById('more-versions');
if (moreBtn) moreBtn.addEventListener('click', () => loadMore().catch((e) => { if (e.status !== 401) flash(e.message, true); }));

loadPicker().catch((e) => { if (e.status !== 401) flash(e.message, true); });
if (current) loadVersions().catch((e) => { if (e.status !== 401) flash(e.message, true); });
