# -*- coding: utf-8 -*-
# 一个已有的聚宽策略（改造前）：每周一把资金等权买入股票池。
# minimal_diff.diff 展示接入 jq2qmt 只需要改的三行。
from jqdata import *

STOCK_POOL = ["600000.XSHG", "000001.XSHE", "601318.XSHG"]


def initialize(context):
    set_benchmark("000300.XSHG")
    set_option("use_real_price", True)
    run_weekly(weekly_adjust, weekday=1, time="9:35")


def weekly_adjust(context):
    value = context.portfolio.total_value * 0.95 / len(STOCK_POOL)
    for code in STOCK_POOL:
        order_target_value(code, value)
