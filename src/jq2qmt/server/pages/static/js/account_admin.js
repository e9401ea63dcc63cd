// 跟单 page, account management: add and remove accounts, the trading parameters the
// settings dialog does not cover (mode, slippage, order timeout, re-prices, sessions,
// use of sell proceeds), follower tokens (shown once) and the notification channels.
// Buttons are added to each account card that accounts.js renders; everything from the
// server or the user is set as text, never as HTML.
import { api, el, enhanceTable, fillBody, flash, fmtTime } from './app.js';

const $ = (id) => document.getElementById(id);
const base = (id) => '/api/v1/accounts/' + encodeURIComponent(id);
const reloadAccounts = () => (window.jq2qmt && window.jq2qmt.reload ? window.jq2qmt.reload() : null);

// Server errors name the field; the dialog shows "字段：说明".
function showError(box, err) {
  const field = err.body && err.body.error && err.body.error.field;
  box.textContent = (field ? `${FIELD_LABELS[field] || field}：` : '') + err.message;
}

const FIELD_LABELS = {
  account_id: '账户 ID', name: '名称', mode: '跟单方式', slippage: '滑点', order_timeout: '委托超时',
  max_reprices: '最多重新报价', sessions: '交易时段', use_sell_proceeds: '卖出资金当轮可用', rotate: '吊销旧令牌',
  kind: '类型', config: '渠道设置', 'config.url': 'Webhook 地址', 'config.port': '端口', 'config.to': '收件人',
  'config.host': 'SMTP 服务器', interval_minutes: '最短间隔', enabled: '启用',
};

// After a dialog that re-renders the cards: focus the same button on the new card.
function refocus(accountId, action) {
  const sel = `article.account[data-account="${CSS.escape(accountId)}"] [data-action="${action}"]`;
  setTimeout(() => { const b = document.querySelector(sel); if (b) b.focus(); }, 0);
}

function wireClose(dialog) {
  dialog.querySelectorAll('[data-close]').forEach((b) => b.addEventListener('click', () => dialog.close()));
}

// ---- per-card buttons --------------------------------------------------------------

function addCardButtons(card) {
  // the account-vs-target table gets search, sort and paging; its state survives refreshes
  card.querySelectorAll('table.compare:not([data-enhanced])').forEach((t) => {
    enhanceTable(t, { key: 'compare:' + card.dataset.account, pageSize: 50, label: '个代码' });
  });
  const head = card.querySelector('.account-head .switches');
  if (!head || head.querySelector('[data-action="params"]')) return;
  const id = card.dataset.account;
  const name = card.querySelector('.account-head h2') ? card.querySelector('.account-head h2').textContent : id;
  head.append(
    el('button', { class: 'btn', type: 'button', text: '交易参数', dataset: { action: 'params' },
      'aria-label': `${name} 的交易参数`, onclick: () => openParams(id, name) }),
    el('button', { class: 'btn', type: 'button', text: '跟单令牌', dataset: { action: 'token' },
      'aria-label': `${name} 的跟单令牌`, onclick: () => openToken(id, name) }),
    el('button', { class: 'btn btn-danger', type: 'button', text: '删除账户', dataset: { action: 'remove' },
      'aria-label': `删除账户 ${name}`, onclick: () => openRemove(id, name) }));
  // the page's own buttons get names that say which account they act on
  head.querySelectorAll('[data-action="edit"], [data-action="pause"], [data-action="resume"]').forEach((b) => {
    b.setAttribute('aria-label', `${name}：${b.textContent}`);
  });
}

const accountsBox = $('accounts');
if (accountsBox) {
  const scan = () => accountsBox.querySelectorAll('article.account[data-account]').forEach(addCardButtons);
  new MutationObserver(scan).observe(accountsBox, { childList: true, subtree: true });
  scan();
}

// ---- add ---------------------------------------------------------------------------

