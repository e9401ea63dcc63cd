"""Notification channels: DingTalk, WeCom, Feishu/Lark, Server酱 and SMTP e-mail.

Each channel turns (title, text) into the request its service documents and sends
it. URLs are configurable (tests point them at a local receiver). Secrets are used
only to sign; `describe()` shows a channel without them.

- DingTalk (钉钉自定义机器人): JSON ``{"msgtype": "markdown", "markdown": {"title",
  "text"}}``; with a signing secret, ``timestamp`` (ms) and ``sign`` are added to the
  query: sign = urlencode(base64(HMAC-SHA256(key=secret, msg="{timestamp}\\n{secret}"))).
- WeCom (企业微信群机器人): JSON ``{"msgtype": "markdown", "markdown": {"content"}}``.
- Feishu/Lark (飞书自定义机器人): JSON ``{"msg_type": "text", "content": {"text"}}``;
  with a secret, ``timestamp`` (s, as a string) and ``sign`` are added to the body:
  sign = base64(HMAC-SHA256(key="{timestamp}\\n{secret}", msg=b"")).
- Server酱: form post ``title`` / ``desp`` to ``https://sctapi.ftqq.com/<SendKey>.send``.
- E-mail: SMTP (STARTTLS, SSL or plain), UTF-8 text message.
"""

import base64
import hashlib
import hmac
import smtplib
import time
from email.message import EmailMessage
from urllib.parse import quote_plus, urlsplit

KINDS = ("dingtalk", "wecom", "feishu", "serverchan", "email")
TIMEOUT = 10


class ChannelError(Exception):
    """A channel could not deliver; the message never contains a secret."""


class ConfigProblem(ValueError):
    """Channel settings that cannot work (missing URL, bad port...)."""


def dingtalk_sign(secret, timestamp_ms):
    string_to_sign = "%d\n%s" % (timestamp_ms, secret)
    digest = hmac.new(
        secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256
    ).digest()
    return quote_plus(base64.b64encode(digest))


def feishu_sign(secret, timestamp_s):
    string_to_sign = "%d\n%s" % (timestamp_s, secret)
    digest = hmac.new(string_to_sign.encode("utf-8"), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _mask_url(url):
    parts = urlsplit(url or "")
    # Host only: the path or query holds the key for Server酱, WeCom, DingTalk, Feishu.
    return "%s://%s/…" % (parts.scheme, parts.hostname) if parts.netloc else "(未设置 unset)"


class _Webhook:
    kind = ""

    def __init__(self, config):
        self.url = (config.get("url") or "").strip()
        self.secret = config.get("secret") or None
        if not self.url.startswith(("http://", "https://")):
            raise ConfigProblem(
                "%s 需要 http(s) 地址 --url / %s needs an http(s) --url" % (self.kind, self.kind)
            )

    def describe(self):
        return "%s %s%s" % (self.kind, _mask_url(self.url), " (加签 signed)" if self.secret else "")

    def request(self, title, text):
        """(url, keyword arguments for requests.post) that send one message."""
        raise NotImplementedError

    def send(self, title, text):
        import requests

        url, kwargs = self.request(title, text)
        try:
            resp = requests.post(url, timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            raise ChannelError(
                "%s 无法连接 / cannot reach the service (%s)" % (self.kind, type(exc).__name__)
            )
        self.check(resp)

    def check(self, resp):
        if resp.status_code != 200:
            raise ChannelError(
                "%s 返回 HTTP %d / the service answered HTTP %d"
                % (self.kind, resp.status_code, resp.status_code)
            )
        try:
            body = resp.json()
        except ValueError:
            return
        code = (
            body.get("errcode", body.get("code", body.get("StatusCode", 0)))
            if isinstance(body, dict)
            else 0
        )
        if code not in (0, None):
            message = body.get("errmsg") or body.get("msg") or body.get("message") or ""
            raise ChannelError(
                "%s 拒绝了消息 / rejected the message: %s %s"
                % (self.kind, code, str(message)[:120])
            )


class DingTalk(_Webhook):
    kind = "dingtalk"

    def request(self, title, text):
        url = self.url
        if self.secret:
            timestamp = int(time.time() * 1000)
            url += "%stimestamp=%d&sign=%s" % (
                "&" if "?" in url else "?",
                timestamp,
                dingtalk_sign(self.secret, timestamp),
            )
        body = {
            "msgtype": "markdown",
            "markdown": {"title": title, "text": "#### %s\n\n%s" % (title, text)},
        }
        return url, {"json": body}


class WeCom(_Webhook):
    kind = "wecom"

    def request(self, title, text):
        return self.url, {
            "json": {"msgtype": "markdown", "markdown": {"content": "**%s**\n%s" % (title, text)}}
        }


class Feishu(_Webhook):
    kind = "feishu"

    def request(self, title, text):
        body = {"msg_type": "text", "content": {"text": "%s\n%s" % (title, text)}}
        if self.secret:
            timestamp = int(time.time())
            body["timestamp"] = str(timestamp)
            body["sign"] = feishu_sign(self.secret, timestamp)
        return self.url, {"json": body}


class ServerChan(_Webhook):
    kind = "serverchan"

    def request(self, title, text):
        return self.url, {"data": {"title": title, "desp": text}}


class Email:
    kind = "email"

    def __init__(self, config):
        self.host = (config.get("host") or "").strip()
        self.port = config.get("port")
        self.security = config.get("security") or "starttls"
        self.username = config.get("username") or None
        self.password = config.get("password") or None
        self.sender = config.get("sender") or self.username
        self.to = [a.strip() for a in (config.get("to") or []) if a.strip()]
        if not self.host:
            raise ConfigProblem("email 需要 --smtp-host / email needs --smtp-host")
        if self.security not in ("starttls", "ssl", "none"):
            raise ConfigProblem(
                "--smtp-security 只能是 starttls/ssl/none / must be starttls, ssl or none"
            )
        if not self.to or not self.sender:
            raise ConfigProblem("email 需要 --to 和 --sender / email needs --to and --sender")
        try:
            self.port = int(self.port or {"ssl": 465, "starttls": 587}.get(self.security, 25))
        except (TypeError, ValueError):
            raise ConfigProblem("--smtp-port 必须是数字 / --smtp-port must be a number")

    def describe(self):
        return "email %s:%d (%s) -> %s" % (self.host, self.port, self.security, ", ".join(self.to))

    def message(self, title, text):
        msg = EmailMessage()
        msg["Subject"] = "[jq2qmt] %s" % title
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        msg.set_content(text)
        return msg

    def send(self, title, text):
        smtp_class = smtplib.SMTP_SSL if self.security == "ssl" else smtplib.SMTP
        try:
            with smtp_class(self.host, self.port, timeout=TIMEOUT) as smtp:
                if self.security == "starttls":
                    smtp.starttls()
                if self.username and self.password:
                    smtp.login(self.username, self.password)
                smtp.send_message(self.message(title, text))
        except (OSError, smtplib.SMTPException) as exc:
            raise ChannelError("email 发送失败 / sending failed (%s)" % type(exc).__name__)


_CLASSES = {
    "dingtalk": DingTalk,
    "wecom": WeCom,
    "feishu": Feishu,
    "serverchan": ServerChan,
    "email": Email,
}


def make_channel(kind, config):
    """A channel object for `kind` from its settings dict; raises ConfigProblem."""
    if kind not in _CLASSES:
        raise ConfigProblem(
            "未知渠道类型 / unknown channel kind %r (one of %s)" % (kind, ", ".join(KINDS))
        )
    return _CLASSES[kind](config)
