// 持仓调整: edit an ADJUSTMENT_… strategy (signed volumes, added to the merged target)
// or correct a strategy's snapshot by hand. Rows are edited in a modal, checked here,
// and saved as a whole snapshot through POST /api/v1/positions/update/internal; the
// server's complaint about a row is shown next to that row.
import {
  api, el, fillBody, fmtInt, fmtPrice, fmtTime, flash, fieldErrors, errorMessage, isAdjustment,
  ADJUSTMENT_PREFIX, strategyList, normalizePosition, strategyUrl,
} from './app.js';

const select = document.getElementById('strategy-select');
const saveBtn = document.getElementById('save');
const saveError = document.getElementById('save-error');
const tbody = document.querySelector('#rows-table tbody');
const rowDialog = document.getElementById('row-dialog');
const newDialog = document.getElementById('new-dialog');

const state = { strategies: [], name: null, version: 0, rows: [], dirty: false, totals: {}, names: {}, editing: null, created: [] };
const saveWarning = document.getElementById('save-warning');

const CODE_RE = /^(\d{6})\.(XSHG|XSHE|SH|SZ|BJ)$/;
const SUFFIX = { XSHG: 'SH', XSHE: 'SZ', SH: 'SH', SZ: 'SZ', BJ: 'BJ' };
const canonical = (code) => {
  const m = CODE_RE.exec(String(code).trim().toUpperCase());
  return m ? `${m[1]}.${SUFFIX[m[2]]}` : String(code).trim().toUpperCase();
};

// Page-side validation of one row (form, sign, duplicates); the server checks again
// and knows more (e.g. its limits), and its complaint is shown next to the row.
// Whole lots: followers trade 100-share lots (STAR Market 688…/689… and Beijing codes
// allow odd shares above their minimum), so another volume is not reached exactly.
export function lotWarning(code, volume) {
  const c = canonical(code);
  const n = Math.abs(Number(volume));
  if (!CODE_RE.test(c) || !Number.isInteger(n) || n === 0) return '';
  if (/^68[89]/.test(c) || c.endsWith('.BJ')) return '';
  if (n % 100 === 0) return '';
  return `${fmtInt(Number(volume))} 股不是整手（100 股的倍数）：跟单端只按整手下单，零头 ${n % 100} 股不会成交。`;
}

export function validateRow(row, rows, adjustment, skipIndex) {
  const errors = {};
  const code = String(row.code || '').trim().toUpperCase();
  if (!code) errors.code = '请填写代码';
  else if (!CODE_RE.test(code)) errors.code = '代码格式应为 600000.XSHG / 000001.XSHE / 600000.SH';
  else if (rows.some((r, i) => i !== skipIndex && canonical(r.code) === canonical(code))) errors.code = '这个代码已经在表中';
  const volume = String(row.volume ?? '').trim();
  if (!/^-?\d+$/.test(volume)) errors.volume = '数量须为整数（股）';
  else if (!adjustment && Number(volume) < 0) errors.volume = '普通策略的数量不能为负（负数只用于调整策略）';
  const cost = String(row.cost ?? '').trim();
  if (cost === '' || !isFinite(Number(cost))) errors.cost = '成本须为数字';
  else if (Number(cost) < 0) errors.cost = '成本不能为负';
  return errors;
}

async function load(preferred) {
  const [all, total] = await Promise.all([
    api('/api/v1/positions/all'),
    api('/api/v1/positions/total?include_adjustments=true'),
  ]);
  state.strategies = strategyList(all.data);
  state.totals = totalMap(total.data);
  // names seen on this page are kept: a code can leave every other strategy (which
  // named it) while this one still holds it
  state.names = Object.assign(state.names, nameMap(total.data), ...state.strategies.map((st) =>
    Object.fromEntries(st.positions.filter((p) => p.name).map((p) => [canonical(p.code), p.name]))));
  const names = state.strategies.map((s) => s.name);
  for (const n of state.created) if (!names.includes(n)) names.push(n);
  if (!names.some(isAdjustment)) names.push(ADJUSTMENT_PREFIX + 'MANUAL');
  fillSelect(names);
  const want = preferred && names.includes(preferred) ? preferred : (names.find(isAdjustment));
  select.value = want;
  open(want);
}

