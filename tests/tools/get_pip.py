"""Stand-in for the pip bootstrap script ansible-test downloads for its virtual environments.

ansible-test fetches get-pip.py from ci-files.testing.ansible.com, which these machines cannot
reach (PyPI they can). It runs the script with get-pip.py's arguments (pip options, the packages
to install, --no-setuptools / --no-wheel); this one installs pip from the wheel bundled with
Python (ensurepip), then lets that pip install the requested packages from PyPI.
tests/tools/ansible-test.sh puts it where ansible-test looks for its cached copy.
"""

from __future__ import annotations

import subprocess
import sys

# get-pip.py's own switches; pip does not know them (nothing is added unless asked for anyway).
GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

if __name__ == "__main__":
    # In a child process: ensurepip points PIP_CONFIG_FILE at /dev/null in its own process,
    # and the pip below must read the machine's pip configuration (its CA bundle, indexes).
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
    arguments = [argument for argument in sys.argv[1:] if argument not in GET_PIP_ONLY]
    sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *arguments]))
