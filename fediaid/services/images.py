"""Uploaded images, made safe to store and serve: decoded with Pillow, turned upright by
their EXIF orientation, and re-encoded from bare pixels so that no EXIF (GPS positions,
camera serial numbers, times), XMP, IPTC, ICC profile or comment ever reaches the disk.

Only JPEG, PNG, GIF and WebP are read (Pillow is told to try no other decoder). An animated
GIF keeps its first frame only, stored as PNG. Colour profiles are converted to sRGB before
being dropped, so a phone photo in Display P3 keeps its colours.

Also here: previews (Mastodon's ``small`` version) and BlurHash strings
(https://github.com/woltapp/blurhash, the algorithm's public description), encoded here
rather than through a dependency: it is 60 lines of arithmetic.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fediaid.errors import TooLarge, Unprocessable

if TYPE_CHECKING:
    from PIL import Image

FORMATS = ("JPEG", "PNG", "GIF", "WEBP")
# Where each input format ends up: (Pillow format, content type, file extension).
OUTPUT = {
    "JPEG": ("JPEG", "image/jpeg", "jpg"),
    "PNG": ("PNG", "image/png", "png"),
    "GIF": ("PNG", "image/png", "png"),
    "WEBP": ("WEBP", "image/webp", "webp"),
}
CONTENT_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
# Mastodon's "small" version: at most this many pixels, aspect kept.
SMALL_PIXELS = 640 * 360
# What we keep of an original, as Mastodon does (3840x2160): larger uploads are scaled down.
ORIGINAL_PIXELS = 3840 * 2160


@dataclass(frozen=True)
class CleanImage:
    data: bytes  # the re-encoded file, without metadata
    content_type: str
    extension: str  # without the dot
    width: int
    height: int

    @property
    def size(self) -> int:
        return len(self.data)


def _open(data: bytes, *, max_pixels: int) -> Image.Image:
    from PIL import Image, UnidentifiedImageError  # imported on first use (idle memory)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=list(FORMATS))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Unprocessable(f"Validation failed: Image is too large; at most {max_pixels} "
                            f"pixels are accepted", field="file") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise Unprocessable(
            "Validation failed: File content type is not supported: upload a JPEG, PNG, "
            "GIF or WebP image", field="file", internal=f"undecodable upload: {exc}") from exc
    width, height = img.size
    # Checked before any pixel is decoded: the header alone says how big it will be.
    if width < 1 or height < 1 or width * height > max_pixels:
        raise Unprocessable(f"Validation failed: Image is too large ({width}x{height}); at "
                            f"most {max_pixels} pixels are accepted", field="file")
    return img


def fit(size: tuple[int, int], pixels: int) -> tuple[int, int]:
    w, h = size
    if w * h <= pixels:
        return size
    scale = math.sqrt(pixels / (w * h))
    return max(1, int(w * scale)), max(1, int(h * scale))


def _pixels(img: Image.Image, *, max_output: int) -> Image.Image:
    """Decoded pixels, upright, in sRGB, at most ``max_output`` pixels, as a new image that
    carries no metadata at all."""
    from PIL import Image, ImageOps  # imported on first use (idle memory)
    try:
        img.seek(0)  # an animated GIF or WebP: the first frame
        if img.format == "JPEG":
            # Let the JPEG decoder scale down by 1/2, 1/4 or 1/8 while decoding: a large
            # photo never exists in memory at full size.
            img.draft(img.mode, fit(img.size, max_output))
        img.load()
        icc = img.info.get("icc_profile")
        upright = ImageOps.exif_transpose(img)
        alpha = upright.mode in ("RGBA", "LA", "PA") or (
            upright.mode == "P" and "transparency" in upright.info)
        target = ("LA" if alpha else "L") if upright.mode in ("1", "L", "LA", "I;16", "I", "F") \
            else ("RGBA" if alpha else "RGB")
        if upright.mode in ("I;16", "I", "F"):
            upright = upright.point(lambda v: v / 256).convert("L")  # 16-bit grey to 8-bit
        converted = upright.convert(target)
        if icc and target in ("RGB", "RGBA"):
            converted = _to_srgb(converted, icc)
        size = fit(converted.size, max_output)
        if size != converted.size:
            converted = converted.resize(size, Image.Resampling.LANCZOS)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise Unprocessable("Validation failed: the image could not be decoded",
                            field="file", internal=f"broken upload: {exc}") from exc
    return Image.frombytes(converted.mode, converted.size, converted.tobytes())


def _to_srgb(img: Image.Image, icc: bytes) -> Image.Image:
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        out = ImageCms.profileToProfile(img, source, ImageCms.createProfile("sRGB"),
                                        outputMode=img.mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return img  # a broken profile: keep the pixels as they are
    return out if out is not None else img


def _encode(img: Image.Image, pil_format: str) -> bytes:
    buf = io.BytesIO()
    if pil_format == "JPEG":
        if img.mode not in ("RGB", "L"):
            img = img.convert("RGB")
        img.save(buf, "JPEG", quality=88, optimize=False, progressive=True)
    elif pil_format == "WEBP":
        img.save(buf, "WEBP", quality=88, method=4)
    else:
        img.save(buf, "PNG", compress_level=6)
    return buf.getvalue()


def clean_image(data: bytes, *, max_bytes: int, max_pixels: int,
                max_output: int = ORIGINAL_PIXELS) -> CleanImage:
    """The upload as a metadata-free image of the same kind (GIF becomes PNG), scaled down
    to at most ``max_output`` pixels.

    Raises ``TooLarge`` above ``max_bytes``, ``Unprocessable`` for anything that is not a
    JPEG, PNG, GIF or WebP image, or has more than ``max_pixels`` pixels (decompression
    bombs are refused from the header, before decoding)."""
    if len(data) > max_bytes:
        raise TooLarge(f"File is too large: at most {max_bytes // (1024 * 1024)} MiB "
                       f"({max_bytes} bytes) are accepted", field="file")
    if not data:
        raise Unprocessable("Validation failed: File is empty", field="file")
    img = _open(data, max_pixels=max_pixels)
    fmt = img.format or ""
    if fmt not in OUTPUT:  # pragma: no cover - Image.open was limited to FORMATS
        raise Unprocessable("Validation failed: File content type is not supported",
                            field="file")
    pil_format, content_type, ext = OUTPUT[fmt]
    clean = _pixels(img, max_output=max_output)
    return CleanImage(data=_encode(clean, pil_format), content_type=content_type,
                      extension=ext, width=clean.width, height=clean.height)


def decode(image: CleanImage) -> Image.Image:
    """A cleaned image's pixels (already checked, so this cannot be a bomb)."""
    from PIL import Image  # imported on first use (idle memory)
    img = Image.open(io.BytesIO(image.data), formats=list(FORMATS))
    img.load()
    return img