function totalMap(data) {
  const list = (data && (data.positions || data.items)) || [];
  return Object.fromEntries(list.map(normalizePosition).map((p) => [canonical(p.code), p.volume]));
}

function nameMap(data) {
  const list = (data && (data.positions || data.items)) || [];
  return Object.fromEntries(list.filter((p) => p.name).map((p) => [canonical(p.code), p.name]));
}

function fillSelect(names) {
  const adj = names.filter(isAdjustment).sort();
  const other = names.filter((n) => !isAdjustment(n)).sort();
  const group = (label, list) => el('optgroup', { label }, ...list.map((n) => el('option', { value: n, text: n })));
  select.replaceChildren(group('调整策略', adj), ...(other.length ? [group('策略快照（手工修正）', other)] : []));
}

function open(name) {
  state.name = name;
  const s = state.strategies.find((x) => x.name === name);
  state.rows = s ? s.positions.map((p) => ({ ...p, dirty: false, error: null })) : [];
  state.version = s ? Number(s.version) || 0 : 0;  // the base of a correction: 0 for a new strategy
  state.dirty = false;
  const adj = isAdjustment(name);
  document.getElementById('editor-title').textContent = adj ? `调整策略 ${name}` : `手工修正 ${name}`;
  const meta = document.getElementById('editor-meta');
  meta.replaceChildren(s
    ? el('span', {}, `版本 ${s.version ?? '—'} · 更新于 ${fmtTime(s.update_time)} · `, el('a', { href: strategyUrl(name), text: '查看历史' }))
    : el('span', { text: '新建，尚未保存' }));
  hideSaveError();
  document.getElementById('remove-strategy').hidden = !s;
  render();
}

// Removing a strategy takes it out of every total; its history stays.
async function removeStrategy() {
  const name = state.name;
  if (!confirm(`删除策略 ${name}？它将不再计入合并目标（历史记录保留）。`)) return;
  try {
    await api('/api/v1/strategies/' + encodeURIComponent(name), { method: 'DELETE' });
    flash(`已删除 ${name}`);
    state.created = state.created.filter((n) => n !== name);
    state.dirty = false;
    await load(null);
  } catch (err) {
    if (err.status !== 401) flash(err.message, true);
  }
}

function render() {
  const adj = isAdjustment(state.name);
  const rows = state.rows.map((r, i) => el('tr', { class: r.error ? 'row-error' : (r.dirty ? 'dirty' : ''), dataset: { code: canonical(r.code), index: String(i) } },
    el('td', {}, r.code, r.error ? el('div', { class: 'row-message', role: 'alert', text: r.error }) : null,
      lotWarning(r.code, r.volume) ? el('span', { class: 'badge badge-warn lot-badge', text: '非整手', title: lotWarning(r.code, r.volume) }) : null),
    el('td', { text: r.name || state.names[canonical(r.code)] || '' }),
    el('td', { class: 'num' + (Number(r.volume) < 0 ? ' down' : ''), text: fmtInt(Number(r.volume)) }),
    el('td', { class: 'num', text: fmtPrice(Number(r.cost)) }),
    mergedCell(state.totals[canonical(r.code)] ?? 0),
    el('td', { class: 'actions' },
      el('button', { class: 'btn btn-small', type: 'button', text: '编辑', onclick: () => openRow(i) }), ' ',
      el('button', { class: 'btn btn-small btn-danger', type: 'button', text: '删除', onclick: () => removeRow(i) }))));
  fillBody(tbody, rows, adj ? '没有调整项。点「＋ 添加」加一行。' : '空仓。', 6);
  saveBtn.disabled = !state.dirty;
}

// A negative merged target is shown with what the followers do with it.
function mergedCell(total) {
  return el('td', { class: 'num merged' + (total < 0 ? ' down' : '') }, fmtInt(total),
    total < 0 ? el('span', { class: 'badge badge-warn negative-target', text: '按 0 处理（清仓）',
      title: '合并目标为负：跟单端按 0 处理，卖出账户里这只股票的全部持仓，不会卖空' }) : null);
}

