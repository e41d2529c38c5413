import pytest

from ipxe_compat.core.sizes import bucket, parse_size, size_label
from ipxe_compat.errors import UsageError


@pytest.mark.parametrize(
    ("size", "expected"),
    [(1, 1), (512, 512), (262143, 262144), (262144, 262144), (262145, 524288),
     (249344, 262144), (300544, 524288)],
)
def test_bucket_is_pow2ceil(size: int, expected: int) -> None:
    assert bucket(size) == expected


@pytest.mark.parametrize("size", [0, -1])
def test_bucket_of_nothing_is_an_error(size: int) -> None:
    with pytest.raises(ValueError, match="no QEMU bucket"):
        bucket(size)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("256k", 262144), ("256K", 262144), ("262144", 262144), ("1M", 1 << 20), ("512k", 524288)],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


NOT_POW2, NOT_A_NUMBER = "is not a power of two", "is not a number of up to 12 digits"


@pytest.mark.parametrize(("text", "error"),
                         [("300k", NOT_POW2), ("0", "is 0 bytes"), ("", NOT_A_NUMBER),
                          ("256kb", NOT_A_NUMBER), ("-256k", NOT_A_NUMBER), ("1.5M", NOT_A_NUMBER),
                          ("abc", NOT_A_NUMBER), ("262143", NOT_POW2)],
                         ids=["not-pow2", "zero", "empty", "unit-suffix", "negative", "fraction",
                              "word", "off-by-one"])
def test_parse_size_refuses(text: str, error: str) -> None:
    with pytest.raises(UsageError, match=error):
        parse_size(text)


def test_size_label() -> None:
    assert [size_label(s) for s in (262144, 1 << 20, 512)] == ["256k", "1M", "512"]