def small_version(image: CleanImage, *, pixels: int = SMALL_PIXELS) -> CleanImage:
    """Mastodon's ``small`` preview: at most ``pixels`` pixels, same aspect and format.
    An image already that small is returned as it is."""
    from PIL import Image  # imported on first use (idle memory)
    size = fit((image.width, image.height), pixels)
    if size == (image.width, image.height):
        return image
    img = decode(image).resize(size, Image.Resampling.LANCZOS)
    pil_format = {"image/jpeg": "JPEG", "image/webp": "WEBP"}.get(image.content_type, "PNG")
    return CleanImage(data=_encode(img, pil_format), content_type=image.content_type,
                      extension=image.extension, width=size[0], height=size[1])


# -- BlurHash ------------------------------------------------------------------------------
_B83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"


def _base83(value: int, length: int) -> str:
    return "".join(_B83[(value // 83 ** (length - i - 1)) % 83] for i in range(length))


def _to_linear(v: int) -> float:
    x = v / 255
    return x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4


_LINEAR = [_to_linear(v) for v in range(256)]


def _to_srgb_byte(v: float) -> int:
    x = min(1.0, max(0.0, v))
    if x <= 0.0031308:
        return int(x * 12.92 * 255 + 0.5)
    return int((1.055 * x ** (1 / 2.4) - 0.055) * 255 + 0.5)


def _sign_pow(v: float, exp: float) -> float:
    return math.copysign(abs(v) ** exp, v)


def blurhash(image: CleanImage | Image.Image, *, x_components: int = 4,
             y_components: int = 3) -> str:
    """The BlurHash of an image, computed on a copy shrunk to at most 32 pixels a side
    (what the hash keeps is far coarser than that)."""
    from PIL import Image  # imported on first use (idle memory)
    img = decode(image) if isinstance(image, CleanImage) else image
    img = img.convert("RGB")
    img.thumbnail((32, 32), Image.Resampling.BILINEAR)
    w, h = img.size
    raw = img.tobytes()
    linear = [(_LINEAR[raw[k]], _LINEAR[raw[k + 1]], _LINEAR[raw[k + 2]])
              for k in range(0, len(raw), 3)]
    cos_x = [[math.cos(math.pi * i * x / w) for x in range(w)] for i in range(x_components)]
    cos_y = [[math.cos(math.pi * j * y / h) for y in range(h)] for j in range(y_components)]
    factors: list[tuple[float, float, float]] = []
    for j in range(y_components):
        for i in range(x_components):
            norm = 1.0 if i == 0 and j == 0 else 2.0
            r = g = b = 0.0
            for y in range(h):
                cy = cos_y[j][y] * norm
                row = y * w
                for x in range(w):
                    basis = cy * cos_x[i][x]
                    pr, pg, pb = linear[row + x]
                    r += basis * pr
                    g += basis * pg
                    b += basis * pb
            scale = 1 / (w * h)
            factors.append((r * scale, g * scale, b * scale))
    dc, ac = factors[0], factors[1:]
    out = _base83((x_components - 1) + (y_components - 1) * 9, 1)
    if ac:
        actual_max = max(abs(c) for f in ac for c in f)
        quantised = max(0, min(82, math.floor(actual_max * 166 - 0.5)))
        max_value = (quantised + 1) / 166
        out += _base83(quantised, 1)
    else:
        max_value = 1.0
        out += _base83(0, 1)
    out += _base83((_to_srgb_byte(dc[0]) << 16) + (_to_srgb_byte(dc[1]) << 8)
                   + _to_srgb_byte(dc[2]), 4)
    for f in ac:
        q = [max(0, min(18, math.floor(_sign_pow(c / max_value, 0.5) * 9 + 9.5)))
             for c in f]
        out += _base83(q[0] * 19 * 19 + q[1] * 19 + q[2], 2)
    return out
