"""Which files a knowledge base holds: its sources (files and folders), the files excluded by
name, their hashes, and how `add` and `remove` change them."""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import SourceError
from ..ingest import DOCUMENT_SUFFIXES, file_sha256, find_source_files

log = logging.getLogger(__name__)


def source_hashes(sources, excluded, strict: bool = False) -> dict[str, str]:
    """SHA-256 of every document file of the sources, by resolved path.

    strict: a missing source or an empty result is an error (sources named by the caller);
    otherwise a source that has disappeared is left out with a warning (its documents are removed).
    """
    if strict:
        files = find_source_files(sources)
    else:
        files = []
        for src in sources:
            try:
                files.extend(find_source_files([src]))
            except SourceError as e:
                log.warning("%s", e)
    return {str(p): file_sha256(p) for p in sorted(set(files)) if str(p) not in excluded}


def with_added(sources: list[Path], excluded: set[str], paths) -> tuple[list[Path], set[str], list[Path]]:
    """Sources and exclusions once `paths` are added, and the files among them (to be parsed).

    Raises:
        SourceError: a path does not exist or is a file of an unsupported type.
    """
    sources, excluded, files = list(sources), set(excluded), []
    for p in paths:
        path = Path(p).resolve()
        if not path.exists():
            raise SourceError(f"{p}: no such file or folder")
        if path.is_file():
            if path.suffix.lower() not in DOCUMENT_SUFFIXES:
                raise SourceError(f"{p}: unsupported file type {path.suffix or '(none)'}; "
                                  f"supported: {' '.join(DOCUMENT_SUFFIXES)}")
            files.append(path)
        excluded = {e for e in excluded if not (e == str(path) or Path(e).is_relative_to(path))}
        if path not in sources:
            sources.append(path)
    return sources, excluded, files


def with_removed(sources: list[Path], excluded: set[str], known: set[str],
                 paths) -> tuple[list[Path], set[str]]:
    """Sources and exclusions once `paths` are taken out (`known`: the indexed files).

    Raises:
        SourceError: a path is neither a source nor a document of the knowledge base.
    """
    sources, excluded = list(sources), set(excluded)
    for p in paths:
        path = Path(p).resolve()
        inside = {f for f in known if f == str(path) or Path(f).is_relative_to(path)}
        named = [s for s in sources if s == path or s.is_relative_to(path)]
        if not inside and not named:
            raise SourceError(f"{p}: not in the knowledge base (see `python -m qa list`)")
        sources = [s for s in sources if s not in named]
        # files that stay reachable through a source folder are excluded by name
        excluded |= inside
    reachable = set(source_hashes(sources, set()))
    return sources, {e for e in excluded if e in reachable}
