"""Image files in and out: formats, bit depth, alpha, EXIF orientation, size limits, and writes that are atomic.

Pillow reads only the header (format, size, EXIF orientation) so that an oversized photo is refused before it
is decoded; OpenCV decodes the pixels (it keeps 16-bit colour, alpha and converts CMYK JPEG to BGR).
"""
from __future__ import annotations

import importlib
import os
import stat
import warnings
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
from PIL import ExifTags, Image

from colorize_runtime import decoding, leftovers
from colorize_runtime.errors import ColorizeError

# Register only the Pillow plugins of READ_FORMATS (importing a plugin registers it): Image.init() would import all
# of them, about 40 ms of a one-photo run.
for _plugin in ("Bmp", "Jpeg", "Png", "Tiff", "WebP"):
    importlib.import_module(f"PIL.{_plugin}ImagePlugin")

READ_FORMATS = ("JPEG", "PNG", "TIFF", "WEBP", "BMP")  # Pillow's names
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp")
DEPTH_16_EXTENSIONS = (".png", ".tif", ".tiff")  # other formats store 8 bits per channel
NO_ALPHA_EXTENSIONS = (".jpg", ".jpeg")
DEFAULT_MAX_PIXELS = 400_000_000
DEFAULT_QUALITY = 95  # JPEG and WebP


class ImageFileError(ColorizeError):
    """A file that cannot be read or written as an image; the message is the reason, without the path."""


class OutputExistsError(ImageFileError):
    """The output file exists already and overwriting was not asked for."""


def _header(data: bytes) -> Image.Image:
    """Pillow's view of the header, pixels not decoded. The format plugins are called directly because
    Image.open would also apply Pillow's own decompression-bomb limit, which max_pixels replaces here."""
    for name in READ_FORMATS:
        factory, accept = Image.OPEN[name]
        accepted = accept is None or accept(data[:16])
        if accepted and not isinstance(accepted, str):  # a str explains why the plugin cannot read it
            try:
                with warnings.catch_warnings():  # about damaged EXIF, for instance: the pixels may still be fine
                    warnings.simplefilter("ignore")
                    return factory(BytesIO(data), "")
            except Exception as error:  # the plugins raise SyntaxError, struct.error, OSError... for a damaged header
                if str(error) == "unknown pixel mode":  # Pillow's words for a valid layout it does not read
                    raise ImageFileError(f"a {name} file whose pixel layout is not supported (gray, RGB, RGBA or "
                                         "CMYK, 8 or 16 bits, are; this one has other channels or bits)") from None
                raise ImageFileError(f"truncated or damaged {name} file") from None
    raise ImageFileError("not an image (JPEG, PNG, TIFF, WebP and BMP are supported)")


def _orientation(header: Image.Image) -> int:
    """EXIF orientation 1..8 still to apply (1: upright). OpenCV's TIFF decoder applies it itself. A PNG whose
    EXIF chunk comes after the pixels counts as upright: Pillow would decode the whole image to find it."""
    if header.format == "TIFF" or (header.format == "PNG" and "exif" not in header.info):
        return 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = header.getexif().get(ExifTags.Base.Orientation, 1)
    return value if value in range(1, 9) else 1


_UPRIGHT = {  # EXIF orientation -> the transform that makes the stored pixels upright
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, notes: list[str] | None = None) -> np.ndarray:
    """Encoded image bytes -> gray (H, W), BGR (H, W, 3) or BGRA (H, W, 4), uint8 or uint16, upright (EXIF
    orientation applied): the first page or frame of a multi-page or animated file (a remark saying so is
    appended to notes, when given). Raises ImageFileError with the reason."""
    if not data:
        raise ImageFileError("empty file (0 bytes)")
    header = _header(data)
    width, height = header.size
    if width * height > max_pixels:
        raise ImageFileError(f"{width}x{height} = {width * height:,} pixels, over the max-pixels limit of "
                             f"{max_pixels:,}")
    if decoding.too_small_for_its_size(header.format, data, width, height):
        raise ImageFileError(f"truncated or damaged {header.format} file ({len(data):,} bytes cannot hold "
                             f"{width}x{height} pixels)")
    image, damaged = decoding.imdecode(data)
    if image is None or damaged:
        raise ImageFileError(f"truncated or damaged {header.format} file")
    if notes is not None and (frames := decoding.frame_count(header)) > 1:
        notes.append(f"{frames} {'pages' if header.format == 'TIFF' else 'frames'}: only the first was colourised")
    if image.dtype not in (np.uint8, np.uint16):
        raise ImageFileError(f"{image.dtype} samples are not supported (8-bit and 16-bit images are)")
    return np.ascontiguousarray(_UPRIGHT[_orientation(header)](image))


def not_a_regular_file(mode: int) -> str:
    """Why a file that is not a regular one (st_mode) is not read: a FIFO without a writer never ends, nor does a
    device such as /dev/zero."""
    kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
    return f"is {kind}, not a regular file; refusing to read it"


