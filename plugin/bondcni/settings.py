"""Node settings: what only the node's admin decides (where state and logs go, which host links to bond).

A network config (NAD) is written by a namespace user and never names files or widens the host-link policy.
CNI plugins do not see the DaemonSet's environment (the runtime execs them with CNI_* only), so these come
from a root-owned JSON file, /etc/cni/net.d/bond.d/bond.conf (as whereabouts does it), e.g.

    {"stateDir": "/var/lib/cni/bond", "logFile": "/var/log/bond-cni.log", "logLevel": "info",
     "requireDistinctPF": false, "ipamTimeout": 60,
     "hostLinks": {"allow": ["ens2f*"], "onlyAllowed": false, "allowPciAddresses": ["0000:3b:*"]}}

A file that is a symlink, not owned by root (or by the plugin's own user) or writable by group or others is
ignored with a warning. The BONDCNI_* variables (tests and the lab: the runtime's environment is the node's,
never the NAD's) override the file: BONDCNI_SETTINGS (another file), BONDCNI_STATE_DIR, BONDCNI_LOG_FILE,
BONDCNI_DEBUG=1.
"""

from __future__ import annotations

from . import errors, os
from .errors import CniError
from .record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping, Optional, Tuple

DEFAULT_PATH = "/etc/cni/net.d/bond.d/bond.conf"
DEFAULT_STATE_DIR = "/var/lib/cni/bond"
LEVELS = ("debug", "info", "warning", "error")
MAX_SIZE = 1 << 16


class HostLinkPolicy(Record):
    allow: Tuple[str, ...] = ()  # fnmatch patterns: links that may be bonded although virtual
    only_allowed: bool = False  # true: every host link must match `allow`
    allow_pci: Tuple[str, ...] = ()  # PCI addresses a NAD's links[] may name without the runtime handing them


class Settings(Record):
    state_dir: str = DEFAULT_STATE_DIR
    log_file: str = ""
    log_level: str = "info"
    require_distinct_pf: bool = False
    ipam_timeout: float = 60.0
    host_links: HostLinkPolicy = HostLinkPolicy()
    source: str = ""  # the file they came from, "" for defaults
    warnings: Tuple[str, ...] = ()  # what was ignored, and why (logged once a log exists)


def _read_secure(path: str) -> Tuple[Optional[bytes], str]:
    """The file's bytes, or None and why it was not used."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None, ""
    except OSError as exc:
        return None, f"node settings {path}: cannot open ({exc.strerror}); using defaults"
    try:
        st = os.fstat(fd)
        import _stat as stat

        if not stat.S_ISREG(st.st_mode):
            return None, f"node settings {path}: not a regular file; ignored"
        if st.st_uid not in (0, os.geteuid()):
            return None, f"node settings {path}: owned by uid {st.st_uid}, not root; ignored"
        if st.st_mode & 0o022:
            return (
                None,
                f"node settings {path}: writable by group or others ({st.st_mode & 0o777:o}); ignored",
            )
        data = os.read(fd, MAX_SIZE + 1)
        if len(data) > MAX_SIZE:
            return None, f"node settings {path}: larger than {MAX_SIZE} bytes; ignored"
        return data, ""
    finally:
        os.close(fd)


def _error(path: str, field: str, expected: str) -> CniError:
    return CniError(errors.INVALID_CONFIG, f"node settings {path}: {field}: expected {expected}")


def _patterns(path: str, obj: dict, key: str) -> Tuple[str, ...]:
    value = obj.get(key, [])
    if not isinstance(value, list) or not all(isinstance(x, str) and x and len(x) <= 64 for x in value):
        raise _error(path, f"hostLinks.{key}", "a list of name patterns (strings)")
    return tuple(value)


def parse(data: bytes, path: str) -> Settings:
    """The file's JSON -> Settings; CniError 7 naming the file and the field."""
    from .jsonio import loads

    try:
        obj = loads(data)
    except ValueError as exc:
        raise CniError(errors.INVALID_CONFIG, f"node settings {path}: not JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise _error(path, "(top level)", "a JSON object")
    known = {"stateDir", "logFile", "logLevel", "requireDistinctPF", "ipamTimeout", "hostLinks"}
    unknown = sorted(set(obj) - known)
    if unknown:
        raise _error(path, ", ".join(unknown), "one of " + ", ".join(sorted(known)))
    out = {}
    for key, attr in (("stateDir", "state_dir"), ("logFile", "log_file")):
        value = obj.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value.startswith("/") or "\0" in value or "/../" in value + "/":
            raise _error(path, key, "an absolute path")
        out[attr] = value
    level = obj.get("logLevel", "info")
    if level not in LEVELS:
        raise _error(path, "logLevel", "one of " + ", ".join(LEVELS))
    out["log_level"] = level
    distinct = obj.get("requireDistinctPF", False)
    if not isinstance(distinct, bool):
        raise _error(path, "requireDistinctPF", "true or false")
    out["require_distinct_pf"] = distinct
    timeout = obj.get("ipamTimeout", 60)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 1 <= timeout <= 3600:
        raise _error(path, "ipamTimeout", "seconds, from 1 to 3600")
    out["ipam_timeout"] = float(timeout)
    hl = obj.get("hostLinks", {})
    if not isinstance(hl, dict) or set(hl) - {"allow", "onlyAllowed", "allowPciAddresses"}:
        raise _error(path, "hostLinks", 'an object with "allow", "onlyAllowed", "allowPciAddresses"')
    only = hl.get("onlyAllowed", False)
    if not isinstance(only, bool):
        raise _error(path, "hostLinks.onlyAllowed", "true or false")
    out["host_links"] = HostLinkPolicy(
        _patterns(path, hl, "allow"), only, tuple(p.lower() for p in _patterns(path, hl, "allowPciAddresses"))
    )
    return Settings(source=path, **out)


def load(env: Mapping[str, str]) -> Settings:
    """The node's settings: file (if usable), then the BONDCNI_* overrides.  Raises CniError 7 only for a
    trusted file that does not parse (a broken policy must not silently become the default one)."""
    path = env.get("BONDCNI_SETTINGS") or DEFAULT_PATH
    data, why = _read_secure(path)
    settings = parse(data, path) if data is not None else Settings(warnings=(why,) if why else ())
    return _with_env(settings, env, debug=True)


def _with_env(settings: Settings, env: Mapping[str, str], debug: bool) -> Settings:
    """The BONDCNI_* overrides from the runtime's environment."""
    over = {}
    if env.get("BONDCNI_STATE_DIR"):
        over["state_dir"] = env["BONDCNI_STATE_DIR"]
    if env.get("BONDCNI_LOG_FILE"):
        over["log_file"] = env["BONDCNI_LOG_FILE"]
    if debug and env.get("BONDCNI_DEBUG", "") in ("1", "true"):
        over["log_level"] = "debug"
    return settings.replace(**over) if over else settings


def defaults_with_env(env: Mapping[str, str], problem: CniError) -> Settings:
    """What DEL uses when the settings file does not parse: DEL must still clean up."""
    return _with_env(Settings(warnings=(problem.msg + "; using defaults",)), env, debug=False)
