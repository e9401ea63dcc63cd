"""Export the QMT built-in strategy file that follows one account.

The file carries the package's own follower loop, broker adapter, engine and rules
verbatim (see ``bundle.py``), so the trading logic exists once and is tested in the
package. It is GBK-encoded with ``# coding: gbk``, Python 3.6, standard library only.

How the file lives with QMT (docs/platforms.md, "QMT built-in"):
- every strategy of a QMT client runs on one Python thread, so the timer callback never
  waits on the network: HTTP runs on a background thread (follower/background.py) and
  the callback takes what it has answered; the callback only reads the account, runs
  the engine and places orders (QMT functions are called on QMT's thread only);
- QMT re-runs a running strategy (file executed again, `init` again) at the day switch
  and on reconnects: what is in flight lives in a journal file beside the user's home
  (follower/journal.py) and in an interpreter-wide registry, and the follower of an
  earlier run of the file stops acting once a newer run has started;
- orders QMT refuses after `passorder` returned come back through
  `orderError_callback` and leave the in-flight set.
"""

from pathlib import Path

from jq2qmt import __version__
from jq2qmt.clients import bundle
from jq2qmt.config import write_secret_bytes

ENCODING = "gbk"
DEFAULT_PERIOD = "1nSecond"
DEFAULT_TIMEOUT = 0.8
HTTP_MODES = ("auto", "thread", "inline")
FOLLOWER_MODULES = [
    "jq2qmt.brokers.base",
    "jq2qmt.brokers.qmt_builtin",
    "jq2qmt.follower.http_session",
    "jq2qmt.follower.client",
    "jq2qmt.follower.background",
    "jq2qmt.follower.scheduler",
    "jq2qmt.follower.safety",
    "jq2qmt.follower.journal",
    "jq2qmt.follower.loop",
]
# Whole packages bundled with every module they hold (the engine imports its rules).
BUNDLED_PACKAGES = ["jq2qmt.rules", "jq2qmt.engine"]


class ExportError(Exception):
    """The QMT file cannot be written with the given settings."""


_HEADER = """\
# coding: gbk
# =====================================================================================
# jq2qmt QMT 内置 Python 跟单脚本（由 `jq2qmt export qmt` 生成，jq2qmt %(version)s）
#
# 使用方法（QMT / 迅投极速策略交易系统；不同券商版本菜单名称略有差异）：
#   1. 顶部「我的」-> 点击「新建策略」-> 语言选 Python，打开策略编辑器；
#   2. 清空模板代码，把本文件的全部内容粘贴进去，点「保存」（文件保持 GBK 编码）；
#   3. 编辑器右侧「基本信息」：默认周期、品种任意（如 1 分钟、000300.SH），
#      账号类型选「股票」，资金账号选跟单账号 %(account)s；
#   4. 顶部「模型交易」-> 找到本策略 ->「运行」，运行方式选「实盘」，账号选同一个资金账号。
#      「模拟」运行方式下 QMT 不会真正下单：脚本会报告“委托未出现在委托列表”且不重复下单。
#      日志出现 "[jq2qmt] 跟单已启动" 即成功；
#   5. 新账户先进入「预检」：脚本只读取持仓、资金、委托和行情并报告给服务器，不下任何单；
#      在服务器「跟单」页面核对后点「确认账户，开始跟单」（或 jq2qmt account confirm ID）。
#   脚本每 %(period)s 秒检查一次目标仓位，只在交易日的交易时段下单。
#
# 它如何与 QMT 相处：
#   - 网络请求在后台线程进行，定时器回调从不等待网络；服务器无响应时本策略和 QMT 界面都不会卡住，
#     连续失败时按 1、2、4…30 秒退避重试，日志每分钟最多提示一次；
#   - QMT 换日或行情重连时会重新运行策略：已下但尚未出现在委托列表的委托记在日志文件
#     （JOURNAL_DIR，默认在用户目录的 jq2qmt 文件夹）里，重新运行或重启 QMT 后不会重复下单；
#   - 刚下的买单在 QMT 资金刷新前不会重复占用同一笔现金；行情超过 2 分钟未更新的股票暂不交易。
#
# 安全开关（在 jq2qmt 服务器上设置，不需要修改本文件）：
#   jq2qmt account pause ID     暂停：不再下任何单；jq2qmt account resume ID 恢复；
#   jq2qmt account set ID --dry-run on   演练：只报告将要下的单，不下单；
#   服务器不可达、返回错误或数据异常时，本脚本什么都不做（绝不会因此清仓）。
#   需要停止时，也可以直接在 QMT 里停止本策略。
#
# 本脚本只认备注（userOrderId）以 "jq" 开头的委托为自己的委托；手工委托不会被撤销。
# 请不要手工修改下面的程序；重新运行 `jq2qmt export qmt` 生成新文件。
# =====================================================================================

# ---- 设置（由导出命令填写） ----
SERVER_URL = %(server)r        # jq2qmt 服务器地址
TOKEN = %(token)r        # 本账号的跟单令牌（jq2qmt account token ID），不要外传
ACCOUNT_ID = %(account)r        # 资金账号；留空则使用 QMT 运行设置中的账号
TIMER_PERIOD = %(period_text)r        # 定时器周期
HTTP_TIMEOUT = %(timeout)r        # 每次网络请求的超时（秒）
HTTP_MODE = %(http_mode)r        # auto：后台线程（不可用时退回短超时的同步请求）；thread；inline
JOURNAL_DIR = %(journal_dir)r        # 在途委托日志所在文件夹；留空则用环境变量 JQ2QMT_JOURNAL_DIR 或用户目录下的 jq2qmt
JQ2QMT_VERSION = %(version)r        # 生成本文件的 jq2qmt 版本（随报告发给服务器）

"""

