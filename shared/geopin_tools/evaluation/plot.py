"""The recall@N curve as a PNG, drawn with Pillow (already a dependency; no plotting library)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 640, 420
LEFT, RIGHT, TOP, BOTTOM = 70, 30, 50, 60  # margins around the plot area, pixels
LINE: Final = (31, 119, 180)
GRID: Final = (220, 220, 220)
INK: Final = (40, 40, 40)


def plot_recall(recall: dict[str, float], title: str, path: Path) -> None:
    """Recall (0-100 %) against N on a linear axis, one labelled point per N."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    ns = sorted(int(n) for n in recall)
    x0, x1, y0, y1 = LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP

    def x(n: float) -> float:
        return x0 + (x1 - x0) * (n - ns[0]) / max(ns[-1] - ns[0], 1)

    def y(percent: float) -> float:
        return y0 + (y1 - y0) * percent / 100

    for tick in range(0, 101, 20):
        draw.line([(x0, y(tick)), (x1, y(tick))], fill=GRID)
        draw.text((x0 - 8, y(tick)), f"{tick}%", fill=INK, font=font, anchor="rm")
    for n in ns:
        draw.line([(x(n), y0), (x(n), y0 + 5)], fill=INK)
        draw.text((x(n), y0 + 8), str(n), fill=INK, font=font, anchor="mt")
    draw.rectangle([x0, y1, x1, y0], outline=INK)
    points = [(x(n), y(recall[str(n)])) for n in ns]
    draw.line(points, fill=LINE, width=3)
    for (px, py), n in zip(points, ns, strict=True):
        draw.ellipse([px - 4, py - 4, px + 4, py + 4], fill=LINE)
        draw.text((px, py - 8), f"{recall[str(n)]:.1f}", fill=INK, font=font, anchor="mb")
    draw.text((WIDTH / 2, 20), title, fill=INK, font=font, anchor="mm")
    draw.text(((x0 + x1) / 2, HEIGHT - 20), "N (nearest photos)", fill=INK, font=font, anchor="mm")
    draw.text((x0 - 8, y1 - 14), "R@N", fill=INK, font=font, anchor="rm")
    image.save(path, "PNG")
