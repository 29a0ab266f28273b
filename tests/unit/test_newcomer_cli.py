"""``python -m dynorm.local --help`` reads as plain help text (issue 17)."""

from __future__ import annotations

import subprocess
import sys


def test_local_cli_help_is_plain_text_and_explains_every_option() -> None:
    done = subprocess.run([sys.executable, "-m", "dynorm.local", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "```" not in text and "``" not in text  # no Markdown / reST markup
    assert "--host HOST           address to listen on" in text
    assert "--port PORT           TCP port to listen on (default: 8000)" in text
    assert "DYNORM_ENDPOINT_URL" in text
