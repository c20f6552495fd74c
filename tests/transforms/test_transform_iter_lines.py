"""transforms.system_one.iter_lines: streaming a file into raw lines."""

from __future__ import annotations

import io
import itertools
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.system_one import OverlongLine, iter_lines
from transforms.system_one.lines import CHUNK_SIZE, EXCERPT_BYTES


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


# --- max_line_bytes: a line longer than the limit is an OverlongLine, never held whole -----------------------


class GeneratedFile(io.RawIOBase):
    """A binary file whose bytes come from a generator of pieces: nothing but the current piece is held."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces
        self._current = b""
        self._offset = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        assert size is not None and size > 0, "iter_lines reads in chunks"
        while self._offset == len(self._current):
            piece = next(self._pieces, None)
            self._current, self._offset = piece or b"", 0
            if piece is None:
                return b""
        out = self._current[self._offset : self._offset + size]
        self._offset += len(out)
        return out


def repeated(byte: bytes, total: int, piece: int = 256 * 1024) -> Iterator[bytes]:
    block = byte * piece
    while total > piece:
        yield block
        total -= piece
    yield byte * total


def bounded(data: bytes, limit: int, chunk_size: int = CHUNK_SIZE) -> list[tuple[int, bytes | OverlongLine]]:
    return list(iter_lines(io.BytesIO(data), chunk_size, max_line_bytes=limit))


def peak_memory_of(run) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = run()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def test_a_200_mb_line_is_streamed_in_bounded_memory():
    size = 200 * 1024 * 1024
    pieces = itertools.chain([b"first\n"], repeated(b"z", size), [b"\nlast\n"])

    def run():
        return [(n, line) for n, line in iter_lines(GeneratedFile(pieces), max_line_bytes=1024 * 1024)]

    lines, peak = peak_memory_of(run)
    assert lines == [(1, b"first"), (2, OverlongLine(b"z" * EXCERPT_BYTES, size)), (3, b"last")]
    assert peak < 3 * 1024 * 1024  # the limit (1 MiB), a few chunks and the generator's pieces, not 200 MB


def test_a_file_without_any_newline_is_streamed_in_bounded_memory():
    size = 64 * 1024 * 1024

    def run():
        return list(iter_lines(GeneratedFile(repeated(b"\0", size)), max_line_bytes=1000))

    lines, peak = peak_memory_of(run)
    assert lines == [(1, OverlongLine(b"\0" * EXCERPT_BYTES, size))]
    assert peak < 1024 * 1024  # a few chunks and the generator's pieces


def test_without_a_limit_nothing_changes():
    data = b"a\n" + b"x" * (3 * CHUNK_SIZE) + b"\r\nb"
    assert lines_of(data) == [(1, b"a"), (2, b"x" * (3 * CHUNK_SIZE) + b"\r"), (3, b"b")]
    assert list(iter_lines(io.BytesIO(data), max_line_bytes=None)) == lines_of(data)


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, CHUNK_SIZE])
def test_a_line_exactly_at_the_limit_is_kept(chunk_size):
    data = b"12345\n123456\n1234\n"
    assert bounded(data, 5, chunk_size) == [(1, b"12345"), (2, OverlongLine(b"123456", 6)), (3, b"1234")]


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, CHUNK_SIZE])
def test_the_last_line_without_a_newline(chunk_size):
    assert bounded(b"ab\n12345", 5, chunk_size) == [(1, b"ab"), (2, b"12345")]
    assert bounded(b"ab\n123456", 5, chunk_size) == [(1, b"ab"), (2, OverlongLine(b"123456", 6))]
    long = b"q" * (EXCERPT_BYTES + 100)
    assert bounded(b"ab\n" + long, 5, chunk_size) == [(1, b"ab"), (2, OverlongLine(long[:EXCERPT_BYTES], len(long)))]


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, CHUNK_SIZE])
def test_crlf_is_a_newline_and_does_not_count(chunk_size):
    # The "\r" stays in the yielded bytes (read_record drops it), but "\r\n" is the newline.
    data = b"12345\r\n123456\r\n\r\n12\r\n"
    assert bounded(data, 5, chunk_size) == [
        (1, b"12345\r"),
        (2, OverlongLine(b"123456", 6)),
        (3, b"\r"),
        (4, b"12\r"),
    ]
    long = b"w" * (EXCERPT_BYTES + 10)
    assert bounded(long + b"\r\nok\r\n", 5, chunk_size) == [
        (1, OverlongLine(long[:EXCERPT_BYTES], len(long))),
        (2, b"ok\r"),
    ]


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, CHUNK_SIZE])
def test_a_lone_cr_at_the_end_of_the_file_counts(chunk_size):
    # Without a "\n" after it, a "\r" is not a newline.
    assert bounded(b"12345\r", 5, chunk_size) == [(1, OverlongLine(b"12345\r", 6))]
    assert bounded(b"1234\r", 5, chunk_size) == [(1, b"1234\r")]


@pytest.mark.parametrize("chunk_size", [1, 5, 100, CHUNK_SIZE])
def test_the_excerpt_is_the_first_bytes_of_the_line(chunk_size):
    line = bytes(range(256)).replace(b"\n", b"") * 100  # 25,500 bytes
    ((number, overlong),) = bounded(line + b"\n", 10, chunk_size)
    assert number == 1
    assert overlong == OverlongLine(line[:EXCERPT_BYTES], len(line))


def test_many_overlong_lines_keep_their_numbers():
    lines = [b"k" * (i % 7) * 3 for i in range(2000)]
    data = b"\n".join(lines) + b"\n"
    got = bounded(data, 10, 13)
    assert [n for n, _ in got] == list(range(1, 2001))
    for (_n, got_line), line in zip(got, lines, strict=True):
        assert got_line == (line if len(line) <= 10 else OverlongLine(line, len(line)))


def test_many_overlong_lines_in_bounded_memory():
    line = b"m" * 300_000 + b"\n"

    def pieces():
        for _ in range(200):  # 60 MB in all
            yield line

    def run():
        return sum(isinstance(x, OverlongLine) for _n, x in iter_lines(GeneratedFile(pieces()), max_line_bytes=50_000))

    count, peak = peak_memory_of(run)
    assert count == 200
    assert peak < 1024 * 1024  # a few chunks and one 300 KB line of the generator


def test_a_limit_of_zero_keeps_only_empty_lines():
    assert bounded(b"\n\r\nx\n", 0) == [(1, b""), (2, b"\r"), (3, OverlongLine(b"x", 1))]


def test_bad_arguments_are_refused_at_once():
    with pytest.raises(ValueError, match="max_line_bytes"):
        iter_lines(io.BytesIO(b""), max_line_bytes=-1)
    with pytest.raises(ValueError, match="chunk_size"):
        iter_lines(io.BytesIO(b""), chunk_size=0)


@given(
    st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")), max_size=20),
    st.booleans(),
    st.integers(1, 40),
    st.integers(0, 25),
)
def test_bounded_lines_agree_with_a_plain_split(lines, trailing_newline, chunk_size, limit):
    data = b"\n".join(lines) + (b"\n" if trailing_newline and lines else b"")
    plain = [line for _n, line in lines_of(data, chunk_size)]
    got = bounded(data, limit, chunk_size)
    assert [n for n, _ in got] == list(range(1, len(plain) + 1))
    for index, ((_n, item), line) in enumerate(zip(got, plain, strict=True)):
        ends_in_newline = index < len(plain) - 1 or data.endswith(b"\n")
        size = len(line) - (ends_in_newline and line.endswith(b"\r"))
        if size <= limit:
            assert item == line
        else:
            assert item == OverlongLine(line[: min(size, EXCERPT_BYTES)], size)


def test_overlong_line_is_exported_with_iter_lines():
    import transforms.system_one as system_one

    assert system_one.OverlongLine is OverlongLine
    assert system_one.iter_lines is iter_lines
