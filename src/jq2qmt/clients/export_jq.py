"""Export the JoinQuant client files: ``jq_qmt_api.py``, ``jq_config.py`` and the key.

The user uploads the three files to the JoinQuant research root. ``jq_qmt_api.py``
carries ``jq2qmt.signing`` and ``jq2qmt.clients.jq_api`` verbatim (see ``bundle.py``),
so the uploader logic exists once, in the package, and is tested there.
"""

from pathlib import Path
from urllib.parse import urlsplit

from jq2qmt import __version__
from jq2qmt.clients import bundle
from jq2qmt.config import write_secret_bytes

API_FILE = "jq_qmt_api.py"
CONFIG_FILE = "jq_config.py"
KEY_FILE = "jq2qmt_private_key.pem"
BUNDLED_MODULES = ["jq2qmt.signing", "jq2qmt.clients.jq_api"]
_UNREACHABLE_HOSTS = {"127.0.0.1", "localhost", "0.0.0.0", "::1", "::"}

_API_HEADER = '''\
# -*- coding: utf-8 -*-
"""jq2qmt 聚宽端上传客户端（由 `jq2qmt export jq` 生成，jq2qmt %(version)s）。

把本文件、jq_config.py 和私钥文件 %(key_file)s 一起上传到聚宽「研究环境」根目录，
然后在策略中：

    from jq_qmt_api import JQQMTAPI
    g.jq_qmt_api = JQQMTAPI()
    # 每次调仓之后：
    g.jq_qmt_api.sync_portfolio(context, '我的策略')

原来的写法 `update_positions(策略名, 持仓列表)` 仍然可用。上传失败只写日志，不会让策略
报错（在 jq_config.py 里设置 RAISE_ERRORS = True 可改为抛出异常）。

请不要手工修改本文件：修改 jq2qmt 源码后重新运行 `jq2qmt export jq`。
只依赖 requests 和 cryptography（聚宽都有）；已在 Python 3.6 上测试 cryptography 3.0 至 40.0.2、
requests 2.18.4 至 2.27.1。
Generated file; needs only `requests` and `cryptography` (both present on JoinQuant).
"""
'''

_API_TAIL = """
import os as _os

from _jq2qmt.clients.jq_api import JQQMTAPI, UploadError  # noqa: E402

try:  # the key file may also sit beside this file when run outside JoinQuant
    JQQMTAPI.key_dirs = (_os.path.dirname(_os.path.abspath(__file__)),)
except NameError:
    pass

__all__ = ["JQQMTAPI", "UploadError"]
"""

_CONFIG_TEMPLATE = """\
# -*- coding: utf-8 -*-
# jq2qmt 聚宽端配置（由 `jq2qmt export jq` 生成）。
# 与 jq_qmt_api.py、私钥文件一起上传到聚宽「研究环境」根目录。
# 可以直接修改下面的值；修改后重新运行策略即生效。

# 服务器地址：聚宽服务器必须能访问到（公网 IP 或域名；建议 https）。
API_URL = %(api_url)r

# 本客户端在服务器上登记的编号（与私钥配对）。
CLIENT_ID = %(client_id)r

# 私钥文件名：与本文件放在同一目录（研究环境根目录）。不要公开它。
PRIVATE_KEY_FILE = %(key_file)r

# 连接超时、单次请求读取超时（秒）。
CONNECT_TIMEOUT = 3
TIMEOUT = 5

# 一次上传（包含所有重试）最多占用的总时间（秒），超过就放弃并写日志，策略继续运行。
TOTAL_TIMEOUT = 10

# 网络错误、超时、服务器 5xx/429 时最多重试几次；每次等待 BACKOFF、2×BACKOFF……秒。
# 其他 4xx（数据或签名被拒绝）不重试，直接在日志里写明服务器给出的原因。
MAX_RETRIES = 3
BACKOFF = 0.5

# 回测时是否也上传。默认 False：只有模拟交易（sim_trade）才上传，回测不会覆盖实盘目标。
ALLOW_BACKTEST = False

# 上传失败时是否抛出异常。默认 False：只写日志，不打断策略。
RAISE_ERRORS = False

# 还有未完成订单时跳过本次上传（调仓做了一半不是目标仓位）。
SKIP_WHEN_OPEN_ORDERS = True

# 持仓与上次成功上传完全相同时不重复上传。
SKIP_UNCHANGED = True

# 使用 https 时是否校验服务器证书（自签名证书可设为 False，不推荐）。
VERIFY_TLS = True
"""


