"""``python -m levent NAME …``: the same as the ``levent`` command (``levent.cli``)."""

from __future__ import annotations

from levent.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
