"""A :class:`~gantry_nifti.api.Volume` as NIfTI-1 bytes, with a header that carries geometry,
data type and scaling only: ``descrip``, ``aux_file``, ``intent_name`` stay empty, no
extension is written (dcm2niix puts acquisition times in ``descrip``; we do not)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gantry_nifti.api import Volume

#: NIfTI xyzt_units: millimetres and seconds
_MM_SECONDS = 2 | 8


def reoriented(volume: Volume) -> Volume:
    """``volume`` turned to its nearest orthogonal alignment, as dcm2niix turns 3-D
    acquisitions by default (its ``-x n``): axes permuted and flipped, no voxel interpolated.

    The flips are those that put voxel 0 at the corner nearest the lowest world coordinates;
    the permutation, among the six, the one that best aligns the voxel axes with the world
    axes (the largest trace of the affine times it). RGB volumes and volumes already aligned
    are left as they are. ``frames`` keep the indices of the grid before the turn.
    """
    import dataclasses
    import itertools

    affine = volume.affine
    rot = affine[:3, :3]
    if volume.rgb or (np.all(np.diag(rot) > 0) and np.count_nonzero(rot - np.diag(
            np.diag(rot))) == 0):
        return volume
    dims = volume.array.shape[:3]
    corners = []
    for flips in itertools.product((1, -1), repeat=3):
        index = [0 if f > 0 else d - 1 for f, d in zip(flips, dims, strict=True)]
        corners.append((flips, affine[:3, :3] @ index + affine[:3, 3]))
    lowest = np.min([c for _f, c in corners], axis=0)
    flips, origin = min(corners, key=lambda fc: float(np.linalg.norm(fc[1] - lowest)))
    best, best_score = None, 0.0
    for perm in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)):
        turn = np.zeros((3, 3))
        for row, col in enumerate(perm):
            turn[row, col] = flips[row]
        score = float(np.trace(rot @ turn))
        if score > best_score:
            best, best_score = turn, score
    if best is None or (np.array_equal(np.abs(best), np.eye(3)) and np.all(best.diagonal() > 0)):
        return volume
    # output axis j reads input axis i (reversed when best[i, j] < 0)
    source = [int(np.nonzero(best[:, j])[0][0]) for j in range(3)]
    array = np.transpose(volume.array, source + list(range(3, volume.array.ndim)))
    for j in range(3):
        if best[source[j], j] < 0:
            array = np.flip(array, axis=j)
    turned = np.eye(4)
    turned[:3, :3] = rot @ best
    turned[:3, 3] = origin
    return dataclasses.replace(volume, array=np.asfortranarray(array), affine=turned)


def nifti_image(volume: Volume, *, repetition_time: float | None = None,
                phase_axis: int | None = None) -> Any:
    """A nibabel ``Nifti1Image`` of ``volume``: sform and qform set to its affine (code 1,
    scanner), ``pixdim[4]`` the repetition time (s) of 4-D series, ``dim_info`` when the
    in-plane phase encoding axis (0 for ``i``, 1 for ``j``) is known."""
    import nibabel as nib

    header = nib.Nifti1Header()
    image = nib.Nifti1Image(volume.array, volume.affine, header)
    image.set_sform(volume.affine, code=1)
    image.set_qform(volume.affine, code=1)
    header = image.header
    zooms = list(header.get_zooms())
    if volume.array.ndim == 4:
        zooms[3] = float(repetition_time or 0.0)
    header.set_zooms(zooms)
    header.set_xyzt_units("mm", "sec")
    header["xyzt_units"] = _MM_SECONDS
    if phase_axis is not None:
        header.set_dim_info(freq=1 - phase_axis, phase=phase_axis, slice=2)
    if volume.slope != 1.0 or volume.intercept != 0.0:
        header.set_slope_inter(volume.slope, volume.intercept)
    else:
        header.set_slope_inter(1.0, 0.0)
    header["descrip"] = b""
    header["aux_file"] = b""
    header["intent_name"] = b""
    header["db_name"] = b""
    return image


#: dcm2niix's default gzip level (its ``-z y`` without ``-1``..``-9``): zlib-ng's level
GZIP_LEVEL = 6
#: ISA-L's level when ``isal`` is installed (extra ``fast``): its highest, whose deflate
#: streams are within about 2 % of zlib level 6's size (6 times as fast)
ISAL_LEVEL = 3
#: bytes of voxel data handed to the compressor at a time
_CHUNK = 1 << 22


def voxel_bytes(volume: Volume) -> memoryview:
    """The voxels of ``volume`` in NIfTI's order (``i`` fastest), as one flat byte view: no
    copy when the array is already Fortran-ordered, as :func:`~gantry_nifti.api.assemble_volume`
    builds it."""
    array = np.asfortranarray(volume.array)
    # the transpose of an F-ordered array is C-ordered: flattened and seen as bytes, no copy
    return memoryview(array.T.reshape(-1).view(np.uint8))


def nifti_bytes(volume: Volume, *, compress: bool = True, **options: Any) -> bytes:
    """The ``.nii`` (or, by default, ``.nii.gz``) file of ``volume`` as bytes.

    Compressed by :func:`gzip_packer` (ISA-L at its level 3 when installed, else zlib-ng at
    gzip level 6, dcm2niix's default); the gzip member has no file name and a zero time
    stamp, so equal volumes give equal bytes with one compressor. The voxels go to the
    compressor straight from the array, in slices of a few MB (no uncompressed copy of the
    file is made)."""
    image = nifti_image(volume, **options)
    header = image.header
    header.set_data_dtype(volume.array.dtype)
    header.set_data_shape(volume.array.shape)
    header["vox_offset"] = 352
    head = header.binaryblock + b"\x00\x00\x00\x00"  # no extensions
    voxels = voxel_bytes(volume)
    if not compress:
        return b"".join((head, voxels))
    packer = gzip_packer()
    parts = [packer.compress(head)]
    for start in range(0, len(voxels), _CHUNK):
        parts.append(packer.compress(voxels[start:start + _CHUNK]))
    parts.append(packer.flush())
    return b"".join(parts)


def gzip_packer() -> Any:
    """A compressor object writing one gzip member: ISA-L's (``isal``, the extra ``fast``)
    at :data:`ISAL_LEVEL` when it is installed, else zlib-ng's at :data:`GZIP_LEVEL`. Both
    write standard gzip (any reader decompresses it to the same bytes)."""
    try:
        from isal import isal_zlib
    except ImportError:
        from zlib_ng import zlib_ng

        return zlib_ng.compressobj(GZIP_LEVEL, zlib_ng.DEFLATED, 16 + zlib_ng.MAX_WBITS)
    return isal_zlib.compressobj(ISAL_LEVEL, isal_zlib.DEFLATED, 16 + isal_zlib.MAX_WBITS)
