"""zstd through libzstd itself (ctypes): Python's standard library has none before 3.14,
and libzstd1 is always here — Dovecot's compression library links it. In-process, so
compressing or reading a message costs no process start (the `zstd` tool cost ~5 ms each).
"""

from __future__ import annotations

import ctypes
import ctypes.util

from zenmail.errors import StackError


class _Buffer(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_void_p), ("size", ctypes.c_size_t),
                ("pos", ctypes.c_size_t)]


def _load() -> ctypes.CDLL:
    for name in ("libzstd.so.1", ctypes.util.find_library("zstd")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.ZSTD_compressBound.restype = ctypes.c_size_t
        lib.ZSTD_compressBound.argtypes = [ctypes.c_size_t]
        lib.ZSTD_compress.restype = ctypes.c_size_t
        lib.ZSTD_compress.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p,
                                      ctypes.c_size_t, ctypes.c_int]
        lib.ZSTD_isError.restype = ctypes.c_uint
        lib.ZSTD_isError.argtypes = [ctypes.c_size_t]
        lib.ZSTD_getErrorName.restype = ctypes.c_char_p
        lib.ZSTD_getErrorName.argtypes = [ctypes.c_size_t]
        lib.ZSTD_createDCtx.restype = ctypes.c_void_p
        lib.ZSTD_freeDCtx.argtypes = [ctypes.c_void_p]
        lib.ZSTD_decompressStream.restype = ctypes.c_size_t
        lib.ZSTD_decompressStream.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Buffer),
                                              ctypes.POINTER(_Buffer)]
        return lib
    raise StackError("libzstd (Debian package libzstd1, which Dovecot needs) is missing; "
                     "run `make install`")


_lib: ctypes.CDLL | None = None


def lib() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        _lib = _load()
    return _lib


def _check(code: int) -> int:
    if lib().ZSTD_isError(code):
        raise StackError(f"zstd: {lib().ZSTD_getErrorName(code).decode()}")
    return code


def compress(data: bytes, level: int) -> bytes:
    """One zstd frame, as `zstd -LEVEL` writes it (Dovecot's zlib plugin reads it)."""
    bound = lib().ZSTD_compressBound(len(data))
    out = ctypes.create_string_buffer(bound)
    n = _check(lib().ZSTD_compress(out, bound, data, len(data), level))
    return out.raw[:n]


def decompress(data: bytes, limit: int | None = None) -> bytes:
    """Every frame of `data` decompressed (streaming: frames need not state their size, and
    Dovecot's do not); with `limit`, stop once that much is out (headers only)."""
    dctx = lib().ZSTD_createDCtx()
    if not dctx:
        raise StackError("zstd: out of memory")
    try:
        src = ctypes.create_string_buffer(data, len(data))
        inb = _Buffer(ctypes.cast(src, ctypes.c_void_p), len(data), 0)
        chunk = 1 << 17
        dst = ctypes.create_string_buffer(chunk)
        parts: list[bytes] = []
        got = 0
        while inb.pos < inb.size:
            outb = _Buffer(ctypes.cast(dst, ctypes.c_void_p), chunk, 0)
            _check(lib().ZSTD_decompressStream(dctx, ctypes.byref(outb), ctypes.byref(inb)))
            parts.append(dst.raw[:outb.pos])
            got += outb.pos
            if limit is not None and got >= limit:
                break
            if outb.pos == 0 and inb.pos < inb.size and outb.size > 0:
                continue
        # Flush what the decoder still holds once the input is consumed.
        while limit is None or got < limit:
            outb = _Buffer(ctypes.cast(dst, ctypes.c_void_p), chunk, 0)
            _check(lib().ZSTD_decompressStream(dctx, ctypes.byref(outb), ctypes.byref(inb)))
            if outb.pos == 0:
                break
            parts.append(dst.raw[:outb.pos])
            got += outb.pos
        return b"".join(parts)
    finally:
        lib().ZSTD_freeDCtx(dctx)
