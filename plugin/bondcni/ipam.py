"""Delegation to the IPAM plugin: found by name in CNI_PATH (never a path from the config), exec'd with the
same environment and the complete network configuration, its stderr passed through (SPEC section 4).
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Mapping, Optional

from .errors import IPAM_RESULT, CniError


def find(name: str, cni_path: str) -> str:
    dirs = [d for d in cni_path.split(os.pathsep) if d]
    for d in dirs:
        candidate = os.path.join(d, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise CniError(IPAM_RESULT, f'failed to find plugin "{name}" in path {dirs}')


def run(name: str, command: str, env: Mapping[str, str], stdin: bytes) -> Optional[dict]:
    """Exec the IPAM plugin; its result (ADD) or None; its own error JSON re-raised with its code."""
    exe = find(name, env.get("CNI_PATH", ""))
    child_env = dict(env)
    child_env["CNI_COMMAND"] = command
    for key in [k for k in child_env if k.startswith("BONDCNI_TEST_")]:
        del child_env[key]
    try:
        proc = subprocess.run([exe], input=stdin, env=child_env, stdout=subprocess.PIPE, check=False)
    except OSError as exc:
        raise CniError(IPAM_RESULT, f"failed to run IPAM plugin {exe}: {exc.strerror}") from None
    out = proc.stdout.decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        try:
            err = json.loads(out)
            code = err.get("code")
            if isinstance(code, int) and isinstance(err.get("msg"), str):
                raise CniError(
                    code, f"IPAM plugin {name} ({command}): {err['msg']}", str(err.get("details", ""))
                )
        except (ValueError, AttributeError):
            pass
        raise CniError(
            IPAM_RESULT, f"IPAM plugin {name} ({command}) failed with exit status {proc.returncode}", out
        )
    if command != "ADD":
        return None
    try:
        result = json.loads(out)
    except ValueError:
        raise CniError(
            IPAM_RESULT, f"IPAM plugin {name} returned something that is not JSON", out[:200]
        ) from None
    if not isinstance(result, dict):
        raise CniError(
            IPAM_RESULT, f"IPAM plugin {name} returned a {type(result).__name__}, expected an object"
        )
    return result
