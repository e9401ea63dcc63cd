# -*- coding: utf-8 -*-
# jq2qmt 示例策略（聚宽）：固定权重组合，每天 10:00 再平衡，调仓后把持仓上传到 jq2qmt 服务器。
#
# 使用前：用 `jq2qmt export jq` 生成 jq_qmt_api.py、jq_config.py 和私钥文件，
# 上传到聚宽「研究环境」根目录；然后新建策略，粘贴本文件，以「模拟交易」运行。
# 回测时不会上传任何东西（回测不能覆盖实盘目标）。
from jq_qmt_api import JQQMTAPI
from jqdata import *

# 服务器上的策略名：QMT 跟单端按这个名字选择要跟的策略。
STRATEGY_NAME = "jq2qmt示例-固定权重"

# 目标权重（占总资产），剩下的留作现金。
TARGET_WEIGHTS = {
    "600519.XSHG": 0.30,  # 贵州茅台
    "600036.XSHG": 0.25,  # 招商银行
    "000858.XSHE": 0.20,  # 五粮液
    "000333.XSHE": 0.20,  # 美的集团
}


def initialize(context):
    set_benchmark("000300.XSHG")
    set_option("use_real_price", True)
    set_order_cost(
        OrderCost(
            open_tax=0,
            close_tax=0.001,
            open_commission=0.0003,
            close_commission=0.0003,
            close_today_commission=0,
            min_commission=5,
        ),
        type="stock",
    )
    # 上传客户端：读取 jq_config.py；上传失败只写日志，不会打断策略。
    g.jq_qmt_api = JQQMTAPI()
    run_daily(rebalance, time="10:00")
    # 10:00 调仓若还有未成交订单，那次上传会被跳过；14:50 再补一次（持仓没变就不会重复上传）。
    run_daily(upload_positions, time="14:50")


def rebalance(context):
    current = get_current_data()
    total_value = context.portfolio.total_value
    # 不在目标里的股票清仓。
    for code, position in list(context.portfolio.positions.items()):
        if position.total_amount > 0 and code not in TARGET_WEIGHTS and not current[code].paused:
            order_target(code, 0)
    # 先卖后买：先处理超配的股票，腾出资金再买欠配的。
    targets = [
        (code, total_value * weight)
        for code, weight in TARGET_WEIGHTS.items()
        if not current[code].paused
    ]
    held_value = {code: context.portfolio.positions[code].value for code, _ in targets}
    for code, value in sorted(targets, key=lambda t: t[1] - held_value[t[0]]):
        order_target_value(code, value)
    upload_positions(context)


def upload_positions(context):
    # 只在模拟交易中上传；有未完成订单或持仓未变化时跳过，并在日志中说明原因。
    version = g.jq_qmt_api.sync_portfolio(context, STRATEGY_NAME)
    if version is not None:
        log.info("jq2qmt 已接收持仓，版本 %s" % version)
