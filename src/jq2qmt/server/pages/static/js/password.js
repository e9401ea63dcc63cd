// 密码管理: status of the admin password and the change form with a strength check.
import { api, el, fmtTime, flash } from './app.js';

// The server's minimum (credentials.MIN_PASSWORD_LENGTH), written into the page.
const MIN_LENGTH = Number(document.getElementById('password-form')?.dataset.minLength) || 10;
const COMMON = ['password', 'passw0rd', 'admin', 'qwerty', 'letmein', 'welcome', 'iloveyou',
  'abc123', '123456', '12345678', '123456789', '1234567890', '000000', '111111', 'jq2qmt', 'joinquant', 'qmt'];

// Strength of a new password: {ok, score 0..4, message}. The rule: at least MIN_LENGTH
// characters, at least two kinds of letters/digits/symbols, not a common word or a run
// of one character, and different from the current password.
export function passwordStrength(pw, current = '') {
  if (!pw) return { ok: false, score: 0, message: `至少 ${MIN_LENGTH} 个字符，包含字母、数字和符号中的至少两类。` };
  const kinds = [/[a-z]/, /[A-Z]/, /\d/, /[^A-Za-z0-9]/].filter((re) => re.test(pw)).length;
  const lower = pw.toLowerCase();
  if (pw.length < MIN_LENGTH) return { ok: false, score: 1, message: `太短：还差 ${MIN_LENGTH - pw.length} 个字符` };
  if (/^(.)\1+$/.test(pw)) return { ok: false, score: 1, message: '不能是同一个字符的重复' };
  if (COMMON.some((w) => lower.includes(w) && w.length >= pw.length - 4)) return { ok: false, score: 1, message: '太常见，容易被猜到' };
  if (kinds < 2) return { ok: false, score: 1, message: '至少包含字母、数字、符号中的两类' };
  if (current && pw === current) return { ok: false, score: 1, message: '新密码不能与当前密码相同' };
  const score = Math.min(4, 1 + kinds - 1 + (pw.length >= 16 ? 1 : 0));
  return { ok: true, score, message: score >= 4 ? '强' : score >= 3 ? '较强' : '可用' };
}

async function loadStatus() {
  const { data } = await api('/api/v1/internal/password/info');
  const dl = document.getElementById('password-status');
  const item = (k, v) => [el('dt', { text: k }), el('dd', {}, v)];
  const isSet = data.is_set !== false;
  dl.replaceChildren(
    ...item('状态', el('span', { class: 'badge ' + (isSet ? 'badge-ok' : 'badge-danger'), text: isSet ? '已设置' : '未设置' })),
    ...item('默认密码', data.is_default ? el('span', { class: 'badge badge-danger', text: '是，请立即修改' }) : '否（系统从不使用默认密码）'),
    ...item('设置时间', fmtTime(data.created_at)),
    ...item('最近修改', fmtTime(data.updated_at)),
    ...(data.algorithm ? item('存储方式', data.algorithm) : []),
  );
}

const form = document.getElementById('password-form');
const current = document.getElementById('current-password');
const next = document.getElementById('new-password');
const confirmBox = document.getElementById('confirm-password');
const errorBox = document.getElementById('password-error');

function updateMeter() {
  const s = passwordStrength(next.value, current.value);
  const bar = document.getElementById('strength-bar');
  bar.style.width = (s.score * 25) + '%';
  bar.style.background = s.ok ? (s.score >= 3 ? 'var(--ok)' : '#d99a00') : 'var(--danger)';
  const text = document.getElementById('strength-text');
  text.textContent = next.value ? `强度：${s.message}` : s.message;
  text.className = 'small ' + (next.value && !s.ok ? 'up' : 'muted');
  return s;
}

next.addEventListener('input', updateMeter);
current.addEventListener('input', updateMeter);

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  errorBox.textContent = '';
  const s = updateMeter();
  if (!current.value) { errorBox.textContent = '请输入当前密码'; return; }
  if (!s.ok) { errorBox.textContent = '新密码不符合要求：' + s.message; return; }
  if (next.value !== confirmBox.value) { errorBox.textContent = '两次输入的新密码不一致'; return; }
  const btn = document.getElementById('password-submit');
  btn.disabled = true;
  try {
    await api('/api/v1/internal/password/set', {
      method: 'POST', body: { current_password: current.value, new_password: next.value }, loginOn401: false,
    });
    flash('密码已修改，请用新密码重新登录');
    location.assign('/login?notice=password_changed');
  } catch (err) {
    errorBox.textContent = err.message;
    btn.disabled = false;
  }
});

loadStatus().catch((err) => { if (err.status !== 401) flash(err.message, true); });
