"""Output paths that must not replace an input: every command that writes checks its outputs here first.

``vccscale import X --out X`` would replace the raw export, ``vccscale clean D --out DIR`` with ``D`` in ``DIR``
would shrink its own input. :func:`check_outputs` refuses such an output (:class:`OutputError`, exit code 2 in the
CLI, naming both paths) before anything is written, then creates the output folders (parents included).
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .errors import OutputError

__all__ = ["check_outputs", "data_inputs", "same_file"]


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether the paths name the same file: equal resolved paths (symbolic links, ``..``), or, when both exist,
    the same file on disk (hard links, case-insensitive file systems)."""
    pa, pb = Path(a), Path(b)
    try:
        if pa.resolve() == pb.resolve():
            return True
    except OSError:
        return False
    try:
        return pa.exists() and pb.exists() and os.path.samefile(pa, pb)
    except OSError:
        return False


def data_inputs(path: str | Path | None) -> list[Path]:
    """A data file and, for data written by ``vccscale import --out``, its ``.meta.json`` sidecar."""
    if path is None:
        return []
    p = Path(path)
    side = p.with_name(p.name + ".meta.json")
    return [p, side] if side.exists() else [p]


def check_outputs(inputs: Iterable[str | Path | None], files: Iterable[tuple[str, str | Path | None]] = (),
                  dirs: Iterable[tuple[str, str | Path | None, Iterable[str]]] = (), create: bool = True) -> None:
    """Refuse outputs that would overwrite an input (or another output), then create the output folders.

    ``files``: (option, path) of files to be written; ``dirs``: (option, folder, names of the files written into
    it). An input that *is* an output file, or that a folder would receive under one of the names, raises
    :class:`OutputError` naming the option, the output and the input. With ``create``, the folders and the
    parent folders of the files are made (parents included)."""
    ins = [Path(p) for p in inputs if p is not None]
    targets: list[tuple[str, Path, Path | None]] = [(opt, Path(p), None) for opt, p in files if p is not None]
    folders: list[tuple[str, Path]] = []
    for opt, d, names in dirs:
        if d is None:
            continue
        d = Path(d)
        folders.append((opt, d))
        if d.exists() and not d.is_dir():
            raise OutputError(f"{opt} {d} is a file, not a folder")
        for i in ins:
            if same_file(d, i):
                raise OutputError(f"{opt} {d} is the input {i}: choose another output folder")
        targets += [(opt, d / n, d) for n in names]
    for opt, t, d in targets:
        for i in ins:
            if same_file(t, i):
                what = f"{opt} {d} would overwrite the input {i} (it writes {t.name} there)" if d is not None \
                    else f"{opt} {t} would overwrite the input {i} (the same file)"
                raise OutputError(f"{what}: choose another output {'folder' if d is not None else 'path'}")
        if t.is_dir():
            raise OutputError(f"{opt} {t} is a folder; give a file name")
    seen: dict[Path, str] = {}
    for opt, t, _ in targets:
        key = t.resolve()
        if key in seen and seen[key] != opt:
            raise OutputError(f"{seen[key]} and {opt} name the same file {t}")
        seen.setdefault(key, opt)
    if not create:
        return
    for opt, d in [*folders, *((opt, t.parent) for opt, t, _ in targets)]:
        try:
            d.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise OutputError(f"{opt}: cannot create the folder {d}: a file is in the way") from None
        except OSError as exc:
            raise OutputError(f"{opt}: cannot create the folder {d}: {exc.strerror or exc}") from None
