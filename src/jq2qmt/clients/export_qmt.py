"""Export the QMT built-in strategy file that follows one account.

The file carries the package's own follower loop, broker adapter, engine and rules
verbatim (see ``bundle.py``), so the trading logic exists once and is tested in the
package. It is GBK-encoded with ``# coding: gbk``, Python 3.6, stdlib + ``requests``.
"""

from pathlib import Path

from jq2qmt import __version__
from jq2qmt.clients import bundle
from jq2qmt.config import write_secret_bytes

ENCODING = "gbk"
DEFAULT_PERIOD = "1nSecond"
DEFAULT_TIMEOUT = 0.8
FOLLOWER_MODULES = [
    "jq2qmt.brokers.base", "jq2qmt.brokers.qmt_builtin",
    "jq2qmt.follower.client", "jq2qmt.follower.scheduler", "jq2qmt.follower.safety",
    "jq2qmt.follower.loop",
]
# Whole packages bundled with every module they hold (the engine imports its rules).
BUNDLED_PACKAGES = ["jq2qmt.rules", "jq2qmt.engine"]


class ExportError(Exception):
    """The QMT file cannot be written with the given settings."""


_HEADER = '''\
# coding: gbk
# =====================================================================================
# jq2qmt QMT 内置 Python 跟单脚本（由 `jq2qmt export qmt` 生成，jq2qmt %(version)s）
#
# 使用方法（QMT / 迅投极速策略交易系统；不同券商版本菜单名称略有差异）：
#   1. 顶部「我的」-> 点击「新建策略」-> 语言选 Python，打开策略编辑器；
#   2. 清空模板代码，把本文件的全部内容粘贴进去，点「保存」（文件保持 GBK 编码）；
#   3. 编辑器右侧「基本信息」：默认周期、品种任意（如 1 分钟、000300.SH），
#      账号类型选「股票」，资金账号选跟单账号 %(account)s；
#   4. 顶部「模型交易」-> 找到本策略 ->「运行」，运行方式选「实盘」（「模拟」只用于演练），
#      账号选同一个资金账号。日志出现 "[jq2qmt] 跟单已启动" 即成功；
#   5. 建议在「设置 -> 模型设置 -> Python 库」下载补全库（没有 requests 时自动用 urllib）。
#   脚本每 %(period)s 秒向服务器取一次目标仓位，只在交易时段下单。
#
# 安全开关（在 jq2qmt 服务器上设置，不需要修改本文件）：
#   jq2qmt account pause ID     暂停：不再下任何单；jq2qmt account resume ID 恢复；
#   jq2qmt account set ID --dry-run on   演练：只报告将要下的单，不下单；
#   服务器不可达、返回错误或数据异常时，本脚本什么都不做（绝不会因此清仓）。
#   需要停止时，也可以直接在 QMT 里停止本策略。
#
# 本脚本只认备注（userOrderId）以 "jq" 开头的委托为自己的委托；手工委托不会被撤销。
# 网络请求超时 %(timeout)s 秒，QMT 界面不会卡死。
# 请不要手工修改下面的程序；重新运行 `jq2qmt export qmt` 生成新文件。
# =====================================================================================

# ---- 设置（由导出命令填写） ----
SERVER_URL = %(server)r        # jq2qmt 服务器地址
TOKEN = %(token)r        # 本账号的跟单令牌（jq2qmt account token ID），不要外传
ACCOUNT_ID = %(account)r        # 资金账号；留空则使用 QMT 运行设置中的账号
TIMER_PERIOD = %(period_text)r        # 定时器周期
HTTP_TIMEOUT = %(timeout)r        # 每次网络请求的超时（秒）

'''

