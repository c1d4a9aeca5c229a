"""The CNI dispatcher, modelled on containernetworking/cni pkg/skel.

Environment and streams are injected, so dispatch is testable without touching os.environ.  Every failure
leaves as the spec's error JSON on stdout with exit status 1; diagnostics go to stderr and the node's log
file (settings.py: the node chooses it, never a network config); a traceback never reaches stdout.
"""

from __future__ import annotations

import time

from . import errors, os
from .errors import CniError
from .jsonio import dumps
from .spec import CURRENT_VERSION, SUPPORTED_VERSIONS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Callable, Dict, Mapping, Optional, Union

    from .settings import Settings

# Every command, and the module and function that run it: imported only when that command runs, so an exec
# pays for one command's code (VERSION is answered by dispatch() itself, before any of them).
COMMANDS = {
    "ADD": ("add", "cmd_add"),
    "DEL": ("delete", "cmd_del"),
    "CHECK": ("check", "cmd_check"),
    "GC": ("delete", "cmd_gc"),
    "STATUS": ("check", "cmd_status"),
    "VERSION": None,
}

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


class CmdArgs:
    """One invocation: the CNI_* environment, stdin and the node's settings; but for DEL, also stdin's config
    as decoded and its cniVersion as checked, once, by check_version()."""

    __slots__ = (
        "command",
        "container_id",
        "netns",
        "ifname",
        "args",
        "path",
        "stdin",
        "env",
        "settings",
        "config",
        "cni_version",
    )

    def __init__(self, command, container_id, netns, ifname, args, path, stdin, env, settings=None) -> None:
        self.command: str = command
        self.container_id: str = container_id
        self.netns: str = netns
        self.ifname: str = ifname
        self.args: str = args
        self.path: str = path
        self.stdin: bytes = stdin
        self.env: Mapping[str, str] = env
        self.settings: Settings = settings
        self.config: Optional[dict] = None
        self.cni_version: str = ""


LEVELS = {"debug": 0, "info": 1, "warning": 2, "error": 3}


def one_line(text: str) -> str:
    """Every control, line- and paragraph-separator character escaped: one log record is one line, whatever
    a network config or the environment put in it (no forged records)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def open_log(path: str) -> int:
    """Open the node's log file for appending: never through a symlink, 0600 when created, only in a directory
    that root owns and only root can write (else OSError)."""
    st = os.stat(os.path.dirname(path) or ".")
    if st.st_uid not in (0, os.geteuid()) or st.st_mode & 0o022:
        raise PermissionError(f"the log directory of {path} is not only root's")
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


class Log:
    """Diagnostics: warnings and errors to stderr, records at the node's level to its log file."""

    def __init__(self, stderr: IO[str], path: Optional[str] = None, level: str = "info") -> None:
        self.stderr = stderr
        self.path = path
        self.level = LEVELS.get(level, 1)
        self.prefix = ""
        self._fd: Optional[int] = None

    def _write(self, level: str, msg: str) -> None:
        rank = LEVELS[level]
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%S')} bond {level} {one_line(self.prefix + msg)}\n"
        if rank >= LEVELS["warning"] or self.level == 0:
            try:
                self.stderr.write(line)
                self.stderr.flush()
            except (OSError, ValueError):
                pass
        if self.path and rank >= self.level:
            try:
                if self._fd is None:
                    self._fd = open_log(self.path)
                os.write(self._fd, line.encode("utf-8", "backslashreplace"))
            except OSError as exc:
                path, self.path = self.path, None  # say it once, on stderr
                self.warning(f"log file {path} not written: {exc}")

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def debug(self, msg: str) -> None:
        self._write("debug", msg)

    def info(self, msg: str) -> None:
        self._write("info", msg)

    def warning(self, msg: str) -> None:
        self._write("warning", msg)

    def error(self, msg: str) -> None:
        self._write("error", msg)


def _version_tuple(version: str) -> tuple:
    try:
        return tuple(int(x) for x in version.split("."))
    except ValueError:
        return (0,)


