"""Test helpers: pages rendered from Chinese text with the Noto CJK font (scans, photos, columns),
and the character accuracy of OCR against the text that was rendered."""

from __future__ import annotations

import glob
import io
import random

import pytest

FONT_GLOBS = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
              "/usr/share/fonts/**/NotoSansCJK*Regular*.tt[cf]", "/usr/share/fonts/**/NotoSerifCJK*.tt[cf]")


def cjk_font_path() -> str:
    for pattern in FONT_GLOBS:
        found = sorted(glob.glob(pattern, recursive=True))
        if found:
            return found[0]
    pytest.skip("no Noto CJK font (.ci/run installs fonts-noto-cjk)")


def font(size: int):
    from PIL import ImageFont

    path = cjk_font_path()
    # index 0 of the .ttc is the Japanese face; every face has the Chinese characters used here
    return ImageFont.truetype(path, size, index=2 if path.endswith(".ttc") else 0)


def wrap(text: str, chars: int) -> list[str]:
    return [text[i:i + chars] for i in range(0, len(text), chars)]


def page_image(blocks, width: int = 1000, height: int = 760, size: int = 26, margin: int = 50,
               columns: int = 1, title: str | None = None):
    """A white page with a title (larger type) and paragraphs; columns=2 puts the first half of
    the paragraphs in the left column, the rest in the right. Returns the image and the
    paragraphs' text as drawn."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    y = margin
    if title:
        draw.text((margin, y), title, font=font(int(size * 1.5)), fill="black")
        y += int(size * 1.5) + size
    gutter = 2 * size
    col_width = (width - 2 * margin - (columns - 1) * gutter) // columns
    per_line = col_width // size - 1
    top, column, drawn = y, 0, []
    for text in blocks:
        first = per_line - 2  # the first line is indented by two characters
        lines = [text[:first]] + wrap(text[first:], per_line)
        lines = [x for x in lines if x]
        if columns > 1 and drawn and len(drawn) % -(-len(blocks) // columns) == 0:
            column, y = column + 1, top  # the next column: blocks split evenly between columns
        x = margin + column * (col_width + gutter)
        for n, line in enumerate(lines):
            draw.text((x + (2 * size if n == 0 else 0), y), line, font=font(size), fill="black")
            y += int(size * 1.6)
        y += size
        drawn.append("".join(lines))
    return image, drawn


def photo(image, angle: float = 3.0, seed: int = 1):
    """The page as a phone photo: rotated a few degrees on a grey desk, uneven light, JPEG."""
    from PIL import Image, ImageFilter

    rng = random.Random(seed)
    rotated = image.rotate(angle, expand=True, fillcolor=(120, 115, 110), resample=Image.BICUBIC)
    shade = Image.linear_gradient("L").resize(rotated.size).point(lambda v: 200 + v // 5)
    lit = Image.composite(rotated, Image.new("RGB", rotated.size, (90, 90, 90)), shade)
    noisy = lit.filter(ImageFilter.GaussianBlur(0.6))
    pixels = noisy.load()
    for _ in range(noisy.width * noisy.height // 200):
        x, y = rng.randrange(noisy.width), rng.randrange(noisy.height)
        pixels[x, y] = tuple(max(0, c - 60) for c in pixels[x, y])
    buf = io.BytesIO()
    noisy.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def image_pdf(images, dpi: int = 200) -> bytes:
    """A PDF whose pages are only images (no text layer), as a scanner makes them."""
    buf = io.BytesIO()
    images[0].save(buf, "PDF", resolution=dpi, save_all=True, append_images=list(images[1:]))
    return buf.getvalue()


def png(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        cur = [i]
        for j, cb in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def char_accuracy(read: str, truth: str) -> float:
    """1 - (character edit distance / characters rendered), whitespace ignored, and full-width
    punctuation taken as its ASCII form (NFKC: OCR reads ',' in Chinese text as '，')."""
    import unicodedata

    read, truth = ("".join(unicodedata.normalize("NFKC", t).split()) for t in (read, truth))
    return 1 - edit_distance(read, truth) / max(len(truth), 1)
