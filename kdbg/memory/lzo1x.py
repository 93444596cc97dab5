"""A pure-Python LZO1X decompressor (``lzo1x_decompress_safe`` semantics).

Used for lzo-compressed kdump pages when the ``python-lzo`` extension is not installed.
Every input and output access is bounds-checked: corrupt input raises :class:`LZOError`,
never reads past the input, and never produces more than ``max_out`` bytes.
"""

from __future__ import annotations

__all__ = ["LZOError", "lzo1x_decompress_safe"]


class LZOError(ValueError):
    """Corrupt LZO1X input (overrun, look-behind overrun, or trailing garbage)."""


def lzo1x_decompress_safe(src: bytes, max_out: int) -> bytes:
    """Decompress one raw LZO1X block (no lzop/python-lzo header) into at most ``max_out``."""
    try:
        return _decompress(memoryview(src).tobytes(), max_out)
    except IndexError:
        raise LZOError("input overrun") from None


_LOOP, _FIRST_LIT, _MATCH, _MATCH_DONE, _MATCH_NEXT = range(5)


def _decompress(src: bytes, max_out: int) -> bytes:
    n = len(src)
    if n < 3:
        raise LZOError("input too short")
    out = bytearray()
    ip = 0

    def run_length(ip: int, base: int) -> tuple:
        t = 0
        while src[ip] == 0:
            t += 255
            ip += 1
            if t > max_out + 255:
                raise LZOError("run length overrun")
        return base + t + src[ip], ip + 1

    def copy_lit(ip: int, cnt: int) -> int:
        if ip + cnt > n:
            raise LZOError("input overrun in literal run")
        if len(out) + cnt > max_out:
            raise LZOError("output overrun")
        out.extend(src[ip : ip + cnt])
        return ip + cnt

    def copy_match(m_pos: int, cnt: int) -> None:
        op = len(out)
        if m_pos < 0 or m_pos >= op:
            raise LZOError("look-behind overrun")
        if op + cnt > max_out:
            raise LZOError("output overrun")
        dist = op - m_pos
        if dist >= cnt:
            out.extend(out[m_pos : m_pos + cnt])
        else:
            pat = bytes(out[m_pos:op])
            out.extend((pat * (cnt // dist + 1))[:cnt])

    t = 0
    state = _LOOP
    if src[0] > 17:
        t = src[0] - 17
        ip = 1
        if t < 4:
            state = _MATCH_NEXT
        else:
            ip = copy_lit(ip, t)
            state = _FIRST_LIT
    while True:
        if state == _LOOP:
            t = src[ip]
            ip += 1
            if t >= 16:
                state = _MATCH
                continue
            if t == 0:
                t, ip = run_length(ip, 15)
            ip = copy_lit(ip, t + 3)
            state = _FIRST_LIT
            continue
        if state == _FIRST_LIT:
            t = src[ip]
            ip += 1
            if t >= 16:
                state = _MATCH
                continue
            m_pos = len(out) - (1 + 0x0800) - (t >> 2) - (src[ip] << 2)
            ip += 1
            copy_match(m_pos, 3)
            state = _MATCH_DONE
            continue
        if state == _MATCH:
            if t >= 64:
                m_pos = len(out) - 1 - ((t >> 2) & 7) - (src[ip] << 3)
                ip += 1
                copy_match(m_pos, (t >> 5) - 1 + 2)
            elif t >= 32:
                t &= 31
                if t == 0:
                    t, ip = run_length(ip, 31)
                v = src[ip] | (src[ip + 1] << 8)
                ip += 2
                copy_match(len(out) - 1 - (v >> 2), t + 2)
            elif t >= 16:
                m_pos = len(out) - ((t & 8) << 11)
                t &= 7
                if t == 0:
                    t, ip = run_length(ip, 7)
                v = src[ip] | (src[ip + 1] << 8)
                ip += 2
                m_pos -= v >> 2
                if m_pos == len(out):
                    if ip != n:
                        raise LZOError("input not consumed")
                    return bytes(out)
                copy_match(m_pos - 0x4000, t + 2)
            else:
                m_pos = len(out) - 1 - (t >> 2) - (src[ip] << 2)
                ip += 1
                copy_match(m_pos, 2)
            state = _MATCH_DONE
        if state == _MATCH_DONE:
            t = src[ip - 2] & 3
            if t == 0:
                state = _LOOP
                continue
            state = _MATCH_NEXT
        if state == _MATCH_NEXT:
            ip = copy_lit(ip, t)
            t = src[ip]
            ip += 1
            state = _MATCH