function markDirty() {
  state.dirty = true;
  hideSaveError();
  render();
}

function removeRow(i) {
  const r = state.rows[i];
  if (!confirm(`删除 ${r.code}？（保存后生效）`)) return;
  state.rows.splice(i, 1);
  markDirty();
}

const fields = { code: 'f-code', name: 'f-name', volume: 'f-volume', cost: 'f-cost' };

function openRow(index) {
  state.editing = index;
  const r = index === null ? { code: '', name: '', volume: '', cost: '' } : state.rows[index];
  document.getElementById('row-dialog-title').textContent = index === null ? '添加持仓' : `编辑 ${r.code}`;
  for (const [k, id] of Object.entries(fields)) {
    document.getElementById(id).value = r[k] === undefined || r[k] === null ? '' : String(r[k]);
  }
  showFieldErrors({});
  delete document.getElementById('f-volume').dataset.warned;
  rowDialog.showModal();
  document.getElementById('f-code').focus();
}

function showFieldErrors(errors) {
  for (const k of ['code', 'volume', 'cost']) {
    document.getElementById('e-' + k).textContent = errors[k] || '';
    document.getElementById('e-' + k).classList.remove('lot-warning');
    document.getElementById(fields[k]).classList.toggle('invalid', Boolean(errors[k]));
  }
}

document.getElementById('row-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const row = Object.fromEntries(Object.entries(fields).map(([k, id]) => [k, document.getElementById(id).value.trim()]));
  const errors = validateRow(row, state.rows, isAdjustment(state.name), state.editing);
  showFieldErrors(errors);
  if (Object.keys(errors).length) return;
  // a non-lot volume is allowed, but only after the warning was seen for this value
  const lot = lotWarning(row.code, row.volume);
  const volumeBox = document.getElementById('f-volume');
  if (lot && volumeBox.dataset.warned !== row.code.toUpperCase() + ' ' + row.volume) {
    volumeBox.dataset.warned = row.code.toUpperCase() + ' ' + row.volume;
    const note = document.getElementById('e-volume');
    note.textContent = lot + '再点「确定」保留这个数量。';
    note.classList.add('lot-warning');
    return;
  }
  const clean = { code: row.code.toUpperCase(), name: row.name, volume: Number(row.volume), cost: Number(row.cost), dirty: true, error: null };
  if (state.editing === null) state.rows.push(clean);
  else state.rows[state.editing] = clean;
  rowDialog.close();
  markDirty();
});
document.getElementById('row-cancel').addEventListener('click', () => rowDialog.close());
document.getElementById('add-row').addEventListener('click', () => openRow(null));

async function save() {
  saveBtn.disabled = true;
  hideSaveError();
  const body = {
    strategy_name: state.name,
    // the server refuses the save (409) when the strategy moved on since it was opened;
    // portfolio and as_of are left out, so the server keeps the stored ones
    base_version: state.version,
    positions: state.rows.map((r) => {
      const p = { code: r.code, volume: Number(r.volume), cost: Number(r.cost) };
      const name = r.name || state.names[canonical(r.code)];  // the name shown is the name saved
      if (name) p.name = name;
      return p;
    }),
  };
  try {
    const { data } = await api('/api/v1/positions/update/internal', { method: 'POST', body });
    flash(`已保存 ${state.name}`);
    await load(state.name);
    showWarnings((data && data.warnings) || []);
  } catch (err) {
    if (err.status === 401) return;
    if (err.status === 409 && err.body && err.body.error && err.body.error.code === 'version_conflict') {
      showConflict(err.body.error);
      saveBtn.disabled = false;
      return;
    }
    showServerErrors(err);
    saveBtn.disabled = false;
  }
}

// The save's warnings (a merged target below 0), kept on screen until the next edit.
function showWarnings(warnings) {
  if (!warnings.length) { saveWarning.hidden = true; saveWarning.replaceChildren(); return; }
  saveWarning.replaceChildren(
    el('strong', { text: '已保存，但合并目标为负：' }),
    ...warnings.map((w) => el('div', { class: 'negative-warning', dataset: { code: w.stock },
      text: `${w.stock} 合并目标 ${fmtInt(w.volume)} 股 —— 跟单端按 0 处理：卖出账户里这只股票的全部持仓，不会卖空。` })));
  saveWarning.hidden = false;
}

