"""The container's health check: `python -m monitoring.healthcheck [PORT]`.

Asks /monitoring/health/ on loopback with a Host the settings accept (the first
plain name in ALLOWED_HOSTS), so the check passes with production host names.
No Django import: it runs every few seconds and must stay cheap. Exit 0 healthy,
1 not.
"""

import os
import sys
import urllib.error
import urllib.request


def allowed_host() -> str:
    for name in os.environ.get("ALLOWED_HOSTS", "").split(","):
        name = name.strip()
        if name and name != "*" and not name.startswith("."):
            return name
    return "localhost"


def main(argv: list[str]) -> int:
    port = argv[1] if len(argv) > 1 else os.environ.get("PORT", "8000")
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/monitoring/health/", headers={"Host": allowed_host()}
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError):
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
