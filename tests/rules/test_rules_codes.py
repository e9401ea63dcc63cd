"""Code forms and boards, table-driven with real codes."""

import pytest

from jq2qmt.rules import codes


@pytest.mark.parametrize(
    "raw, qmt, jq",
    [
        ("600000.XSHG", "600000.SH", "600000.XSHG"),
        ("600000.SH", "600000.SH", "600000.XSHG"),
        ("000001.XSHE", "000001.SZ", "000001.XSHE"),
        ("000001.sz", "000001.SZ", "000001.XSHE"),
        ("688981.XSHG", "688981.SH", "688981.XSHG"),
        ("300750.XSHE", "300750.SZ", "300750.XSHE"),
        ("430047.BJ", "430047.BJ", "430047.BJ"),
        ("920118.BJ", "920118.BJ", "920118.BJ"),
        ("510300.xshg", "510300.SH", "510300.XSHG"),
    ],
)
def test_forms(raw, qmt, jq):
    assert codes.normalize(raw) == qmt
    assert codes.to_qmt(raw) == qmt
    assert codes.to_jq(raw) == jq
    assert codes.to_qmt(codes.to_jq(raw)) == qmt


@pytest.mark.parametrize(
    "raw",
    [
        "600000",
        "600000.SS",
        "60000.SH",
        "6000000.SH",
        "SH600000",
        "600000.XSHGX",
        "",
        "600000.",
        ".SH",
        "60000a.SH",
        None,
        600000,
    ],
)
def test_unknown_forms_raise_a_value_error(raw):
    with pytest.raises(codes.CodeError) as info:
        codes.normalize(raw)
    assert isinstance(info.value, ValueError)
    assert not codes.is_valid(raw)


@pytest.mark.parametrize(
    "code, board",
    [
        ("600000.SH", codes.SH_MAIN),
        ("601318.SH", codes.SH_MAIN),
        ("603288.SH", codes.SH_MAIN),
        ("605499.SH", codes.SH_MAIN),
        ("688981.SH", codes.STAR),
        ("689009.SH", codes.STAR),
        ("000001.SZ", codes.SZ_MAIN),
        ("001979.SZ", codes.SZ_MAIN),
        ("002594.SZ", codes.SZ_MAIN),
        ("003816.SZ", codes.SZ_MAIN),
        ("300750.SZ", codes.CHINEXT),
        ("301269.SZ", codes.CHINEXT),
        ("430047.BJ", codes.BJ),
        ("830799.BJ", codes.BJ),
        ("920118.BJ", codes.BJ),
        ("510300.SH", codes.FUND),
        ("588000.SH", codes.FUND),
        ("563300.SH", codes.FUND),
        ("159915.SZ", codes.FUND),
        ("161725.SZ", codes.FUND),
        ("113050.SH", codes.BOND),
        ("110059.SH", codes.BOND),
        ("118000.SH", codes.BOND),
        ("123107.SZ", codes.BOND),
        ("127045.SZ", codes.BOND),
        ("128136.SZ", codes.BOND),
        ("204001.SH", codes.REPO),
        ("131810.SZ", codes.REPO),
        ("730001.SH", codes.SUBSCRIPTION),
        ("787981.SH", codes.SUBSCRIPTION),
        ("780001.SH", codes.SUBSCRIPTION),
        ("070001.SZ", codes.SUBSCRIPTION),
        ("000300.SH", codes.INDEX),
        ("399001.SZ", codes.INDEX),
        ("900901.SH", codes.B_SHARE),
        ("200002.SZ", codes.B_SHARE),
        ("600000.SZ", codes.UNKNOWN),
    ],
)
def test_board_by_code(code, board):
    assert codes.board(code) == board
    assert codes.board(codes.to_jq(code)) == board


@pytest.mark.parametrize(
    "code, never",
    [
        ("204001.SH", True),
        ("131810.SZ", True),
        ("730001.SH", True),
        ("787981.SH", True),
        ("000300.XSHG", True),
        ("900901.SH", True),
        ("600000.SZ", True),
        ("600000.SH", False),
        ("688981.SH", False),
        ("300750.SZ", False),
        ("430047.BJ", False),
        ("510300.SH", False),
        ("159915.SZ", False),
        ("113050.SH", False),
        ("123107.SZ", False),
    ],
)
def test_never_traded(code, never):
    assert codes.is_never_traded(code) is never


@pytest.mark.parametrize(
    "code, stock",
    [
        ("600000.SH", True),
        ("688981.SH", True),
        ("430047.BJ", True),
        ("510300.SH", False),
        ("113050.SH", False),
    ],
)
def test_is_stock(code, stock):
    assert codes.is_stock(code) is stock


@pytest.mark.parametrize(
    "raw",
    [
        "６０００００.XSHG",  # fullwidth digits
        "60000０.SH",  # one fullwidth digit
        "٦٠٠٠٠٠.SH",  # Arabic-Indic digits
        "６００５１９.XSHG",
        "𝟔𝟎𝟎𝟎𝟎𝟎.SH",  # mathematical digits
        "600000.ＳＨ",
        "600000.SH\n",
        "600000.XSHG\n",
    ],
)
def test_only_ascii_digits_and_letters_form_a_code(raw):
    with pytest.raises(codes.CodeError, match="ASCII"):
        codes.normalize(raw)
    assert not codes.is_valid(raw)
    for fn in (codes.to_jq, codes.board, codes.exchange):
        with pytest.raises(codes.CodeError):
            fn(raw)
