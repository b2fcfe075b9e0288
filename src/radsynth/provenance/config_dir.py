"""The user configuration folder: signing keys and the audit log live here, never in outputs.

``$RADSYNTH_CONFIG_DIR`` if set, else ``$XDG_CONFIG_HOME/radsynth``, else ``~/.config/radsynth``.
Created on first use with mode 0700.
"""

from __future__ import annotations

import os
from pathlib import Path


def config_dir(create: bool = True) -> Path:
    env = os.environ.get("RADSYNTH_CONFIG_DIR")
    if env:
        d = Path(env).expanduser()
    else:
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        d = Path(base).expanduser() / "radsynth"
    if create:
        d.mkdir(parents=True, exist_ok=True)
        try:
            os.chmod(d, 0o700)
        except OSError:
            pass
    return d