const addDialog = $('add-account-dialog');
wireClose(addDialog);
$('add-account').addEventListener('click', () => {
  $('aa-id').value = '';
  $('aa-name').value = '';
  $('aa-mode').value = 'ratio';
  $('aa-error').textContent = '';
  addDialog.showModal();
  $('aa-id').focus();
});
$('add-account-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const id = $('aa-id').value.trim();
  const err = $('aa-error');
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) { err.textContent = '账户 ID：须为 1–64 个字母、数字或 - _ .'; $('aa-id').focus(); return; }
  const body = { account_id: id, mode: $('aa-mode').value };
  const name = $('aa-name').value.trim();
  if (name) body.name = name;
  $('aa-save').disabled = true;
  try {
    await api('/api/v1/accounts', { method: 'POST', body });
    addDialog.close();
    flash(`已新增账户 ${name || id}：在「编辑设置」中跟随策略，在「跟单令牌」中生成令牌`);
    await reloadAccounts();
    refocus(id, 'edit');
  } catch (e) {
    if (e.status !== 401) showError(err, e);
  } finally {
    $('aa-save').disabled = false;
  }
});

// ---- remove ------------------------------------------------------------------------

const removeDialog = $('remove-account-dialog');
wireClose(removeDialog);
let removing = null;
function openRemove(id, name) {
  removing = id;
  $('ra-text').textContent = `删除账户「${name}」（${id}）？它的跟随、报告和审批记录一并删除，跟单令牌立即吊销，跟单端从此不再下单。此操作不能撤销。`;
  $('ra-confirm').value = '';
  $('ra-error').textContent = '';
  removeDialog.showModal();
  $('ra-confirm').focus();
}
$('remove-account-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if ($('ra-confirm').value.trim() !== removing) {
    $('ra-error').textContent = '输入的账户 ID 不一致，未删除。';
    $('ra-confirm').focus();
    return;
  }
  $('ra-save').disabled = true;
  try {
    await api(base(removing), { method: 'DELETE' });
    removeDialog.close();
    flash(`已删除账户 ${removing}`);
    await reloadAccounts();
    setTimeout(() => $('add-account').focus(), 0);
  } catch (e) {
    if (e.status !== 401) showError($('ra-error'), e);
  } finally {
    $('ra-save').disabled = false;
  }
});

// ---- token (shown once) ------------------------------------------------------------

const tokenDialog = $('token-dialog');
wireClose(tokenDialog);
let tokenFor = null;
function openToken(id, name) {
  tokenFor = id;
  $('tk-title').textContent = `跟单令牌 · ${name}`;
  $('tk-rotate').checked = false;
  $('tk-value').value = '';
  $('tk-result').hidden = true;
  $('tk-create').hidden = false;
  $('tk-rotate').closest('label').hidden = false;
  $('tk-error').textContent = '';
  tokenDialog.showModal();
  $('tk-create').focus();
}
// The token leaves the page when the dialog closes: it is never stored or shown again.
tokenDialog.addEventListener('close', () => { $('tk-value').value = ''; $('tk-result').hidden = true; });
$('token-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('tk-create').disabled = true;
  try {
    const { data } = await api(base(tokenFor) + '/token', { method: 'POST', body: { rotate: $('tk-rotate').checked } });
    $('tk-value').value = data.token;
    $('tk-result').hidden = false;
    $('tk-create').hidden = true;
    $('tk-rotate').closest('label').hidden = true;
    $('tk-value').focus();
    $('tk-value').select();
  } catch (e) {
    if (e.status === 409) $('tk-error').textContent = '这个账户已有跟单令牌。勾选「吊销旧令牌并生成新令牌」后再生成。';
    else if (e.status !== 401) showError($('tk-error'), e);
  } finally {
    $('tk-create').disabled = false;
  }
});
$('tk-copy').addEventListener('click', async () => {
  const input = $('tk-value');
  try {
    await navigator.clipboard.writeText(input.value);
    flash('已复制令牌');
  } catch (e) {
    input.select();
    flash(document.execCommand && document.execCommand('copy') ? '已复制令牌' : '请手动复制（已选中）');
  }
});

