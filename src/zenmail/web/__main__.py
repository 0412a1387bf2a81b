"""`python -m zenmail.web --settings FILE --host H --port P`: the API as its own process
(the stack's supervisor starts it so; `zenmail serve` runs it in the foreground)."""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from zenmail.config import Settings
from zenmail.web.app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--settings", required=True, type=Path,
                        help="JSON settings, as `zenmail up` saves them in STATE/run")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", required=True, type=int)
    args = parser.parse_args()
    settings = Settings.model_validate_json(args.settings.read_text())
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
