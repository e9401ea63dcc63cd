"""A fake `xtquant.xtpythonclient`: the Windows-only native module under `xttrader.py`.

`jq2qmt.sim.xtquant.install` puts this module into `sys.modules` as
`xtquant.xtpythonclient`, so the wheel's real, unchanged `xttrader.py` runs on any OS.
It has what `xttrader.py` uses: `XtQuantAsyncClient(path_bytes, name, session)` with
`init`/`start`/`stop`/`connect`/`setTimeout`/`nextSeq`, one `bind*Callback` per
binding `XtQuantTrader.__init__` makes, the `*WithSeq` requests of a stock account, and
the `*Req` request classes.

As in the native client, a request returns at once and is answered later from this
client's own thread (xttrader then hands the answer to its executor thread): a
synchronous `XtQuantTrader` call waits on a future until then. What a request answers
is decided by the miniQMT simulator it is attached to (`server`, a
`jq2qmt.sim.xtquant.XtQuantSim`): it returns the callbacks to fire, in order, and the
knobs that make a request go unanswered live there too.
"""

import itertools
import queue
import threading

# Every `async_client.bind*` call of XtQuantTrader.__init__ (xtquant 250807).
BINDINGS = (
    "OnSubscribeResp",
    "OnUnsubscribeResp",
    "OnQueryStockAsset",
    "OnQueryStockOrders",
    "OnQueryStockTrades",
    "OnQueryStockPositions",
    "OnQueryCreditDetailResp",
    "OnQueryStkCompactsResp",
    "OnQueryCreditSubjectsResp",
    "OnQueryCreditSloCodeResp",
    "OnQueryCreditAssureResp",
    "OnQueryNewPurchaseLimit",
    "OnQueryIPOData",
    "OnTransferResp",
    "OnQueryComFundResp",
    "OnSmtQueryQuoterResp",
    "OnSmtQueryOrderResp",
    "OnSmtQueryCompactResp",
    "OnQueryPositionStatisticsResp",
    "OnExportDataResp",
    "OnSyncTransactionFromExternalResp",
    "OnBankTransferResp",
    "OnQueryBankInfoResp",
    "OnQueryBankAmountResp",
    "OnQueryBankTransferStreamResp",
    "OnQuerySecuAccountResp",
    "OnCtpInternalTransferResp",
    "OnGetSmartAlgoParamResp",
    "OnSmartOrderStockResp",
    "OnQuerySmartAlgoTaskResp",
    "OnOperateSmartAlgoTaskResp",
    "OnQueryAccountInfos",
    "OnQueryAccountStatus",
    "OnOrderStockResp",
    "OnCancelOrderStockResp",
    "OnDisconnected",
    "OnUpdateAccountStatus",
    "OnStockAsset",
    "OnStockOrder",
    "OnStockTrade",
    "OnStockPosition",
    "OnOrderError",
    "OnCancelError",
    "OnSmtAppointmentResp",
)

# request method -> the simulator's name for it (XtQuantSim.answer)
REQUESTS = {
    "subscribeWithSeq": "subscribe",
    "unsubscribeWithSeq": "unsubscribe",
    "orderStockWithSeq": "order",
    "cancelOrderStockWithSeq": "cancel",
    "queryStockAssetWithSeq": "asset",
    "queryStockOrdersWithSeq": "orders",
    "queryStockTradesWithSeq": "trades",
    "queryStockPositionsWithSeq": "positions",
    "queryAccountInfosWithSeq": "account_infos",
    "queryAccountStatusWithSeq": "account_status",
}


class _Req:
    """A native request: xttrader sets its `m_*` fields one by one."""

    def fields(self):
        return dict(self.__dict__)

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, self.fields())


# Every `_XTQC_.<Name>Req()` (and TransferParam) xttrader.py builds.
_REQ_NAMES = (
    "SubscribeReq",
    "UnsubscribeReq",
    "OrderStockReq",
    "CancelOrderStockReq",
    "QueryAccountInfosReq",
    "QueryAccountStatusReq",
    "QueryStockAssetReq",
    "QueryStockOrdersReq",
    "QueryStockTradesReq",
    "QueryStockPositionsReq",
    "QueryCreditDetailReq",
    "QueryStkCompactsReq",
    "QueryCreditSubjectsReq",
    "QueryCreditSloCodeReq",
    "QueryCreditAssureReq",
    "QueryNewPurchaseLimitReq",
    "QueryIPODataReq",
    "QueryComFundReq",
    "QueryComPositionReq",
    "QueryPositionStatisticsReq",
    "QuerySecuAccountReq",
    "QueryBankInfoReq",
    "QueryBankAmountReq",
    "QueryBankTransferStreamReq",
    "BankTransferReq",
    "CtpInternalTransferReq",
    "OperateSmartAlgoTaskReq",
    "SmtAppointmentCancelReq",
    "SmtAppointmentOrderReq",
    "SmtCompactRenewalReq",
    "SmtCompactReturnReq",
    "SmtNegotiateOrderReq",
    "SmtQueryCompactReq",
    "SmtQueryOrderReq",
    "SmtQueryQuoterReq",
    "TransferParam",
)
for _name in _REQ_NAMES:
    globals()[_name] = type(_name, (_Req,), {})