// Someone else saved (or JoinQuant uploaded) since this page opened the strategy:
// nothing was written; say which version is current and offer to reload.
function showConflict(error) {
  const current = error.current_version;
  const text = current
    ? `未保存：策略已更新到 v${current}（${error.current_source || '—'}，${fmtTime(error.current_update_time)}），你编辑的是 v${error.base_version}。`
    : `未保存：策略 ${state.name} 已被删除，你编辑的是 v${error.base_version}。`;
  saveError.replaceChildren(el('span', { class: 'conflict-text', text: text + '重新加载会放弃你在本页的修改，请重新加载后再改。' }), ' ',
    el('button', { class: 'btn btn-small', type: 'button', id: 'conflict-reload', text: '重新加载',
      onclick: () => { state.dirty = false; load(state.name).catch((e) => flash(e.message, true)); } }));
  saveError.hidden = false;
}

function showServerErrors(err) {
  const list = fieldErrors(err.body);
  let unplaced = [];
  state.rows.forEach((r) => { r.error = null; });
  for (const f of list) {
    const row = f.index !== null && state.rows[f.index];
    if (row) row.error = row.error ? `${row.error}；${f.message}` : f.message;
    else unplaced.push(f.message);
  }
  if (!list.length) unplaced = [errorMessage(err.body, err.status)];
  render();
  saveBtn.disabled = false;
  if (unplaced.length) showSaveError('服务器拒绝保存：' + unplaced.join('；'));
  else showSaveError('服务器拒绝保存：请修正标红的行后再保存。');
}

function showSaveError(text) { saveError.textContent = text; saveError.hidden = false; }
function hideSaveError() {
  saveError.hidden = true;
  saveError.textContent = '';
  saveWarning.hidden = true;
  saveWarning.replaceChildren();
}

saveBtn.addEventListener('click', save);
document.getElementById('remove-strategy').addEventListener('click', removeStrategy);
select.addEventListener('change', () => {
  if (state.dirty && !confirm('有未保存的修改，确定切换？')) { select.value = state.name; return; }
  history.replaceState(null, '', '/adjustment?strategy=' + encodeURIComponent(select.value));
  open(select.value);
});

document.getElementById('new-adjustment').addEventListener('click', () => {
  document.getElementById('f-new-name').value = '';
  document.getElementById('e-new-name').textContent = '';
  newDialog.showModal();
});
// The server's rule for strategy names (the save would be refused otherwise, after
// the rows were typed): printable, no / or \, at most 64 characters with the prefix.
export function newNameError(suffix, name, existing) {
  if (!suffix) return '请填写名称';
  if (/[\/\\]/.test(suffix)) return '名称不能含 / 或 \\（它们是网址里的分隔符）';
  if ([...suffix].some((ch) => ch !== ' ' && /[\p{C}\p{Z}]/u.test(ch))) return '名称不能含控制字符或特殊空白';
  if ([...name].length > 64) return `名称太长：连同前缀 ${ADJUSTMENT_PREFIX} 最多 64 个字符`;
  if (existing.includes(name)) return '已有同名策略';
  return '';
}
document.getElementById('new-cancel').addEventListener('click', () => newDialog.close());
document.getElementById('new-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const suffix = document.getElementById('f-new-name').value.trim();
  const name = ADJUSTMENT_PREFIX + suffix;
  const err = newNameError(suffix, name, [...select.options].map((o) => o.value));
  document.getElementById('e-new-name').textContent = err;
  if (err) return;
  newDialog.close();
  state.created.push(name);
  fillSelect([...new Set([...[...select.options].map((o) => o.value), name])]);
  select.value = name;
  open(name);
});

window.addEventListener('beforeunload', (ev) => { if (state.dirty) { ev.preventDefault(); ev.returnValue = ''; } });

load(new URLSearchParams(location.search).get('strategy')).catch((err) => {
  if (err.status !== 401) flash(err.message, true);
});