_TOKEN_TEMPLATE = """
# 令牌模式（服务器用 `jq2qmt init --key-type token` 初始化）：不签名，用这个上传令牌认证。
# 令牌等同密码，不要公开本文件。设置了它就不再读取私钥文件。
UPLOAD_TOKEN = %(upload_token)r
"""


class ExportError(Exception):
    """The instance cannot produce client files (message is for the user)."""


def _read_key(settings, upload_token):
    if not settings.public_url or not settings.jq_client_id:
        raise ExportError(
            "实例缺少 public_url 或 jq_client_id / instance has no public_url or jq_client_id"
        )
    if upload_token:
        return None
    key_path = Path(settings.jq_private_key_path)
    if not key_path.is_file():
        raise ExportError(
            "找不到聚宽私钥 / JoinQuant private key not found: %s（令牌模式的实例请用 "
            "--upload-token 传入 init 时显示的上传令牌 / token-mode instance: pass "
            "--upload-token）" % key_path
        )
    return key_path.read_bytes()


def api_source():
    """The text of ``jq_qmt_api.py``."""
    header = _API_HEADER % {"version": __version__, "key_file": KEY_FILE}
    return header + bundle.bundle(BUNDLED_MODULES) + _API_TAIL


def config_source(api_url, client_id, key_file=KEY_FILE, upload_token=None):
    """The text of ``jq_config.py``."""
    text = _CONFIG_TEMPLATE % {"api_url": api_url, "client_id": client_id, "key_file": key_file}
    if upload_token:
        text += _TOKEN_TEMPLATE % {"upload_token": upload_token}
    return text


def export_jq(settings, out_dir, api_url=None, upload_token=None):
    """Write the JoinQuant files for `settings` into `out_dir`; returns their paths.

    `api_url` overrides ``settings.public_url`` (the address JoinQuant must reach).
    `upload_token`: for an instance set up in token mode (no key pair); the token goes
    into ``jq_config.py`` (then written owner-only) and no key file is written.
    Nothing is written when the instance lacks its key or URL.
    """
    key = _read_key(settings, upload_token)
    url = (api_url or settings.public_url).rstrip("/")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    api_path = out_dir / API_FILE
    config_path = out_dir / CONFIG_FILE
    api_path.write_text(api_source(), encoding="utf-8")
    config_text = config_source(url, settings.jq_client_id, upload_token=upload_token)
    if upload_token:
        write_secret_bytes(config_path, config_text.encode("utf-8"))
        return [api_path, config_path]
    config_path.write_text(config_text, encoding="utf-8")
    key_path = out_dir / KEY_FILE
    write_secret_bytes(key_path, key)
    return [api_path, config_path, key_path]


def unreachable_url(url):
    """True when JoinQuant's servers could never reach `url` (loopback, 0.0.0.0)."""
    host = (urlsplit(url).hostname or "").lower()
    return host in _UNREACHABLE_HOSTS or host.startswith("127.")


def next_steps(paths, api_url):
    """The three steps to do on JoinQuant, in Chinese, for the CLI to print."""
    names = "、".join(Path(p).name for p in paths)
    lines = [
        "已生成聚宽端文件 / JoinQuant files written to %s:" % Path(paths[0]).parent,
    ]
    lines += ["  %s" % p for p in paths]
    lines += [
        "",
        "在聚宽上还需要三步：",
        "  1. 打开聚宽「研究环境」，把 %s 上传到根目录（私钥、令牌不要分享给任何人）。" % names,
        "  2. 在策略开头加入：",
        "         from jq_qmt_api import JQQMTAPI",
        "         g.jq_qmt_api = JQQMTAPI()",
        "     并在每次调仓之后加入：",
        "         g.jq_qmt_api.sync_portfolio(context, '你的策略名')",
        "  3. 用「模拟交易」运行策略（回测不会上传）；第一次调仓后，在服务器上查看：",
        "         GET %s/api/v1/positions/total" % api_url,
    ]
    if unreachable_url(api_url):
        lines += [
            "",
            "注意：服务器地址 %s 只能在本机访问，聚宽无法连接。请用 --url 指定公网地址，"
            "或在实例配置中设置 [server] public_url。" % api_url,
        ]
    return "\n".join(lines)
