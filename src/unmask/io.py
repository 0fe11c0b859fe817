"""Image and mask I/O: robust loading (EXIF, modes, bit depth, a pixel budget from free memory) and atomic saving
with provenance."""

from __future__ import annotations

import hashlib
import os
import secrets
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from unmask.encode import encode_direct
from unmask.errors import UnmaskError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
MAX_PIXELS = 250_000_000  # ~ a 20,000 x 12,500 photo: never decoded, whatever the memory (a likely bomb)
BYTES_PER_PIXEL = 12  # what a photo costs from decoding to saving its result (measured: docs/RELIABILITY.md)
STRIP_ROWS = 1024  # rows copied out of Pillow at a time, so a decoded photo is never held three times
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def list_images(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files and folders into a sorted list of image files (folders are searched non-recursively)."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise UnmaskError(f"{path}: no such file or folder")
    return found


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def available_memory() -> int:
    """Bytes this process can still allocate: the system's available memory, or the cgroup's room if less."""
    free = next((int(line.split()[1]) * 1024 for line in _read("/proc/meminfo").splitlines()
                 if line.startswith("MemAvailable:")), os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    limit, used = _read("/sys/fs/cgroup/memory.max").strip(), _read("/sys/fs/cgroup/memory.current").strip()
    return min(free, int(limit) - int(used)) if limit.isdigit() and used.isdigit() else free


def pixel_budget() -> int:
    """The most pixels a photo may have to be decoded now: what free memory allows, at most ``MAX_PIXELS``."""
    return max(0, min(MAX_PIXELS, available_memory() // BYTES_PER_PIXEL))


def upright_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) of an opened image once its EXIF orientation is applied, read from the header only."""
    orientation = image.getexif().get(0x0112, 1)
    return (image.height, image.width) if orientation in (5, 6, 7, 8) else (image.width, image.height)


def _rgb_array(image: Image.Image) -> np.ndarray:
    """An RGB image's pixels as a writable uint8 array, copied out in strips (no second full-size copy)."""
    array = np.empty((image.height, image.width, 3), np.uint8)
    for top in range(0, image.height, STRIP_ROWS):
        array[top:top + STRIP_ROWS] = np.asarray(image.crop((0, top, image.width, min(top + STRIP_ROWS,
                                                                                        image.height))))
    return array


def _to_rgb_uint8(image: Image.Image) -> np.ndarray:
    """Convert any Pillow mode (1, L, LA, P, RGBA, I;16, I, F, CMYK, ...) to an RGB uint8 array."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        gray = np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    return _rgb_array(image if image.mode == "RGB" else image.convert("RGB"))


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Load a photo as an upright RGB uint8 array (H, W, 3).

    EXIF orientation is applied; grayscale, palette, RGBA (composited on white), CMYK and 16-bit images are
    converted. Raises UnmaskError with a one-line message for missing, unreadable, corrupt files and for ones
    with more pixels than :func:`pixel_budget` allows now (checked from the header, before decoding).
    """
    path = Path(path)
    if not path.is_file():
        raise UnmaskError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                budget = pixel_budget()
                if width * height > budget:
                    raise UnmaskError(f"{path}: {width}x{height} is more than the {budget:,} pixels that can be "
                                      f"decoded with the memory free now (at most {MAX_PIXELS:,})")
                if width == 0 or height == 0:
                    raise UnmaskError(f"{path}: image has zero size")
                image.load()
                ImageOps.exif_transpose(image, in_place=True)
                return _to_rgb_uint8(image)
    except UnmaskError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise UnmaskError(f"{path}: refused as a possible decompression bomb ({error})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise UnmaskError(f"{path}: not a readable image ({type(error).__name__}: {error})") from None


def load_mask(path: str | os.PathLike, shape: Sequence[int] | None = None) -> np.ndarray:
    """Load a mask image as float32 (H, W) with 1 = hole (white or any non-zero pixel after conversion to grey).

    If ``shape`` (H, W) is given, the mask must have exactly that size; it is checked from the file's header, before
    the mask is decoded.
    """
    if shape is not None:
        try:
            with Image.open(path) as image:
                width, height = upright_size(image)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            width, height = shape[1], shape[0]  # load_image below says what is wrong with the file
        if (height, width) != tuple(shape[:2]):
            raise UnmaskError(f"{path}: mask is {width}x{height} but the image is {shape[1]}x{shape[0]}")
    rgb = load_image(path)
    mask = (rgb.max(axis=2) >= 128).astype(np.float32)
    if shape is not None and tuple(mask.shape) != tuple(shape[:2]):
        raise UnmaskError(
            f"{path}: mask is {mask.shape[1]}x{mask.shape[0]} but the image is {shape[1]}x{shape[0]}"
        )
    return mask


def as_rgb_uint8(image: np.ndarray | Image.Image | torch.Tensor | str | os.PathLike) -> np.ndarray:
    """Coerce a path, PIL image, HWC numpy (uint8 or float in [0,1]) or CHW/BCHW tensor to RGB uint8 (H, W, 3)."""
    if isinstance(image, (str, os.PathLike)):
        return load_image(image)
    if isinstance(image, Image.Image):
        return _to_rgb_uint8(ImageOps.exif_transpose(image))
    if isinstance(image, torch.Tensor):
        tensor = image.detach().cpu()
        if tensor.ndim == 4:
            if tensor.shape[0] != 1:
                raise UnmaskError(f"expected one image, got a batch of {tensor.shape[0]}")
            tensor = tensor[0]
        if tensor.ndim != 3 or tensor.shape[0] not in (1, 3):
            raise UnmaskError(f"expected a (3,H,W) tensor, got shape {tuple(image.shape)}")
        image = tensor.expand(3, -1, -1).permute(1, 2, 0).float().numpy()
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise UnmaskError(f"expected an (H,W,3) image, got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise UnmaskError(f"image has zero size {array.shape[1]}x{array.shape[0]}")
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    if array.shape[2] == 4:
        alpha = array[..., 3:4].astype(np.float32) / (255.0 if array.dtype == np.uint8 else 1.0)
        top = 255.0 if array.dtype == np.uint8 else 1.0
        array = array[..., :3] * alpha + top * (1 - alpha)
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array[..., :3])
    if array.dtype == np.uint16:
        return (array[..., :3] / 257.0 + 0.5).astype(np.uint8)
    unit = np.nan_to_num(np.asarray(array, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)  # NaN/inf: no warning
    return np.clip(unit * 255.0 + 0.5, 0, 255).astype(np.uint8)


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """RGB uint8 (H, W, 3) -> float tensor (1, 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float().div(255.0)


def mask_to_tensor(mask: np.ndarray) -> torch.Tensor:
    """Mask (H, W), any dtype, non-zero = hole -> float tensor (1, 1, H, W) with values {0, 1}."""
    return torch.from_numpy((np.asarray(mask) > 0).astype(np.float32))[None, None]


def tensor_to_image(tensor: torch.Tensor) -> np.ndarray:
    """Float tensor (1, 3, H, W) or (3, H, W) in [0, 1] -> RGB uint8 (H, W, 3)."""
    if tensor.ndim == 4:
        tensor = tensor[0]
    array = tensor.detach().cpu().clamp(0, 1).permute(1, 2, 0).numpy()
    return (array * 255.0 + 0.5).astype(np.uint8)


def mask_to_image(mask: np.ndarray | torch.Tensor) -> np.ndarray:
    """Mask (H, W) or (1, 1, H, W), non-zero = hole -> uint8 (H, W) with 255 = hole."""
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    mask = np.asarray(mask).squeeze()
    return np.where(mask > 0.5, 255, 0).astype(np.uint8)


def save_image(path: str | os.PathLike, image: np.ndarray, metadata: dict[str, str] | None = None) -> Path:
    """Write an RGB (H, W, 3) or grey (H, W) uint8 image atomically (temp file + rename), format from the suffix.

    ``metadata`` is stored as PNG text chunks, or as the EXIF ImageDescription for JPEG/WebP/TIFF. Huge JPEG and
    PNG images are encoded from the array itself (``unmask.encode``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise UnmaskError(f"{path}: unsupported output format {suffix or '(none)'}")
    direct = encode_direct(image, suffix, metadata)
    pil = None if direct is not None else Image.fromarray(np.ascontiguousarray(image))
    options: dict = {}
    if metadata:
        if suffix == ".png":
            info = PngImagePlugin.PngInfo()
            for key, value in metadata.items():
                info.add_text(key, value)
            options["pnginfo"] = info
        else:
            exif = Image.Exif()
            exif[0x010E] = "; ".join(f"{key}={value}" for key, value in metadata.items())  # ImageDescription
            options["exif"] = exif
    if suffix in (".jpg", ".jpeg"):
        options["quality"] = 95
    temp = path.parent / f".{path.name}.{secrets.token_hex(4)}{suffix}"
    # Created as an ordinary file would be (0666 less the umask), not 0600 as tempfile makes it.
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            if pil is None:
                handle.write(direct)
            else:
                pil.save(handle, format=Image.registered_extensions()[suffix], **options)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