// ---- trading parameters --------------------------------------------------------------

const paramsDialog = $('params-dialog');
wireClose(paramsDialog);
let paramsFor = null;

export function formatSessions(sessions) {
  return (sessions || []).map((w) => `${w[0]}-${w[1]}`).join(', ');
}

export function parseSessions(text) {
  const parts = text.split(/[,，;；\s]+/).filter(Boolean);
  if (!parts.length) throw new Error('交易时段：至少填写一个时段，如 09:30-11:30');
  return parts.map((p) => {
    const m = /^(\d{1,2}):(\d{2})[-–~～至](\d{1,2}):(\d{2})$/.exec(p);
    if (!m) throw new Error(`交易时段：无法识别「${p}」，格式如 09:30-11:30`);
    const pad = (h) => h.padStart(2, '0');
    return [`${pad(m[1])}:${m[2]}`, `${pad(m[3])}:${m[4]}`];
  });
}

async function openParams(id, name) {
  paramsFor = id;
  $('pm-title').textContent = `交易参数 · ${name}`;
  $('pm-error').textContent = '';
  let detail;
  try { detail = (await api(base(id))).data; } catch (e) { if (e.status !== 401) flash(e.message, true); return; }
  const s = detail.settings || {};
  $('pm-mode').value = detail.mode || 'ratio';
  $('pm-slippage').value = s.slippage === undefined || s.slippage === null ? '' : String(Math.round(s.slippage * 1e6) / 1e4);
  $('pm-timeout').value = s.order_timeout === undefined || s.order_timeout === null ? '' : String(s.order_timeout);
  $('pm-reprices').value = s.max_reprices === undefined || s.max_reprices === null ? '' : String(s.max_reprices);
  $('pm-sessions').value = formatSessions(s.sessions);
  $('pm-proceeds').checked = Boolean(s.use_sell_proceeds);
  paramsDialog.showModal();
  $('pm-mode').focus();
}

function numberField(id, label, { min, max, integer = false, nullable = false, scale = 1 }) {
  const t = $(id).value.trim();
  if (!t) {
    if (nullable) return null;
    throw new Error(`${label}：不能为空`);
  }
  const n = Number(t);
  if (!isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new Error(`${label}：须为 ${min}–${max} 的${integer ? '整数' : '数字'}${nullable ? '，或留空' : ''}`);
  }
  return Math.round(n * scale * 1e8) / 1e8;
}

$('params-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const err = $('pm-error');
  let body;
  try {
    body = {
      mode: $('pm-mode').value,
      settings: {
        slippage: numberField('pm-slippage', '滑点', { min: 0, max: 10, scale: 0.01 }),
        order_timeout: numberField('pm-timeout', '委托超时', { min: 1, max: 3600, nullable: true }),
        max_reprices: numberField('pm-reprices', '最多重新报价', { min: 0, max: 100, integer: true }),
        sessions: parseSessions($('pm-sessions').value),
        use_sell_proceeds: $('pm-proceeds').checked,
      },
    };
  } catch (e) { err.textContent = e.message; return; }
  $('pm-save').disabled = true;
  try {
    await api(base(paramsFor), { method: 'PATCH', body });
    paramsDialog.close();
    flash(`已保存 ${paramsFor} 的交易参数`);
    await reloadAccounts();
    refocus(paramsFor, 'params');
  } catch (e) {
    if (e.status === 409) err.textContent = '跟单方式：账户还在跟随策略，先在「编辑设置」中取消跟随全部策略，再改方式。（未保存任何修改）';
    else if (e.status !== 401) { showError(err, e); err.textContent += '（未保存任何修改）'; }
  } finally {
    $('pm-save').disabled = false;
  }
});

