"""The CNI dispatcher, modelled on containernetworking/cni pkg/skel.

Environment and streams are injected, so dispatch is testable without touching os.environ.  Every failure
leaves as the spec's error JSON on stdout with exit status 1; diagnostics go to stderr and the optional log
file; a traceback never reaches stdout.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import IO, Callable, Dict, Mapping, NamedTuple, Optional, Union

from . import errors
from .errors import CniError
from .spec import CURRENT_VERSION, SUPPORTED_VERSIONS

COMMANDS = ("ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION")

# One table: which variables each command requires (skel.go getCmdArgsFromEnv, reqForCmdEntry).
ENV_TABLE = (
    ("CNI_COMMAND", frozenset(COMMANDS)),
    ("CNI_CONTAINERID", frozenset({"ADD", "DEL", "CHECK"})),
    ("CNI_NETNS", frozenset({"ADD", "CHECK"})),
    ("CNI_IFNAME", frozenset({"ADD", "DEL", "CHECK"})),
    ("CNI_ARGS", frozenset()),
    ("CNI_PATH", frozenset({"ADD", "DEL", "CHECK", "GC", "STATUS"})),
)
# The oldest config version that allows each command (skel: "config version does not allow CHECK").
MIN_VERSION = {"CHECK": "0.4.0", "GC": "1.1.0", "STATUS": "1.1.0"}
CONTAINER_ID_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$")


class CmdArgs(NamedTuple):
    command: str
    container_id: str
    netns: str
    ifname: str
    args: str
    path: str
    stdin: bytes
    env: Mapping[str, str]


class Log:
    """Diagnostics: warnings and errors to stderr, everything to the log file when one is configured."""

    def __init__(self, stderr: IO[str], path: Optional[str] = None, debug: bool = False) -> None:
        self.stderr = stderr
        self.path = path
        self.debug_to_stderr = debug
        self.prefix = ""

    def _write(self, level: str, msg: str, to_stderr: bool) -> None:
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%S')} bond {level} {self.prefix}{msg}\n"
        if to_stderr:
            try:
                self.stderr.write(line)
                self.stderr.flush()
            except (OSError, ValueError):
                pass
        if self.path:
            try:
                with open(self.path, "a", encoding="utf-8") as fh:
                    fh.write(line)
            except OSError:
                pass

    def debug(self, msg: str) -> None:
        self._write("debug", msg, self.debug_to_stderr)

    def info(self, msg: str) -> None:
        self._write("info", msg, self.debug_to_stderr)

    def warning(self, msg: str) -> None:
        self._write("warning", msg, True)

    def error(self, msg: str) -> None:
        self._write("error", msg, True)


def _version_tuple(version: str) -> tuple:
    try:
        return tuple(int(x) for x in version.split("."))
    except ValueError:
        return (0,)


def validate_container_id(value: str) -> None:
    if value == "":
        raise CniError(errors.UNKNOWN_CONTAINER, "missing containerID")
    if not CONTAINER_ID_RE.match(value):
        raise CniError(errors.INVALID_ENV, "invalid characters in containerID", value)


def validate_ifname(value: str) -> None:
    """pkg/utils.ValidateInterfaceName, with its messages."""
    if value == "":
        raise CniError(errors.INVALID_ENV, "interface name is empty")
    if len(value) > 15:
        raise CniError(
            errors.INVALID_ENV,
            "interface name is too long",
            "interface name should be less than 16 characters",
        )
    if value in (".", ".."):
        raise CniError(errors.INVALID_ENV, "interface name is . or ..")
    if any(c == "/" or c == ":" or c.isspace() for c in value):
        raise CniError(errors.INVALID_ENV, "interface name contains / or : or whitespace characters")


def args_from_env(env: Mapping[str, str], stdin: bytes) -> CmdArgs:
    command = env.get("CNI_COMMAND", "")
    if command and command not in COMMANDS:
        raise CniError(errors.INVALID_ENV, f"unknown CNI_COMMAND: {command}")
    missing = [var for var, needed in ENV_TABLE if (command or "ADD") in needed and env.get(var, "") == ""]
    if not command:
        missing = ["CNI_COMMAND"]
    if missing:
        raise CniError(errors.INVALID_ENV, f"required env variables [{','.join(missing)}] missing")
    args = CmdArgs(
        command=command,
        container_id=env.get("CNI_CONTAINERID", ""),
        netns=env.get("CNI_NETNS", ""),
        ifname=env.get("CNI_IFNAME", ""),
        args=env.get("CNI_ARGS", ""),
        path=env.get("CNI_PATH", ""),
        stdin=stdin,
        env=env,
    )
    if command in ("ADD", "DEL", "CHECK"):
        validate_container_id(args.container_id)
        validate_ifname(args.ifname)
    return args


def check_version(args: CmdArgs) -> None:
    """Decode the config's cniVersion and check it against what we support and what the command needs."""
    if args.command == "DEL":
        return  # DEL is best-effort: a config that no longer validates must not stop the clean-up
    from .config import check_version as check
    from .config import decode

    version = check(decode(args.stdin))
    need = MIN_VERSION.get(args.command)
    if need and _version_tuple(version) < _version_tuple(need):
        raise CniError(
            errors.INCOMPATIBLE_VERSION,
            f"config version does not allow {args.command}",
            f'config is "{version}", {args.command} needs {need} or later',
        )


