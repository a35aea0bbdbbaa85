"""Images read by OCR into Documents (photos, scans, multi-page TIFF), and the OCR of any page image.

A PDF page without a text layer is rendered and read by `ocr_units` too, within the same per-file
budget (`OcrBudget`: limits.MAX_OCR_PAGES and MAX_OCR_SECONDS).
"""

from __future__ import annotations

import io
import time
from pathlib import Path

from ..errors import SourceError
from . import limits, ocr
from .document import CONTROL_CHARACTERS, Document
from .units import PAGE_NUMBER, Unit, join_lines, squash, units_to_document


def ocr_units(image, page: int) -> list[Unit]:
    """OCR one page image into Units with their boxes (fractions of the page) and scores."""
    lines = ocr.read_lines(image)
    width, height = image.size
    units = []
    for block in ocr.layout(lines, width):
        text = ""
        for line in block.lines:
            text = join_lines(text, squash(CONTROL_CHARACTERS.sub("", line.text)))
        if not text or PAGE_NUMBER.match(text):
            continue
        x0, y0, x1, y1 = block.box
        box = (max(0.0, x0 / width), max(0.0, y0 / height), min(1.0, x1 / width), min(1.0, y1 / height))
        kind = "heading" if block.heading else "body"
        units.append(Unit(text, kind, page, box=box, score=block.score))
    return units


class OcrBudget:
    """The pages and seconds OCR may still spend on one file (limits.MAX_OCR_PAGES, MAX_OCR_SECONDS)."""

    def __init__(self, name: str, pages: int):
        from tqdm.auto import tqdm

        self.clock = time.monotonic
        self.start = self.clock()
        self.done = 0
        # a bar on a terminal only (tqdm disables itself elsewhere), for files of several pages
        self.bar = tqdm(total=pages, desc=f"OCR {Path(name).name}", unit="页", disable=None if pages > 1
                        else True, leave=False)

    def refusal(self) -> str | None:
        if self.done >= limits.MAX_OCR_PAGES:
            return f"not read: OCR reads at most {limits.MAX_OCR_PAGES} pages per file"
        if self.done and self.clock() - self.start > limits.MAX_OCR_SECONDS:
            return f"not read: OCR time limit ({limits.MAX_OCR_SECONDS:.0f} s per file) reached"
        return None

    def step(self) -> None:
        self.done += 1
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def read_image(data: bytes, name: str) -> Document:
    """OCR a photo or scan (.png .jpg .webp .tif; each frame of a multi-page TIFF is a page).

    The size in the header is checked before any pixel is decoded; EXIF rotation is applied.

    Raises:
        SourceError: not an image, more than limits.MAX_IMAGE_PIXELS, or no text found.
    """
    from PIL import Image, ImageOps

    try:
        image = Image.open(io.BytesIO(data))  # reads the header only
    except Image.DecompressionBombError as e:  # Pillow's own limit, far above ours
        raise SourceError(f"{name}: refused: the image is larger than {limits.MAX_IMAGE_PIXELS:,} pixels "
                          f"(a decompression bomb? {e})") from e
    except Exception as e:  # noqa: BLE001 - Pillow raises UnidentifiedImageError, OSError, ...
        raise SourceError(f"{name}: not a readable image ({type(e).__name__}: {e})") from e
    frames = min(getattr(image, "n_frames", 1), limits.MAX_OCR_PAGES + 1)
    units: list[Unit] = []
    page_starts: list[int] = []
    empty: list[int] = []
    reasons: dict[int, str] = {}
    budget = OcrBudget(name, frames)
    try:
        for number in range(1, frames + 1):
            page_starts.append(len(units) + 1)
            refusal = budget.refusal()
            if refusal:
                empty.append(number)
                reasons[number] = refusal
                continue
            try:
                image.seek(number - 1)
                limits.check_image_size(*image.size, name)
                frame = ImageOps.exif_transpose(image)
                if max(frame.size) > limits.RENDER_LONG_SIDE:
                    frame = frame.copy()
                    frame.thumbnail((limits.RENDER_LONG_SIDE, limits.RENDER_LONG_SIDE))
                found = ocr_units(frame, number)
            except SourceError:
                raise
            except Exception as e:  # noqa: BLE001 - truncated or damaged image data
                raise SourceError(f"{name}: not a readable image ({type(e).__name__}: {e})") from e
            budget.step()
            if not found:
                empty.append(number)
                reasons[number] = "OCR found no text"
            units.extend(found)
    finally:
        budget.close()
    skipped = tuple((p, reasons[p]) for p in empty)
    if len(empty) == frames:
        raise SourceError(f"{name}: OCR found no text in the image; skipped"
                          + (f" ({reasons[1]})" if frames == 1 and reasons[1] != "OCR found no text" else ""))
    return units_to_document(name, data, units, None, "image", tuple(page_starts), tuple(empty), skipped)
