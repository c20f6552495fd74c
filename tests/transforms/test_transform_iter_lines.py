"""transforms.system_one.iter_lines: streaming a file into raw lines."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.system_one import iter_lines
from transforms.system_one.reader import CHUNK_SIZE


class RecordingFile(io.BytesIO):
    """A binary file that remembers every read size."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.sizes: list[int | None] = []

    def read(self, size: int | None = -1) -> bytes:
        self.sizes.append(size)
        return super().read(size)


def lines_of(data: bytes, chunk_size: int = CHUNK_SIZE) -> list[tuple[int, bytes]]:
    return list(iter_lines(io.BytesIO(data), chunk_size))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", []),
        (b"\n", [b""]),
        (b"a", [b"a"]),
        (b"a\n", [b"a"]),
        (b"a\nb", [b"a", b"b"]),
        (b"a\nb\n", [b"a", b"b"]),
        (b"a\n\nb\n\n", [b"a", b"", b"b", b""]),
        (b"a\r\nb\r\n", [b"a\r", b"b\r"]),  # CR is left for read_record
        (b"a\rb\x0bc\x0cd\x1ce\xc2\x85f\xe2\x80\xa8g\n", [b"a\rb\x0bc\x0cd\x1ce\xc2\x85f\xe2\x80\xa8g"]),
        (b"\xff\xfe\n\x00\n", [b"\xff\xfe", b"\x00"]),  # bytes, undecoded
    ],
)
@pytest.mark.parametrize("chunk_size", [1, 2, 3, 5, CHUNK_SIZE])
def test_lines(data, expected, chunk_size):
    assert lines_of(data, chunk_size) == list(enumerate(expected, 1))


@given(st.lists(st.binary().map(lambda b: b.replace(b"\n", b"")), max_size=20), st.booleans(), st.integers(1, 40))
def test_any_chunk_size_gives_the_same_lines(lines, trailing_newline, chunk_size):
    data = b"\n".join(lines) + (b"\n" if trailing_newline and lines else b"")
    expected = data.split(b"\n")
    if data.endswith(b"\n") or data == b"":
        expected.pop()
    assert [line for _n, line in lines_of(data, chunk_size)] == expected
    assert [n for n, _line in lines_of(data, chunk_size)] == list(range(1, len(expected) + 1))


def test_a_line_longer_than_many_chunks():
    long = b"x" * (5 * CHUNK_SIZE + 17)
    assert lines_of(b"a\n" + long + b"\nb") == [(1, b"a"), (2, long), (3, b"b")]


def test_reads_in_chunks_and_lazily():
    data = b"".join(b"line %06d\n" % i for i in range(50_000))  # ~600 KB
    f = RecordingFile(data)
    lines = iter_lines(f)
    assert next(lines) == (1, b"line 000000")
    assert f.sizes == [CHUNK_SIZE]  # one chunk read for the first line, not the file
    rest = list(lines)
    assert rest[-1] == (50_000, b"line 049999")
    assert all(size == CHUNK_SIZE for size in f.sizes)  # never read() / read(-1)
    assert len(f.sizes) == len(data) // CHUNK_SIZE + 2  # the chunks, the short last one, the empty read


def test_the_generator_keeps_little_memory():
    import tracemalloc

    total = 8 * 1024 * 1024
    data = b"y" * 99 + b"\n"
    f = RecordingFile(data * (total // len(data)))
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_lines(f))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == total // len(data)
    assert peak < 1024 * 1024  # a few chunks, never the 8 MiB file


def test_a_custom_chunk_size_is_used():
    f = RecordingFile(b"abc\ndef\n")
    assert list(iter_lines(f, chunk_size=3)) == [(1, b"abc"), (2, b"def")]
    assert set(f.sizes) == {3}