// ---- notification channels -----------------------------------------------------------

const KIND_LABELS = { dingtalk: '钉钉', wecom: '企业微信', feishu: '飞书', serverchan: 'Server酱', email: '邮件' };
const NOTIFY_STATUS = { sent: '已发送', failed: '失败', throttled: '已限流', skipped: '跳过' };
const channelDialog = $('channel-dialog');
wireClose(channelDialog);

async function loadNotify() {
  let data;
  try { data = (await api('/api/v1/notify')).data; } catch (e) {
    if (e.status !== 401) fillBody($('notify-channels').tBodies[0], [], `无法读取通知设置：${e.message}`, 5);
    return;
  }
  fillBody($('notify-channels').tBodies[0], data.channels.map((c) => el('tr', { dataset: { channel: c.name } },
    el('td', { text: c.name }),
    el('td', { text: KIND_LABELS[c.kind] || c.kind }),
    el('td', { class: 'small', text: c.describe }),
    el('td', {}, el('span', { class: 'badge ' + (c.enabled ? 'badge-ok' : ''), text: c.enabled ? '启用' : '停用' })),
    el('td', { class: 'actions' },
      el('button', { class: 'btn btn-small', type: 'button', text: '试发', 'aria-label': `向 ${c.name} 发送测试消息`,
        dataset: { action: 'test' }, onclick: (ev) => testSend(c.name, ev.currentTarget) }), ' ',
      el('button', { class: 'btn btn-small btn-danger', type: 'button', text: '删除', 'aria-label': `删除渠道 ${c.name}`,
        dataset: { action: 'delete' }, onclick: () => removeChannel(c.name) })))),
  '还没有通知渠道。点「添加渠道」配置钉钉、企业微信、飞书、Server酱或邮件。', 5);
  const zh = (label) => String(label || '').split(' / ')[0];
  fillBody($('notify-events').tBodies[0], data.events.map((e) => ({ ...e, label: zh(e.label) })).map((e) => el('tr', { dataset: { event: e.event } },
    el('td', {}, e.label, el('span', { class: 'muted small', text: ` ${e.event}` })),
    el('td', {}, el('input', { type: 'checkbox', checked: e.enabled, 'aria-label': `开启事件：${e.label}`,
      onchange: (ev) => patchEvent(e.event, { enabled: ev.target.checked }, `${e.label}：${ev.target.checked ? '已开启' : '已关闭'}`) })),
    el('td', { class: 'num' }, el('input', { value: String(Math.round(e.interval_seconds / 60)), inputmode: 'numeric',
      class: 'interval', 'aria-label': `${e.label} 的最短间隔（分钟）`,
      onchange: (ev) => {
        const n = Number(ev.target.value);
        if (!Number.isInteger(n) || n < 0 || n > 10080) { flash('最短间隔：须为 0–10080 的整数（分钟）', true); return; }
        patchEvent(e.event, { interval_minutes: n }, `${e.label}：最短间隔 ${n} 分钟`);
      } })))), '—', 3);
  fillBody($('notify-recent').tBodies[0], data.recent.map((r) => el('tr', {},
    el('td', { text: fmtTime(r.at) }), el('td', { text: r.event }),
    el('td', {}, el('span', { class: 'badge ' + (r.status === 'sent' ? 'badge-ok' : r.status === 'failed' ? 'badge-danger' : ''),
      text: NOTIFY_STATUS[r.status] || r.status })),
    el('td', { text: r.subject }), el('td', { text: r.title }))), '还没有发送过通知。', 5);
}

async function patchEvent(event, body, message) {
  try {
    await api('/api/v1/notify/events/' + encodeURIComponent(event), { method: 'PATCH', body });
    flash(message);
  } catch (e) {
    if (e.status !== 401) flash(e.message, true);
    await loadNotify();
  }
}