def check_netns(args: CmdArgs) -> None:
    """Reject CNI_NETNS equal to the plugin's own netns (skel: code 8), unless CNI_NETNS_OVERRIDE is set."""
    if not args.netns or args.command not in ("ADD", "CHECK"):
        return
    if args.env.get("CNI_NETNS_OVERRIDE", "") in ("1", "true"):
        return
    try:
        mine = os.stat("/proc/self/ns/net")
        theirs = os.stat(args.netns)
    except OSError:
        return  # a missing netns is reported by the command with its path
    if (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino):
        raise CniError(errors.INVALID_NETNS, "plugin's netns and netns from CNI_NETNS should not be the same")


def version_info() -> dict:
    return {"cniVersion": CURRENT_VERSION, "supportedVersions": list(SUPPORTED_VERSIONS)}


def _peek_log_file(stdin: bytes) -> Optional[str]:
    if b"logFile" not in stdin and b"logfile" not in stdin.lower():
        return None
    try:
        obj = json.loads(stdin)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    value = next((v for k, v in obj.items() if k.lower() == "logfile"), None)
    return value if isinstance(value, str) and value else None


Handler = Callable[[CmdArgs, Log], Optional[dict]]


def dispatch(
    handlers: Union[Dict[str, Handler], Callable[[], Dict[str, Handler]]],
    env: Mapping[str, str],
    stdin: IO[bytes],
    stdout: IO[str],
    stderr: IO[str],
) -> int:
    """Run one CNI command; return the exit status.  Never raises (except SystemExit/KeyboardInterrupt)."""
    log = Log(stderr, env.get("BONDCNI_LOG_FILE") or None, env.get("BONDCNI_DEBUG", "") in ("1", "true"))
    version = ""
    try:
        command = env.get("CNI_COMMAND", "")
        if command == "VERSION":
            _emit(stdout, version_info())
            return 0
        try:
            data = stdin.read() if command else b""
        except OSError as exc:
            raise CniError(
                errors.IO_FAILURE, "failed to read the network configuration from stdin", str(exc)
            ) from None
        log.path = log.path or _peek_log_file(data)
        args = args_from_env(env, data)
        log.prefix = f"{args.command} {args.container_id} {args.ifname}: "
        check_version(args)
        check_netns(args)
        table = handlers() if callable(handlers) else handlers  # lazily: VERSION needs none of it
        out = table[args.command](args, log)
        if out is not None:
            _emit(stdout, out)
        return 0
    except CniError as exc:
        log.error(f"code {exc.code}: {exc.msg}" + (f" ({exc.details})" if exc.details else ""))
        _emit(stdout, exc.to_dict(version))
        return 1
    except Exception as exc:  # the last resort: a traceback goes to the log, never to stdout
        import traceback

        log.error("unexpected error:\n" + traceback.format_exc())
        err = CniError(errors.INTERNAL, f"internal error: {type(exc).__name__}: {exc}")
        _emit(stdout, err.to_dict(version))
        return 1


def _emit(stdout: IO[str], obj: dict) -> None:
    try:
        stdout.write(json.dumps(obj) + "\n")
        stdout.flush()
    except (BrokenPipeError, ValueError):
        pass