_TAIL = '''
import sys as _jq2qmt_sys

# QMT keeps modules loaded between runs of a strategy: drop the ones of an earlier
# paste so that this file's code is the code that runs.
for _jq2qmt_name in [n for n in _jq2qmt_sys.modules if n == "_jq2qmt" or n.startswith("_jq2qmt.")]:
    del _jq2qmt_sys.modules[_jq2qmt_name]

from _jq2qmt.brokers.qmt_builtin import BuiltinBroker as _Jq2qmtBroker  # noqa: E402
from _jq2qmt.follower.client import PlanClient as _Jq2qmtClient  # noqa: E402
from _jq2qmt.follower.loop import Follower as _Jq2qmtFollower  # noqa: E402
from _jq2qmt.follower.scheduler import beijing_now as _jq2qmt_beijing_now  # noqa: E402

_jq2qmt_state = {"follower": None, "line": None}


def _jq2qmt_clock():
    # Exchange (Beijing) time whatever the PC's time zone; a simulator may publish its
    # own clock as the global jq2qmt_clock.
    clock = globals().get("jq2qmt_clock")
    return clock() if clock is not None else _jq2qmt_beijing_now()


def _jq2qmt_log(message):
    print("[jq2qmt] %s" % (message,))


def init(ContextInfo):
    account_id = ACCOUNT_ID or str(globals().get("account") or "")
    if not account_id:
        _jq2qmt_log("未设置资金账号 / no account: set ACCOUNT_ID or the run settings")
        return
    broker = _Jq2qmtBroker(ContextInfo, account_id, passorder, get_trade_detail_data, cancel)
    client = _Jq2qmtClient(SERVER_URL, TOKEN, account_id, timeout=HTTP_TIMEOUT)
    _jq2qmt_state["follower"] = _Jq2qmtFollower(broker, client, _jq2qmt_clock, log=_jq2qmt_log)
    ContextInfo.run_time("jq2qmt_tick", TIMER_PERIOD, "2020-01-01 00:00:00")
    _jq2qmt_log("跟单已启动 / follower started: account %s, server %s" % (account_id, SERVER_URL))


def jq2qmt_tick(ContextInfo):
    follower = _jq2qmt_state["follower"]
    if follower is None:
        return
    follower.broker.context = ContextInfo
    report = follower.run_round()
    line = "%s %s" % (report["status"], report["plan_version"])
    if report["placed"] or report["errors"] or line != _jq2qmt_state["line"]:
        _jq2qmt_state["line"] = line
        _jq2qmt_log("%s status=%s plan=%s placed=%d cancelled=%d %s" % (
            report["round_id"], report["status"], report["plan_version"],
            len(report["placed"]), len(report["cancelled"]),
            "; ".join(report["errors"] + ([report["held_reason"]] if report["held_reason"] else []))))


def handlebar(ContextInfo):
    # Trading is driven by the timer above; bars need nothing.
    pass
'''


def bundled_modules():
    names = list(FOLLOWER_MODULES)
    for package in BUNDLED_PACKAGES:
        folder = bundle.PACKAGE_ROOT / package.split(".", 1)[1]
        for path in sorted(folder.glob("*.py")):
            if path.stem != "__init__":
                names.append("%s.%s" % (package, path.stem))
    return names


def _period_seconds(period):
    if period.endswith("nMilliSecond"):
        return float(period[:-len("nMilliSecond")]) / 1000
    if period.endswith("nSecond"):
        return float(period[:-len("nSecond")])
    raise ExportError("定时器周期格式应为 1nSecond 或 500nMilliSecond / bad period: %s" % period)


def render(server, token, account, period=DEFAULT_PERIOD, timeout=DEFAULT_TIMEOUT):
    """The text of the QMT file (encode it as GBK)."""
    if not server.startswith(("http://", "https://")):
        raise ExportError("服务器地址必须以 http:// 或 https:// 开头 / bad server URL: %s" % server)
    if not account:
        raise ExportError("需要资金账号 / an account id is required")
    seconds = _period_seconds(period)
    if not 0 < float(timeout) <= 5:
        raise ExportError("超时应在 0 到 5 秒之间 / timeout must be in (0, 5] s")
    header = _HEADER % {
        "version": __version__, "server": server.rstrip("/"), "token": token or "",
        "account": str(account), "period": ("%g" % seconds), "period_text": period,
        "timeout": float(timeout)}
    return header + bundle.bundle(bundled_modules(), encoding=ENCODING) + _TAIL


def export_qmt(out_dir, server, token, account, period=DEFAULT_PERIOD,
               timeout=DEFAULT_TIMEOUT):
    """Write ``jq2qmt_qmt_<account>.py`` into `out_dir`; returns its path."""
    text = render(server, token, account, period=period, timeout=timeout)
    try:
        data = text.encode(ENCODING)
    except UnicodeEncodeError as exc:
        raise ExportError("无法用 GBK 编码 / cannot encode as GBK: %s" % exc)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    safe_account = "".join(c if c.isalnum() else "_" for c in str(account))
    path = out / ("jq2qmt_qmt_%s.py" % safe_account)
    write_secret_bytes(path, data)  # it holds the follower token
    return path
