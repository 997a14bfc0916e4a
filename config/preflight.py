"""`make run`'s first step: is the port free, and what to open (python -m config.preflight PORT).

Says what is wrong before anything starts, instead of "starting..." followed by a failure.
"""

import os
import socket
import sys


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def banner(port: int) -> str:
    from django.conf import settings

    base = f"http://127.0.0.1:{port}"
    lines = [f"  slackhub is starting on {base}/ (stop it with Ctrl+C; another port: make run PORT=8001)",
             f"  install the app: {base}/slack/install"]
    if settings.SLACK_SANDBOX:
        lines.append(f"  the Slack sandbox, to try it without a workspace: {base}/sandbox/")
    lines.append(f"  the operator console: {base}/admin/ (create a user first: make superuser)")
    return "\n".join(["", *lines, ""])


def main(argv):
    port = int(argv[1]) if len(argv) > 1 else 8000
    if not port_is_free(port):
        print(f"Port {port} is taken (is slackhub already running?). Stop what uses it, or pick another port: "
              f"make run PORT={port + 1}", file=sys.stderr)
        return 1
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from config.startup import run_or_explain

    import django

    run_or_explain(django.setup)
    print(banner(port))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
