"""A small line-plot renderer that writes PNG with numpy and zlib only.

matplotlib is not a dependency and pyqtgraph's exporters need Qt, which the core must not
import; a loss plot needs only axes, ticks, lines, markers and a legend. Text uses a built-in
3x5 pixel font (upper case, digits and a little punctuation), drawn at 2x.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# tab10, the palette people know from matplotlib
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]

_GLYPHS = {
    "0": "###|#.#|#.#|#.#|###", "1": ".#.|##.|.#.|.#.|###", "2": "###|..#|###|#..|###",
    "3": "###|..#|.##|..#|###", "4": "#.#|#.#|###|..#|..#", "5": "###|#..|###|..#|###",
    "6": "###|#..|###|#.#|###", "7": "###|..#|.#.|.#.|.#.", "8": "###|#.#|###|#.#|###",
    "9": "###|#.#|###|..#|###", "A": ".#.|#.#|###|#.#|#.#", "B": "##.|#.#|##.|#.#|##.",
    "C": ".##|#..|#..|#..|.##", "D": "##.|#.#|#.#|#.#|##.", "E": "###|#..|##.|#..|###",
    "F": "###|#..|##.|#..|#..", "G": ".##|#..|#.#|#.#|.##", "H": "#.#|#.#|###|#.#|#.#",
    "I": "###|.#.|.#.|.#.|###", "J": "..#|..#|..#|#.#|.#.", "K": "#.#|#.#|##.|#.#|#.#",
    "L": "#..|#..|#..|#..|###", "M": "#.#|###|#.#|#.#|#.#", "N": "##.|#.#|#.#|#.#|#.#",
    "O": ".#.|#.#|#.#|#.#|.#.", "P": "##.|#.#|##.|#..|#..", "Q": ".#.|#.#|#.#|##.|.##",
    "R": "##.|#.#|##.|#.#|#.#", "S": ".##|#..|.#.|..#|##.", "T": "###|.#.|.#.|.#.|.#.",
    "U": "#.#|#.#|#.#|#.#|###", "V": "#.#|#.#|#.#|#.#|.#.", "W": "#.#|#.#|#.#|###|#.#",
    "X": "#.#|#.#|.#.|#.#|#.#", "Y": "#.#|#.#|.#.|.#.|.#.", "Z": "###|..#|.#.|#..|###",
    ".": "...|...|...|...|.#.", "-": "...|...|###|...|...", "_": "...|...|...|...|###",
    ":": "...|.#.|...|.#.|...", "/": "..#|..#|.#.|#..|#..", "(": ".#.|#..|#..|#..|.#.",
    ")": ".#.|..#|..#|..#|.#.", "+": "...|.#.|###|.#.|...", "=": "...|###|...|###|...",
    ",": "...|...|...|.#.|#..", "%": "#.#|..#|.#.|#..|#.#", ">": "#..|.#.|..#|.#.|#..",
    "<": "..#|.#.|#..|.#.|..#", "?": "###|..#|.#.|...|.#.", " ": "...|...|...|...|...",
    "'": ".#.|.#.|...|...|...", "#": "#.#|###|#.#|###|#.#", "@": "###|#.#|#.#|#..|###",
}
_FONT = {c: np.array([[ch == "#" for ch in row] for row in g.split("|")], dtype=bool)
         for c, g in _GLYPHS.items()}
SCALE = 2
CHAR_W = 4 * SCALE   # 3 pixels and a gap
CHAR_H = 5 * SCALE


@dataclass
class Series:
    label: str
    points: list[tuple[float, float]]
    color: tuple[int, int, int]
    style: str = "line"  # line | markers


@dataclass
class Canvas:
    width: int
    height: int
    pixels: np.ndarray = field(init=False)

    def __post_init__(self):
        self.pixels = np.full((self.height, self.width, 3), 255, dtype=np.uint8)

    def rect(self, x0: int, y0: int, x1: int, y1: int, color) -> None:
        x0, x1 = sorted((max(0, x0), min(self.width, x1)))
        y0, y1 = sorted((max(0, y0), min(self.height, y1)))
        if x1 > x0 and y1 > y0:
            self.pixels[y0:y1, x0:x1] = color

    def line(self, x0: float, y0: float, x1: float, y1: float, color, width: int = 2) -> None:
        n = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        xs = np.rint(np.linspace(x0, x1, n)).astype(int)
        ys = np.rint(np.linspace(y0, y1, n)).astype(int)
        lo = -(width // 2)
        for dx in range(lo, lo + width):
            for dy in range(lo, lo + width):
                x, y = xs + dx, ys + dy
                ok = (x >= 0) & (x < self.width) & (y >= 0) & (y < self.height)
                self.pixels[y[ok], x[ok]] = color

    def text(self, x: int, y: int, text: str, color=(0, 0, 0), align: str = "left") -> None:
        text = text.upper()
        if align == "right":
            x -= text_width(text)
        elif align == "center":
            x -= text_width(text) // 2
        for i, ch in enumerate(text):
            glyph = _FONT.get(ch, _FONT["?"])
            big = np.kron(glyph, np.ones((SCALE, SCALE), dtype=bool))
            gx = x + i * CHAR_W
            for (r, c) in zip(*np.nonzero(big)):
                px, py = gx + c, y + r
                if 0 <= px < self.width and 0 <= py < self.height:
                    self.pixels[py, px] = color

    def png(self) -> bytes:
        return encode_png(self.pixels)


def text_width(text: str) -> int:
    return len(text) * CHAR_W - SCALE


def encode_png(rgb: np.ndarray) -> bytes:
    """An 8-bit RGB PNG of an (h, w, 3) uint8 array."""
    h, w, _ = rgb.shape
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rgb.reshape(h, w * 3)], axis=1)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), 9))
            + chunk(b"IEND", b""))


def nice_ticks(lo: float, hi: float, count: int = 6, integer: bool = False) -> list[float]:
    """Round tick values (1, 2, 5 x 10^k steps) covering [lo, hi]; whole steps if integer."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return [0.0, 1.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(count - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    steps = (1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)
    step = next(m * mag for m in steps if m * mag >= raw * 0.8)
    if integer:
        step = max(1, round(step))
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(i * step, 10) for i in range(first, last + 1)]