def validate_container_id(value: str) -> None:
    if value == "":
        raise CniError(errors.UNKNOWN_CONTAINER, "missing containerID")
    from .fields import is_name

    if not is_name(value):
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
    """Decode the config into args.config, and check its cniVersion against what we support and what the
    command needs: once, here, before the netns check (the command parses args.config, not stdin)."""
    if args.command == "DEL":
        return  # DEL is best-effort: a config that no longer validates must not stop the clean-up
    from .config import check_version as check
    from .fields import decode

    args.config = decode(args.stdin)
    version = args.cni_version = check(args.config)
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


def version_info(asked: str = CURRENT_VERSION) -> dict:
    """VERSION's answer, in the version it was asked in; a built artifact adds buildInfo (the commit it was
    built from)."""
    from .buildinfo import build_info

    return {"cniVersion": asked, "supportedVersions": list(SUPPORTED_VERSIONS), **build_info()}


def _version_in(data: bytes) -> str:
    """The cniVersion of a request (the config, VERSION's input), when it is one we speak, else our newest."""
    from .jsonio import loads

    if not data.strip():  # nothing asked (VERSION from a shell, /dev/null): not a syntax error to explain
        return CURRENT_VERSION
    try:
        obj = loads(data)
    except (ValueError, RecursionError):
        return CURRENT_VERSION
    version = obj.get("cniVersion") if isinstance(obj, dict) else None
    return version if version in SUPPORTED_VERSIONS else CURRENT_VERSION


def _version_asked(stdin: IO[bytes]) -> str:
    """VERSION's input version: its answer's cniVersion is "the value of cniVersion specified on input"
    (SPEC.md, Section 5). A runtime writes its request and closes stdin; a terminal, or a pipe nobody
    writes to within a second, gets our newest version instead of a hang."""
    try:
        fd = stdin.fileno()
    except (AttributeError, ValueError, OSError):  # an in-memory stream (tests)
        return _version_in(stdin.read())
    import select

    if os.isatty(fd) or not select.select([fd], [], [], 1.0)[0]:
        return CURRENT_VERSION
    return _version_in(os.read(fd, 65536))


def _load_settings(command: str, env: Mapping[str, str], log: Log) -> Settings:
    from . import settings

    try:
        return settings.load(env)
    except CniError as exc:
        if command != "DEL":
            raise
        return settings.defaults_with_env(env, exc)  # DEL must still clean up


def dispatch(
    handlers: Union[Dict[str, Callable], Callable[[], Dict[str, Callable]]],
    env: Mapping[str, str],
    stdin: IO[bytes],
    stdout: IO[str],
    stderr: IO[str],
) -> int:
    """Run one CNI command; return the exit status.  Never raises (except SystemExit/KeyboardInterrupt)."""
    log = Log(stderr)
    data = b""
    try:
        command = env.get("CNI_COMMAND", "")
        if command == "VERSION":
            _emit(stdout, version_info(_version_asked(stdin)))
            return 0
        try:
            data = stdin.read() if command else b""
        except OSError as exc:
            raise CniError(
                errors.IO_FAILURE, "failed to read the network configuration from stdin", str(exc)
            ) from None
        node = _load_settings(command, env, log)
        log.path, log.level = node.log_file or None, LEVELS.get(node.log_level, 1)
        for warning in node.warnings:
            log.warning(warning)
        args = args_from_env(env, data)
        args.settings = node
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
        _emit(stdout, exc.to_dict(_version_in(data)))
        return 1
    except Exception as exc:  # the last resort: a traceback goes to the log, never to stdout
        import traceback

        log.error("unexpected error: " + traceback.format_exc())
        err = CniError(errors.INTERNAL, f"internal error: {type(exc).__name__}: {exc}")
        _emit(stdout, err.to_dict(_version_in(data)))
        return 1
    finally:
        log.close()


def _emit(stdout: IO[str], obj: dict) -> None:
    try:
        stdout.write(dumps(obj) + "\n")
        stdout.flush()
    except (BrokenPipeError, ValueError):
        pass
