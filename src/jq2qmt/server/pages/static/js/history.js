// 历史: every stored version of a strategy, and the diff between any two of them.
import {
  api, el, fillBody, fmtInt, fmtPrice, fmtTime, fmtSigned, flash, strategyList,
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

async function loadPicker() {
  const { data } = await api('/api/v1/positions/all');
  const names = strategyList(data).map((s) => s.name);
  if (current && !names.includes(current)) names.push(current);
  picker.replaceChildren(
    el('option', { value: '', text: '— 选择策略 —' }),
    ...names.sort().map((n) => el('option', { value: n, text: n, selected: n === current })));
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

async function loadVersions() {
  const { data } = await api(base(current) + '/history');
  const versions = versionsOf(data);
  const tbody = document.querySelector('#versions-table tbody');
  const rows = versions.map((v, i) => el('tr', { dataset: { version: String(v.version) } },
    el('td', {}, el('input', { type: 'radio', name: 'old', value: String(v.version), checked: i === 1, 'aria-label': `旧版本 ${v.version}` })),
    el('td', {}, el('input', { type: 'radio', name: 'new', value: String(v.version), checked: i === 0, 'aria-label': `新版本 ${v.version}` })),
    el('td', {}, `v${v.version} `, KIND_LABELS[v.kind] ? el('span', { class: 'badge badge-warn', text: KIND_LABELS[v.kind] }) : null),
    el('td', { text: fmtTime(v.time) }),
    el('td', { text: sourceLabel(v.source) }),
    el('td', { class: 'num', text: v.count === null ? '—' : fmtInt(v.count) })));
  fillBody(tbody, rows, '这个策略还没有历史版本。', 6);
  document.getElementById('show-diff').disabled = versions.length < 1;
  if (versions.length >= 1) showDiff();
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

loadPicker().catch((e) => { if (e.status !== 401) flash(e.message, true); });
if (current) loadVersions().catch((e) => { if (e.status !== 401) flash(e.message, true); });