del _name


class Native:
    """A native result object: plain attributes, more than xttype's classes have."""

    def __init__(self, kind, **fields):
        self.__dict__.update(fields)
        self._kind = kind

    def __repr__(self):
        return "<native %s %s>" % (
            self._kind,
            dict((k, v) for k, v in self.__dict__.items() if k != "_kind"),
        )


_SERVER = None


def attach(server):
    """Answer every client created from now on from `server` (None detaches)."""
    global _SERVER
    _SERVER = server


_STOP = object()


class XtQuantAsyncClient:
    """The native async client: requests queue up, its own thread answers them."""

    def __init__(self, path, name, session):
        if _SERVER is None:
            raise RuntimeError("no miniQMT simulator attached (jq2qmt.sim.xtquant.install)")
        if not isinstance(path, bytes):
            raise TypeError("path must be bytes (xttrader encodes it as gb18030)")
        self.server = _SERVER
        self.path = path.decode("gb18030")
        self.name = name
        self.session = session
        self.callbacks = {}
        self.timeout = None
        self.started = False
        self.stopped = False
        self.connected = False
        self.disconnected = False
        self._seq = itertools.count(1)
        self._seq_lock = threading.Lock()
        self._jobs = queue.Queue()
        self._thread = None
        self.server.clients.append(self)

    # ---- lifecycle ------------------------------------------------------------------------
    def init(self):
        return 0

    def start(self):
        if self._thread is None:
            self.started = True
            self._thread = threading.Thread(
                target=self._serve, daemon=True, name="xtpythonclient-%s" % self.session
            )
            self._thread.start()
        return 0

    def stop(self):
        self.stopped = True
        self.connected = False
        if self._thread is not None:
            self._jobs.put(_STOP)
        return 0

    def connect(self):
        """Blocking, as the native connect: 0 when connected."""
        result = self.server.connect(self)
        self.connected = result == 0
        return result

    def setTimeout(self, timeout):
        self.timeout = timeout

    def nextSeq(self):
        with self._seq_lock:
            return next(self._seq)

    # ---- the native thread ------------------------------------------------------------------
    def _serve(self):
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            try:
                job()
            except Exception as exc:  # a failing job must not kill the native thread
                self.server.errors.append(exc)

    def later(self, job):
        """Run `job` on this client's thread (after the current call returned)."""
        if not self.stopped and self._thread is not None:
            self._jobs.put(job)

    def fire(self, binding, *args):
        """Call the callback xttrader bound for `binding` (from the native thread)."""
        callback = self.callbacks.get(binding)
        if callback is not None:
            callback(*args)

    def push(self, binding, *args):
        """A push (order update, error, disconnect): fired from the native thread."""
        self.later(lambda: self.fire(binding, *args))

    def _request(self, kind, seq, req):
        self.server.requests.append((self.session, kind, seq, req.fields()))
        if self.server.hangs(kind) or not self.connected or self.disconnected:
            return 0  # accepted, never answered
        lost = kind in self.server.lose_answer

        def answer():
            for binding, args in self.server.answer(self, kind, seq, req):
                if not lost:
                    self.fire(binding, *args)

        self.later(answer)
        return 0


def _binder(binding):
    def bind(self, callback):
        self.callbacks[binding] = callback

    bind.__name__ = "bind%sCallback" % binding
    return bind


def _requester(kind):
    def request(self, seq, req):
        return self._request(kind, seq, req)

    return request


for _binding in BINDINGS:
    setattr(XtQuantAsyncClient, "bind%sCallback" % _binding, _binder(_binding))
for _method, _kind in REQUESTS.items():
    setattr(XtQuantAsyncClient, _method, _requester(_kind))
del _binding, _method, _kind