def _tick_label(v: float, step: float) -> str:
    digits = 0
    while digits < 8 and abs(round(step, digits) - step) > 1e-9 * abs(step):
        digits += 1  # as many decimals as the step needs: 0.25 -> 2, 5 -> 0
    return f"{v:.{digits}f}"


def line_plot(series: list[Series], title: str = "", xlabel: str = "", ylabel: str = "",
              width: int = 900, height: int = 540, integer_x: bool = False) -> Canvas:
    c = Canvas(width, height)
    left, right, top, bottom = 76, 20, 40, 50
    pw, ph = width - left - right, height - top - bottom
    pts = [p for s in series for p in s.points if all(map(math.isfinite, p))]
    if pts:
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        x_lo, x_hi, y_lo, y_hi = min(xs), max(xs), min(ys), max(ys)
    else:
        x_lo, x_hi, y_lo, y_hi = 0.0, 1.0, 0.0, 1.0
    if x_lo == x_hi:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    pad = (y_hi - y_lo) * 0.05 or abs(y_hi) * 0.05 or 1.0
    xt, yt = nice_ticks(x_lo, x_hi, integer=integer_x), nice_ticks(y_lo - pad, y_hi + pad)
    x_lo, x_hi = min(x_lo, xt[0]), max(x_hi, xt[-1])
    y_lo, y_hi = yt[0], yt[-1]

    def X(v: float) -> float:
        return left + (v - x_lo) / (x_hi - x_lo) * pw

    def Y(v: float) -> float:
        return top + ph - (v - y_lo) / (y_hi - y_lo) * ph

    grid, axis = (232, 232, 232), (60, 60, 60)
    for i, v in enumerate(xt):
        if x_lo <= v <= x_hi:
            c.line(X(v), top, X(v), top + ph, grid, 1)
            c.text(int(X(v)), top + ph + 8, _tick_label(v, xt[1] - xt[0] if len(xt) > 1
                                                        else 1), axis, "center")
    for v in yt:
        c.line(left, Y(v), left + pw, Y(v), grid, 1)
        c.text(left - 8, int(Y(v)) - CHAR_H // 2,
               _tick_label(v, yt[1] - yt[0] if len(yt) > 1 else 1), axis, "right")
    c.line(left, top, left, top + ph, axis, 1)
    c.line(left, top + ph, left + pw, top + ph, axis, 1)
    if title:
        c.text(width // 2, 12, title, (0, 0, 0), "center")
    if xlabel:
        c.text(left + pw // 2, height - 18, xlabel, axis, "center")
    if ylabel:
        c.text(8, 12, ylabel, axis)

    for s in series:
        p = [(X(x), Y(y)) for x, y in s.points if math.isfinite(x) and math.isfinite(y)]
        if s.style == "markers":
            for x, y in p:
                c.rect(int(x) - 3, int(y) - 3, int(x) + 4, int(y) + 4, s.color)
        else:
            for (xa, ya), (xb, yb) in zip(p, p[1:]):
                c.line(xa, ya, xb, yb, s.color, 2)
            if len(p) == 1:
                c.rect(int(p[0][0]) - 2, int(p[0][1]) - 2, int(p[0][0]) + 3,
                       int(p[0][1]) + 3, s.color)

    # legend in the corner of the plot that hides the fewest points
    labeled = [s for s in series if s.label]
    if labeled:
        lw = max(text_width(s.label) for s in labeled) + 36
        lh = 8 + len(labeled) * (CHAR_H + 6)
        screen = [(X(x), Y(y)) for x, y in pts]
        corners = [(left + pw - lw - 8, top + 8), (left + 8, top + 8),
                   (left + pw - lw - 8, top + ph - lh - 8), (left + 8, top + ph - lh - 8)]
        lx, ly = min(corners, key=lambda c0: sum(
            c0[0] - 6 <= x <= c0[0] + lw + 6 and c0[1] - 6 <= y <= c0[1] + lh + 6
            for x, y in screen))
        c.rect(lx, ly, lx + lw, ly + lh, (255, 255, 255))
        for i, s in enumerate(labeled):
            y = ly + 6 + i * (CHAR_H + 6)
            if s.style == "markers":
                c.rect(lx + 10, y + 2, lx + 17, y + 9, s.color)
            else:
                c.rect(lx + 6, y + CHAR_H // 2 - 1, lx + 22, y + CHAR_H // 2 + 1, s.color)
            c.text(lx + 28, y, s.label, (30, 30, 30))
    return c


def write_png(canvas: Canvas, path: str | Path) -> Path:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_bytes(canvas.png())
    tmp.replace(path)
    return path
