"""Reading what a store has committed, with damage handled: the manifest an update starts from
and the build it can update in place."""

from __future__ import annotations

import logging

from ..config import Config
from ..errors import IndexCorruptError, ManifestDamagedError
from .update import KB_LAYOUT
from .vector_store import Build, VectorStore

log = logging.getLogger(__name__)


def compatible(manifest: dict, config: Config) -> bool:
    """Whether a build was made with this model, these settings and this manifest layout."""
    return (manifest.get("kb") == KB_LAYOUT
            and manifest.get("settings") == config.index_settings()
            and manifest.get("model", {}).get("id") == config.model)


def is_current(manifest: dict, config: Config, hashes: dict[str, str], sources, excluded) -> bool:
    """Whether a build is compatible and made of exactly these sources and files."""
    return (compatible(manifest, config) and manifest.get("source_hashes") == hashes
            and manifest.get("sources") == [str(s) for s in sources]
            and manifest.get("excluded", []) == sorted(excluded))


def updatable_build(store: VectorStore, config: Config, active: Build | None,
                    explicit: bool) -> Build | None:
    """The committed build if it can be updated in place (same model, settings and layout), else
    None (it is rebuilt); `active` is returned when it is the committed one (no need to re-read).

    Raises:
        ManifestDamagedError: damaged beyond recovery and the caller named no sources (its
            sources are unknown: rebuilding would drop documents).
    """
    try:
        manifest = store.read_manifest()
        if not compatible(manifest, config):
            log.info("index in %s was built with another model, settings or layout; rebuilding",
                     store.location)
            return None
        if active is not None and active.manifest.get("build") == manifest.get("build"):
            return active
        return store.load()
    except FileNotFoundError:
        log.info("no index in %s yet; building it", store.location)
    except ManifestDamagedError:
        if not explicit:
            raise
        log.warning("manifest in %s is damaged; rebuilding from the sources given", store.location)
    except IndexCorruptError as e:
        log.warning("%s; rebuilding", e)
    return None


def latest_manifest(store: VectorStore, explicit: bool, rebuild_hint: str) -> dict:
    """The last committed manifest ({} if there is none yet), recovered from its backup if
    damaged; one of another format version is returned as it is (its sources are rebuilt).

    Raises:
        ManifestDamagedError: damaged beyond recovery and no sources were named: nothing is
            touched, the message says how to rebuild (`rebuild_hint`).
    """
    try:
        return store.read_manifest()
    except FileNotFoundError:
        return {}
    except ManifestDamagedError as e:
        if explicit:
            return {}
        raise ManifestDamagedError(
            f"{e}. Nothing was changed. To rebuild the index, run `{rebuild_hint}") from e
    except IndexCorruptError:
        try:
            return store.read_manifest(any_version=True)
        except (OSError, IndexCorruptError):
            return {}