def read_regular_file(path: str | Path, kind: str = "an image file", limit: int | None = None) -> bytes:
    """The bytes of a regular file, or ImageFileError with the reason it cannot be read: missing, a folder (not
    kind), permissions, a FIFO, device or socket (a FIFO without a writer never ends, nor does /dev/zero), more
    than limit bytes, more than memory holds. Opened without blocking, so that a FIFO is refused, not waited on."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ImageFileError("no such file") from None
    except PermissionError:
        raise ImageFileError("permission denied") from None
    except OSError as error:
        raise ImageFileError(f"cannot read: {error.strerror or error}") from None
    except (TypeError, ValueError):  # a NUL byte in the name, or not a path at all
        raise ImageFileError(f"cannot read {path!r}: not a file name") from None
    status = os.fstat(descriptor)
    size = status.st_size
    reason = None
    if stat.S_ISDIR(status.st_mode):
        reason = f"is a folder, not {kind}"
    elif not stat.S_ISREG(status.st_mode):
        reason = not_a_regular_file(status.st_mode)
    elif limit is not None and size > limit:
        reason = f"{size:,} bytes, more than {kind} may have ({limit:,})"
    if reason:
        os.close(descriptor)
        raise ImageFileError(reason)
    with os.fdopen(descriptor, "rb") as file:
        try:
            return file.read()
        except MemoryError:
            raise ImageFileError(f"{size:,} bytes, more than this machine's memory holds") from None
        except OSError as error:
            raise ImageFileError(f"cannot read: {error.strerror or error}") from None


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS, notes: list[str] | None = None) -> np.ndarray:
    """decode_image of a file, with the reason a file cannot be read in the error (read_regular_file)."""
    return decode_image(read_regular_file(path), max_pixels, notes)


def image_size(path: str | Path) -> tuple[int, int]:
    """The (width, height) of an image file as read_image returns it (upright), from its header alone.
    Raises ImageFileError with the reason."""
    header = _header(read_regular_file(path))
    width, height = header.size
    return (height, width) if _orientation(header) in (5, 6, 7, 8) else (width, height)


def fit_to_format(image: np.ndarray, extension: str) -> np.ndarray:
    """The image as the format can store it: 8 bits where the format has no 16-bit mode, no alpha in JPEG."""
    extension = extension.lower()
    if image.ndim == 3 and image.shape[2] == 4 and extension in NO_ALPHA_EXTENSIONS:
        image = image[..., :3]
    if image.dtype == np.uint16 and extension not in DEPTH_16_EXTENSIONS:
        image = (image.astype(np.float32) * np.float32(1 / 257) + np.float32(0.5)).astype(np.uint8)
    return image


def encode_image(image: np.ndarray, extension: str, quality: int = DEFAULT_QUALITY) -> bytes:
    """The image encoded in the format named by the file extension (".png", ".jpg", ...)."""
    extension = extension.lower()
    if not cv2.haveImageWriter(f"x{extension}"):
        what = f"{extension} files" if extension else "a file without an extension"
        raise ImageFileError(f"cannot write {what} (use .jpg, .png, .tif, .webp or .bmp)")
    params = {".jpg": [cv2.IMWRITE_JPEG_QUALITY, quality], ".jpeg": [cv2.IMWRITE_JPEG_QUALITY, quality],
              ".webp": [cv2.IMWRITE_WEBP_QUALITY, quality]}.get(extension, [])
    ok, encoded = cv2.imencode(extension, fit_to_format(image, extension), params)
    if not ok:
        raise ImageFileError(f"could not encode the image as {extension}")
    return encoded.tobytes()


@contextmanager
def replacing(target: str | Path) -> Iterator[Path]:
    """Every output's way onto the disk (photos, videos, the export's models): the block writes the new file at
    the path it is given, a temporary file beside target named as ours (leftovers.temporary_path); when the block
    ends, that file is synced and renamed onto target. target is then either its old self or the complete new
    file, never half-written, whatever happens (crash, full disk, Ctrl-C): if the block raises, the temporary
    file is removed and target is left as it was."""
    target = Path(target)
    temporary = leftovers.temporary_path(target)
    try:
        yield temporary
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_atomic(target: Path, data: bytes) -> None:
    """Write data to target through replacing: never half-written."""
    with replacing(target) as temporary:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)


def write_image(target: str | Path, image: np.ndarray, quality: int = DEFAULT_QUALITY) -> None:
    """encode_image in the format of target's extension, then write_atomic. Raises ImageFileError."""
    target = Path(target)
    data = encode_image(image, target.suffix, quality)
    try:
        write_atomic(target, data)
    except OSError as error:
        raise ImageFileError(f"cannot write {target}: {error.strerror or error}") from None


def _link_into_proc(path: Path) -> str | None:
    """Where a chain of symbolic links from path first enters /proc (/proc/self/fd/1, and /dev/stdout which leads
    there, is whatever stdout is: a terminal, a pipe or a file, not a file of the user's to replace), or None."""
    for _ in range(40):  # the kernel's own limit on a chain of links
        if not path.is_symlink():
            return None
        link = os.readlink(path)
        path = Path(os.path.normpath(path.parent / link))
        if path.parts[1:2] == ("proc",):
            return link
    return None


def check_target(source: Path, target: Path, force: bool = False) -> None:
    """The safety rules for an output: never the input itself (whatever force says), and an existing file
    only with force."""
    try:
        target.stat()
    except FileNotFoundError:
        return
    except OSError as error:  # a name too long, a path through a file
        raise ImageFileError(f"cannot write {target}: {error.strerror or error}") from None
    if source.exists() and os.path.samefile(source, target):
        raise ImageFileError(f"output {target} is the input itself; refusing to overwrite it")
    if (stream := _link_into_proc(target)) is not None:
        raise ImageFileError(f"output {target} is a link to {stream}, not a file; refusing to replace it, even with "
                             "--force")
    if target.is_dir():
        raise ImageFileError(f"output {target} is a folder")
    if not target.is_file():
        raise ImageFileError(f"output {target} is not a regular file (a FIFO, device or socket); refusing to "
                             "replace it, even with --force")
    if not force:
        raise OutputExistsError(f"skipped, {target} exists (use --force to overwrite)")
