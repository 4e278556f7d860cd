"""``arrays.npz`` of an artifact: every member audited from its header before it is read.

An ``.npz`` is a zip of ``.npy`` members. Before numpy allocates anything, each member's
zip entry and ``.npy`` header are checked: stored uncompressed (a compressed member could be
a zip bomb), not encrypted, one entry per name, a numeric dtype, the shape the manifest
expects, and a declared size (shape x item size + header) equal to the entry's size; the
entries together may not claim more bytes than the archive holds. A header that declares
10^12 elements is therefore an :class:`ArtifactError`, never a ``MemoryError``. Only then
are the members read, with ``allow_pickle=False``.
"""

from __future__ import annotations

import io
import math
import zipfile

import numpy as np
from numpy.lib import format as npy_format

from .._errors import ArtifactError

__all__ = ["ARRAYS", "read_arrays"]

ARRAYS = "arrays.npz"
#: Largest ``.npy`` header accepted (numpy's own default limit).
MAX_HEADER_BYTES = 10_000

Shapes = dict[str, tuple[int | None, ...]]


def _require(cond: bool, problem: str) -> None:
    if not cond:
        raise ArtifactError(ARRAYS, problem)


def _expected(want: tuple[int | None, ...]) -> tuple[int | str, ...]:
    return tuple("any" if w is None else w for w in want)


def _check_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, want: tuple[int | None, ...]
) -> None:
    name = info.filename[: -len(".npy")]
    _require(not info.flag_bits & 0x1, f"member {name!r} is encrypted")
    _require(
        info.compress_size == info.file_size,
        f"member {name!r} declares {info.file_size} bytes but stores {info.compress_size}",
    )
    try:
        with archive.open(info) as member:
            version = npy_format.read_magic(member)
            if version == (1, 0):
                header = npy_format.read_array_header_1_0(member, max_header_size=MAX_HEADER_BYTES)
            elif version == (2, 0):
                header = npy_format.read_array_header_2_0(member, max_header_size=MAX_HEADER_BYTES)
            else:
                raise ValueError(f".npy format version {version} is not accepted")
            header_end = member.tell()
    except (ValueError, OSError, EOFError, SyntaxError, zipfile.BadZipFile) as exc:
        raise ArtifactError(ARRAYS, f"member {name!r} has no valid .npy header: {exc}") from exc
    shape, _, dtype = header
    _require(
        not dtype.hasobject,
        f"member {name!r} is an object array; artifacts hold numeric arrays only",
    )
    _require(dtype.kind in "biuf", f"member {name!r} has non-numeric dtype {dtype}")
    _require(all(d >= 0 for d in shape), f"member {name!r} has negative dimensions {shape}")
    fits = len(shape) == len(want) and all(
        w is None or w == a for w, a in zip(want, shape, strict=True)
    )
    _require(
        fits,
        f"member {name!r} has shape {tuple(shape)}, expected {_expected(want)}",
    )
    declared = header_end + math.prod(shape) * dtype.itemsize
    _require(
        declared == info.file_size,
        f"member {name!r} declares shape {tuple(shape)} of {dtype} ({declared} bytes with "
        f"its header) but holds {info.file_size} bytes",
    )


def read_arrays(data: bytes, shapes: Shapes) -> dict[str, np.ndarray]:
    """The members of an ``arrays.npz`` that fits ``shapes``.

    Parameters
    ----------
    data : bytes
        The archive.
    shapes : dict of str to tuple
        The expected members and their shapes (``None``: any length on that axis).

    Returns
    -------
    dict of str to ndarray

    Raises
    ------
    ArtifactError
        Naming ``arrays.npz`` and the member at fault.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ArtifactError(ARRAYS, f"not a readable .npz archive: {exc}") from exc
    with archive:
        infos = archive.infolist()
        names = [i.filename[: -len(".npy")] for i in infos]
        _require(
            all(i.filename.endswith(".npy") for i in infos) and len(set(names)) == len(names),
            f"members {sorted(i.filename for i in infos)} are not one .npy file per name",
        )
        _require(
            set(names) == set(shapes),
            f"members {sorted(names)} do not match the expected {sorted(shapes)}",
        )
        packed = [i.filename for i in infos if i.compress_type != zipfile.ZIP_STORED]
        _require(not packed, f"compressed members {packed} are not accepted")
        _require(
            sum(i.file_size for i in infos) <= len(data),
            "its members claim more bytes than the archive holds",
        )
        for info, name in zip(infos, names, strict=True):
            _check_member(archive, info, shapes[name])
    try:
        npz = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise ArtifactError(ARRAYS, f"not a readable .npz archive: {exc}") from exc
    arrays: dict[str, np.ndarray] = {}
    with npz:
        for name in sorted(shapes):
            try:
                array = npz[name]
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
                raise ArtifactError(ARRAYS, f"member {name!r} cannot be read: {exc}") from exc
            if array.dtype.kind == "f":
                # background rows may hold missing values (NaN) for models that take them
                finite = ~np.isinf(array) if name == "background" else np.isfinite(array)
                _require(bool(np.all(finite)), f"member {name!r} holds non-finite values")
            arrays[name] = array
    return arrays