async function testSend(name, button) {
  if (button) button.disabled = true;
  try {
    const { data } = await api('/api/v1/notify/test', { method: 'POST', body: name ? { channel: name } : {} });
    const failed = data.results.filter((r) => !r.ok);
    flash(data.results.map((r) => `${r.channel}：${r.ok ? '已发送' : '失败 ' + r.error}`).join('；'), failed.length > 0);
  } catch (e) {
    if (e.status === 404) flash('没有可测试的渠道，请先添加。', true);
    else if (e.status !== 401) flash(e.message, true);
  } finally {
    if (button) button.disabled = false;
  }
  await loadNotify();
}

async function removeChannel(name) {
  if (!confirm(`删除通知渠道「${name}」？之后的提醒不再发往这里。`)) return;
  try {
    await api('/api/v1/notify/channels/' + encodeURIComponent(name), { method: 'DELETE' });
    flash(`已删除渠道 ${name}`);
  } catch (e) {
    if (e.status !== 401) flash(e.message, true);
  }
  await loadNotify();
  $('notify-add').focus();
}

function syncKind() {
  const email = $('ch-kind').value === 'email';
  $('ch-email').hidden = !email;
  $('ch-webhook').hidden = email;
}
$('ch-kind').addEventListener('change', syncKind);
$('notify-add').addEventListener('click', () => {
  for (const id of ['ch-name', 'ch-url', 'ch-secret', 'ch-host', 'ch-port', 'ch-user', 'ch-password', 'ch-sender', 'ch-to']) $(id).value = '';
  $('ch-kind').value = 'dingtalk';
  $('ch-security').value = 'starttls';
  $('ch-enabled').checked = true;
  $('ch-error').textContent = '';
  syncKind();
  channelDialog.showModal();
  $('ch-name').focus();
});
$('notify-test-all').addEventListener('click', (ev) => testSend(null, ev.currentTarget));
// Secrets typed here leave the page with the request; the dialog is emptied on close.
channelDialog.addEventListener('close', () => { $('ch-secret').value = ''; $('ch-password').value = ''; });
$('channel-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const err = $('ch-error');
  const name = $('ch-name').value.trim();
  if (!name || name.includes('/')) { err.textContent = '名称：须为 1–64 个字符，不能含 /'; $('ch-name').focus(); return; }
  const kind = $('ch-kind').value;
  let config;
  if (kind === 'email') {
    const port = $('ch-port').value.trim();
    if (port && !/^\d{1,5}$/.test(port)) { err.textContent = '端口：须为 1–65535 的整数，或留空'; return; }
    config = { host: $('ch-host').value.trim(), port: port ? Number(port) : null, security: $('ch-security').value,
      username: $('ch-user').value.trim(), password: $('ch-password').value, sender: $('ch-sender').value.trim(),
      to: $('ch-to').value.split(/[,，;；\s]+/).filter(Boolean) };
  } else {
    const url = $('ch-url').value.trim();
    if (!/^https?:\/\//.test(url)) { err.textContent = 'Webhook 地址：须以 http:// 或 https:// 开头'; $('ch-url').focus(); return; }
    config = { url, secret: $('ch-secret').value.trim() };
  }
  $('ch-save').disabled = true;
  try {
    await api('/api/v1/notify/channels/' + encodeURIComponent(name), { method: 'PUT',
      body: { kind, config, enabled: $('ch-enabled').checked } });
    channelDialog.close();
    flash(`已保存渠道 ${name}；点「试发」确认能收到`);
    await loadNotify();
    setTimeout(() => { const b = document.querySelector(`#notify-channels tr[data-channel="${CSS.escape(name)}"] [data-action="test"]`); if (b) b.focus(); }, 0);
  } catch (e) {
    if (e.status !== 401) showError(err, e);
  } finally {
    $('ch-save').disabled = false;
  }
});

loadNotify();
window.jq2qmt = Object.assign(window.jq2qmt || {}, { parseSessions, formatSessions, loadNotify });
