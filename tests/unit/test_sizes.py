import pytest

from zenmail.errors import InvalidInput
from zenmail.sizes import format_size, parse_size

MiB = 1024 ** 2
GiB = 1024 ** 3


@pytest.mark.parametrize("text,expected", [
    ("500M", 500 * MiB), ("2G", 2 * GiB), ("2GB", 2 * GiB), ("1.5 GiB", GiB + GiB // 2),
    ("1048576", MiB), ("0", 0), ("  3g ", 3 * GiB), ("1T", 1024 * GiB), ("512K", 512 * 1024),
    ("2Gi", 2 * GiB), ("1.5GiB", 1610612736), (4096, 4096),
])
def test_accepted_sizes(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text,fragment", [
    ("-1G", "negative"), (-5, "negative"), ("1,5G", "comma"), ("2Gb", "bits"), ("2mb", "bits"),
    ("1.5", "fraction of a byte"), ("", "empty"), ("lots", "not understood"),
    ("2 X", "not understood"), ("1e9", "not understood"), ("2GG", "not understood"),
    ("iB", "not understood"),
])
def test_refused_sizes_say_why(text, fragment):
    with pytest.raises(InvalidInput) as err:
        parse_size(text)
    assert fragment in str(err.value)


def test_bool_is_not_a_size():
    with pytest.raises(InvalidInput):
        parse_size(True)


@pytest.mark.parametrize("n,text", [(12, "12 B"), (1536, "1.5 KiB"), (2 * GiB, "2 GiB"),
                                    (500 * MiB, "500 MiB")])
def test_format_size(n, text):
    assert format_size(n) == text
    assert parse_size(text.replace(" ", "")) == n


def test_absurdly_large_sizes_refused():
    with pytest.raises(InvalidInput):
        parse_size("100000000P")