_TAIL = """
import datetime as _jq2qmt_datetime
import os as _jq2qmt_os
import time as _jq2qmt_time

_Jq2qmtBroker = _jq2qmt_modules["_jq2qmt.brokers.qmt_builtin"].BuiltinBroker
_Jq2qmtClient = _jq2qmt_modules["_jq2qmt.follower.client"].PlanClient
_Jq2qmtBackground = _jq2qmt_modules["_jq2qmt.follower.background"].BackgroundClient
_Jq2qmtJournal = _jq2qmt_modules["_jq2qmt.follower.journal"]
_Jq2qmtFollower = _jq2qmt_modules["_jq2qmt.follower.loop"].Follower
_jq2qmt_beijing_now = _jq2qmt_modules["_jq2qmt.follower.scheduler"].beijing_now


def _jq2qmt_runtime():
    # One registry per QMT interpreter, kept across re-runs of this file (QMT executes
    # it again in fresh globals): journals in memory, HTTP workers, the live follower
    # of each account. It is reached through sys.modules, never imported.
    runtime = _jq2qmt_sys.modules.get("_jq2qmt_runtime")
    if runtime is None:
        runtime = _jq2qmt_types.ModuleType("_jq2qmt_runtime")
        runtime.journals, runtime.clients, runtime.followers = {}, {}, {}
        _jq2qmt_sys.modules["_jq2qmt_runtime"] = runtime
    return runtime


_jq2qmt_state = {"follower": None, "line": None, "line_at": None, "timer": False}


def _jq2qmt_clock():
    # Exchange (Beijing) time whatever the PC's time zone; a simulator may publish its
    # own clock as the global jq2qmt_clock.
    clock = globals().get("jq2qmt_clock")
    return clock() if clock is not None else _jq2qmt_beijing_now()


def _jq2qmt_seconds():
    # Backoff and staleness of the HTTP worker follow the same clock as the follower.
    clock = globals().get("jq2qmt_clock")
    if clock is None:
        return _jq2qmt_time.monotonic()
    return (clock() - _jq2qmt_datetime.datetime(2000, 1, 1)).total_seconds()


def _jq2qmt_log(message):
    print("[jq2qmt] %s" % (message,))


def _jq2qmt_journal_path(account_id):
    folder = JOURNAL_DIR or _jq2qmt_os.environ.get("JQ2QMT_JOURNAL_DIR") or \\
        _jq2qmt_os.path.join(_jq2qmt_os.path.expanduser("~"), "jq2qmt")
    return _Jq2qmtJournal.default_path(folder, account_id)


def init(ContextInfo):
    account_id = ACCOUNT_ID or str(globals().get("account") or "")
    if not account_id:
        _jq2qmt_log("未设置资金账号 / no account: set ACCOUNT_ID or the run settings")
        return
    runtime = _jq2qmt_runtime()
    earlier = runtime.clients.pop(account_id, None)
    if earlier is not None:  # a re-run: the earlier run's worker stops, its state carries on
        earlier.close(timeout=0)  # never wait for its request on QMT's thread
    broker = _Jq2qmtBroker(ContextInfo, account_id, passorder, get_trade_detail_data, cancel)
    client = _Jq2qmtBackground(_Jq2qmtClient(SERVER_URL, TOKEN, account_id, timeout=HTTP_TIMEOUT),
                               mode=HTTP_MODE, log=_jq2qmt_log, clock=_jq2qmt_seconds)
    journal = _Jq2qmtJournal.Journal(_jq2qmt_journal_path(account_id), account_id,
                                     memory=runtime.journals, log=_jq2qmt_log)
    follower = _Jq2qmtFollower(broker, client, _jq2qmt_clock, log=_jq2qmt_log, journal=journal,
                               version=JQ2QMT_VERSION)
    runtime.clients[account_id] = client
    runtime.followers[account_id] = follower
    _jq2qmt_state["follower"] = follower
    try:  # start the first plan request now: the first tick finds its answer
        client.fetch_plan(None)
    except Exception:
        pass
    if not _jq2qmt_state["timer"]:  # init called again without a re-run: one timer only
        ContextInfo.run_time("jq2qmt_tick", TIMER_PERIOD, "2020-01-01 00:00:00")
        _jq2qmt_state["timer"] = True
    _jq2qmt_log("跟单已启动 / follower started: account %s, server %s, http %s, journal %s"
                % (account_id, SERVER_URL, client.mode, journal.path))


def _jq2qmt_live():
    # The follower of this run, unless a newer run of the file took the account over.
    follower = _jq2qmt_state["follower"]
    if follower is None:
        return None
    if _jq2qmt_runtime().followers.get(follower.broker.account_id) is not follower:
        return None
    return follower


def jq2qmt_tick(ContextInfo):
    follower = _jq2qmt_live()
    if follower is None:
        return
    follower.broker.context = ContextInfo
    report = follower.run_round()
    problems = report["errors"] + ([report["held_reason"]] if report["held_reason"] else [])
    line = "%s %s %s" % (report["status"], report["plan_version"], "; ".join(problems))
    now = _jq2qmt_seconds()
    repeat = line == _jq2qmt_state["line"] and now - (_jq2qmt_state["line_at"] or now) < 60
    if report["placed"] or report["cancelled"] or not repeat:
        _jq2qmt_state["line"], _jq2qmt_state["line_at"] = line, now
        _jq2qmt_log("%s status=%s plan=%s placed=%d cancelled=%d %s" % (
            report["round_id"], report["status"], report["plan_version"],
            len(report["placed"]), len(report["cancelled"]), "; ".join(problems)))


def jq2qmt_settle(timeout):
    # For simulators: wait (real time) until the HTTP worker is idle.
    follower = _jq2qmt_live()
    return True if follower is None else follower.client.settle(timeout)


def orderError_callback(ContextInfo, passOrderInfo, msg):
    # QMT refused an order after passorder returned: it will never be listed.
    follower = _jq2qmt_live()
    if follower is None:
        return
    # QMT hands back the order's arguments; the remark travels inside strategyName
    # ("jq2qmt_&&&_<remark>"), some builds also name it userOrderId / strRemark.
    remark = ""
    for name in ("userOrderId", "strRemark", "remark", "strategyName"):
        value = passOrderInfo.get(name) if isinstance(passOrderInfo, dict) else \\
            getattr(passOrderInfo, name, None)
        if value:
            remark = str(value).split("_&&&_")[-1]
            break
    follower.order_error(remark, msg)


def handlebar(ContextInfo):
    # Trading is driven by the timer above; bars need nothing.
    pass
"""


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
        return float(period[: -len("nMilliSecond")]) / 1000
    if period.endswith("nSecond"):
        return float(period[: -len("nSecond")])
    raise ExportError("定时器周期格式应为 1nSecond 或 500nMilliSecond / bad period: %s" % period)


