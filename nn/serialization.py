"""``nn.save`` and ``nn.load``: nested dicts of arrays and Python values in one ``.npz`` file.

The file is an ordinary ``.npz`` (a zip of ``.npy`` members), so ``np.load`` can read it too:
one member per array, named by its path of keys joined with "/" (each key percent-escaped, so a
"/" inside a key reads "%2F"), e.g. ``model/0.weight`` or ``optim/state/0/exp_avg``; and
``__manifest__``, a uint8 array holding UTF-8 JSON that records the nesting, which member each
array is, and every non-array value with its Python type. Nothing is ever pickled.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tempfile
import zipfile
import zlib
from typing import Any
from urllib.parse import quote

import numpy as np

from autograd import Tensor

__all__ = ["load", "save"]

_MANIFEST = "__manifest__"
_FORMAT = "chainrule.save"
_VERSION = 1
_PRIMITIVES = (bool, int, float, str, type(None))  # stored in the manifest as JSON values


def save(obj: dict, path: str | os.PathLike) -> None:
    """Write the dict ``obj`` to the ``.npz`` file ``path``, atomically.

    ``obj`` may nest dicts (keys str or int), lists and tuples; its leaves are ndarrays (any dtype
    but object), Tensors (stored as their data, so they load as ndarrays), NumPy scalars, and
    Python bool, int, float, str and None. Examples: a model's state dict, an optimizer's, or a
    checkpoint ``{"model": ..., "optim": ..., "epoch": 3}``.

    The file is written at exactly ``path``: unlike ``np.savez``, no ``.npz`` suffix is ever
    added, so ``nn.load(path)`` reads back whatever name was given. It is written to a temporary
    file in the same directory, flushed to disk, and renamed over ``path`` with ``os.replace``: a
    reader sees the old file or the new one, never a mix. If anything fails, the temporary file
    is removed and an existing ``path`` is left as it was. A replaced file keeps its permissions.

    Raises ``TypeError`` for a value or key that cannot be stored (or a container that holds
    itself), before any file is touched; an ``OSError`` (no such directory, a directory at
    ``path``, a full disk) names the function and ``path``.
    """
    path = _path(path, "nn.save")
    if not isinstance(obj, dict):
        raise TypeError(f"nn.save stores a dict, got {type(obj).__name__}")
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(obj, (), arrays, set())
    manifest = json.dumps({"format": _FORMAT, "version": _VERSION, "tree": tree})
    arrays[_MANIFEST] = np.frombuffer(manifest.encode("utf-8"), dtype=np.uint8)
    try:
        _write_atomically(path, arrays)
    except OSError as error:
        raise _named(error, f"nn.save: cannot write {path!r}") from None


def load(path: str | os.PathLike, map_location: Any = None, *, weights_only: bool = True) -> dict:
    """Read a file written by ``save``, eagerly, and return its dict, nested as it was saved.

    Arrays come back as ndarrays with their dtype and shape, NumPy scalars as NumPy scalars, and
    lists, tuples, dicts (with their int or str keys), bool, int, float, str and None as
    themselves. A plain ``.npz`` without a manifest (e.g. from ``np.savez``) gives the flat dict of
    its arrays. Reads with ``allow_pickle=False``.

    Raises ``FileNotFoundError`` if ``path`` does not exist (another ``OSError`` if it cannot be
    opened, e.g. a directory), and ``ValueError`` naming the file if it is not a readable archive
    (truncated, corrupt) or holds pickled object arrays.

    ``map_location`` and ``weights_only`` are accepted so that ``torch.load(path, map_location="cpu",
    weights_only=True)`` ports as written: arrays always load into host memory (another device is a
    ``ValueError``), and nothing is ever unpickled, so every load is weights-only.
    """
    if map_location is not None and str(map_location) != "cpu":
        raise ValueError(f"nn.load: chainrule runs on the CPU only, got map_location={map_location!r}")
    path = _path(path, "nn.load")
    try:
        file = open(path, "rb")  # noqa: SIM115 (closed below; the with statement would also catch its body's errors)
    except OSError as error:
        raise _named(error, f"nn.load: cannot read {path!r}") from None
    with file:
        if not zipfile.is_zipfile(file):
            raise ValueError(f"nn.load: {path!r} is not an .npz archive (is it truncated or corrupt?)")
        if any(name.endswith("data.pkl") for name in zipfile.ZipFile(file).namelist()):
            raise ValueError(f"nn.load: {path!r} is a PyTorch file (torch.save), a pickle, which is not read: "
                             "unpickling can run arbitrary code; in PyTorch write the state dict's arrays with "
                             "np.savez(path, **{k: v.numpy() for k, v in model.state_dict().items()})")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except ValueError as error:
        if "allow_pickle" in str(error):  # NumPy's refusal to read an object array
            raise ValueError(
                f"nn.load: {path!r} holds pickled object arrays, which are refused: unpickling can run "
                "arbitrary code"
            ) from None
        raise ValueError(f"nn.load: {path!r} is corrupt: {error}") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, KeyError) as error:
        raise ValueError(f"nn.load: {path!r} is corrupt: {error}") from None
    for name, array in arrays.items():
        if not isinstance(array, np.ndarray):
            raise ValueError(f"nn.load: {path!r} is corrupt: member {name!r} is not an .npy array")
    manifest = arrays.pop(_MANIFEST, None)
    if manifest is None:
        return arrays
    try:
        document = json.loads(manifest.tobytes().decode("utf-8"))
        if document["format"] != _FORMAT or document["version"] != _VERSION:
            raise ValueError(f"format {document['format']!r} version {document['version']!r}")
        return _decode(document["tree"], arrays)
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"nn.load: {path!r} has an unreadable manifest: {error!r}") from None


def _path(path: Any, function: str) -> str:
    try:
        return os.fspath(path)
    except TypeError:
        raise TypeError(f"{function}: path must be a str or os.PathLike, got {type(path).__name__}") from None


def _named(error: OSError, what: str) -> OSError:
    """``error`` again, its message prefixed by ``what`` (the function and the path), its errno kept."""
    named = type(error)(f"{what}: {error.strerror or error}")
    named.errno = error.errno  # str() would show only these if strerror and filename were set too
    return named


def _encode(value: Any, keys: tuple, arrays: dict[str, np.ndarray], open_: set[int]) -> Any:
    """The JSON form of ``value``; its arrays go into ``arrays`` under fresh member names.

    Nodes: a JSON value for bool/int/float/str/None; ``{"dict": [[key, node], ...]}`` (pairs, so
    int keys stay ints); ``{"list": [...]}``, ``{"tuple": [...]}``; ``{"array": name}``;
    ``{"scalar": name}`` for a NumPy scalar, stored as a 0-d array. ``open_`` holds the ids of the
    containers being encoded around ``value``, so one that holds itself is refused.
    """
    if isinstance(value, (dict, list, tuple)):
        if id(value) in open_:
            raise TypeError(f"nn.save: {_where(keys)} holds itself, which a file cannot")
        open_ = open_ | {id(value)}
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            if type(key) not in (str, int):
                raise TypeError(f"nn.save: keys must be str or int, got {key!r} in {_where(keys)}")
            items.append([key, _encode(item, (*keys, key), arrays, open_)])
        return {"dict": items}
    if isinstance(value, (list, tuple)):
        kind = "tuple" if isinstance(value, tuple) else "list"
        return {kind: [_encode(item, (*keys, i), arrays, open_) for i, item in enumerate(value)]}
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise TypeError(f"nn.save: {_where(keys)} is an array of Python objects, which would need pickling")
        return {"array" if isinstance(value, np.ndarray) else "scalar": _add_array(array, keys, arrays)}
    if type(value) in _PRIMITIVES:
        return value
    raise TypeError(f"nn.save: cannot store {type(value).__name__} at {_where(keys)}")


def _add_array(array: np.ndarray, keys: tuple, arrays: dict[str, np.ndarray]) -> str:
    name = "/".join(quote(str(key), safe="") for key in keys)
    while name in arrays or name == _MANIFEST:  # e.g. keys 3 and "3" share a path
        name += "~"
    arrays[name] = array
    return name


def _where(keys: tuple) -> str:
    return "obj" + "".join(f"[{key!r}]" for key in keys)


def _decode(node: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Inverse of ``_encode``."""
    if isinstance(node, list):
        raise ValueError(f"a bare JSON list {node!r} where a value was expected")
    if not isinstance(node, dict):
        return node
    ((kind, body),) = node.items()
    if kind == "dict":
        pairs = [(key, _decode(item, arrays)) for key, item in body]
        if any(type(key) not in (str, int) for key, _ in pairs):
            raise ValueError("a dict key that is neither str nor int")
        return dict(pairs)
    if kind in ("list", "tuple"):
        items = [_decode(item, arrays) for item in body]
        return items if kind == "list" else tuple(items)
    if kind == "array":
        return arrays[body]
    if kind == "scalar":
        return arrays[body][()]
    raise ValueError(f"unknown node kind {kind!r}")


def _write_atomically(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Write the arrays as an .npz at ``path`` through a temporary file and ``os.replace``."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(errno.ENOENT, f"its directory {directory!r} does not exist")
    mode = _file_mode(path)
    temporary_name = None
    try:
        prefix = f".{os.path.basename(path)}."
        with tempfile.NamedTemporaryFile(delete=False, dir=directory, prefix=prefix, suffix=".tmp") as temporary:
            temporary_name = temporary.name
            with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
                for name, array in arrays.items():
                    with archive.open(name + ".npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, array, allow_pickle=False)
            temporary.flush()
            os.fsync(temporary.fileno())
        os.chmod(temporary_name, mode)
        os.replace(temporary_name, path)
    except BaseException:
        if temporary_name is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary_name)
        raise
    if os.name == "posix":  # make the rename itself durable
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _file_mode(path: str) -> int:
    """The permissions for the file: those of the file it replaces, else what ``open()`` would give."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)  # the only portable way to read the umask is to set it
        os.umask(umask)
        return 0o666 & ~umask
