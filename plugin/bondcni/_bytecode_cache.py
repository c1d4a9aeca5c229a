"""For a python3 minor bin/bond holds no byte-code for: extract the archive's sources once into a byte-code
cache owned by whoever runs the plugin (root, on a node), compile them there, and import from it.

Without it, zipimport compiles every module an exec imports on every exec. The cache directory is named by
the archive's content digest, so a new build never uses an old cache; it is used only if it and its parent
are owned by the running user and writable by no one else, and it appears whole (built in a temporary
directory, then renamed). Any failure (read-only /var, wrong owner) falls back to the sources in the zip.
Imported by the archive's __main__ before anything else: stdlib only, and cheap once the cache exists.
"""

import os
import sys

DEFAULT_ROOT = "/var/cache/bond-cni"


def _private(path: str) -> bool:
    st = os.lstat(path)
    return (st.st_mode & 0o170000) == 0o040000 and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def _populate(archive: str, target: str, root: str) -> None:
    import compileall
    import py_compile
    import shutil
    import tempfile
    import zipfile

    work = tempfile.mkdtemp(prefix=".build-", dir=root)
    try:
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if name.endswith(".py") and "/" in name and not name.startswith("py3"):
                    zf.extract(name, work)
        compileall.compile_dir(work, quiet=2, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        os.chmod(work, 0o755)
        os.rename(work, target)
    except OSError:
        shutil.rmtree(work, ignore_errors=True)  # another exec won the race, or the disk said no
        raise


def enable(archive: str, digest: str) -> str:
    """Put the cache for this archive and minor first on sys.path; returns it, or "" when not usable."""
    root = os.environ.get("BONDCNI_BYTECODE_CACHE", DEFAULT_ROOT)
    target = os.path.join(root, f"{digest[:16]}-py{sys.version_info[0]}{sys.version_info[1]}")
    try:
        if not os.path.isdir(target):
            os.makedirs(root, mode=0o700, exist_ok=True)
            if not _private(root):
                return ""
            try:
                _populate(archive, target, root)
            except OSError:
                if not os.path.isdir(target):
                    return ""
        if not (_private(root) and _private(target)):
            return ""
    except OSError:
        return ""
    sys.path.insert(0, target)
    return target