def render(
    server,
    token,
    account,
    period=DEFAULT_PERIOD,
    timeout=DEFAULT_TIMEOUT,
    journal_dir="",
    http_mode="auto",
):
    """The text of the QMT file (encode it as GBK)."""
    if not server.startswith(("http://", "https://")):
        raise ExportError("服务器地址必须以 http:// 或 https:// 开头 / bad server URL: %s" % server)
    if not account:
        raise ExportError("需要资金账号 / an account id is required")
    seconds = _period_seconds(period)
    if not 0 < float(timeout) <= 5:
        raise ExportError("超时应在 0 到 5 秒之间 / timeout must be in (0, 5] s")
    if http_mode not in HTTP_MODES:
        raise ExportError(
            "HTTP 模式应为 %s 之一 / http mode must be one of %s"
            % ("、".join(HTTP_MODES), ", ".join(HTTP_MODES))
        )
    header = _HEADER % {
        "version": __version__,
        "server": server.rstrip("/"),
        "token": token or "",
        "account": str(account),
        "period": ("%g" % seconds),
        "period_text": period,
        "timeout": float(timeout),
        "http_mode": http_mode,
        "journal_dir": str(journal_dir or ""),
    }
    return header + bundle.bundle(bundled_modules(), encoding=ENCODING) + _TAIL


def export_qmt(
    out_dir,
    server,
    token,
    account,
    period=DEFAULT_PERIOD,
    timeout=DEFAULT_TIMEOUT,
    journal_dir="",
    http_mode="auto",
):
    """Write ``jq2qmt_qmt_<account>.py`` into `out_dir`; returns its path."""
    text = render(
        server,
        token,
        account,
        period=period,
        timeout=timeout,
        journal_dir=journal_dir,
        http_mode=http_mode,
    )
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
