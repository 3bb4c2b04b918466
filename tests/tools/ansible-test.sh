#!/usr/bin/env bash
# Runs `ansible-test sanity` and `ansible-test units` on the collection taskstack.aws as built.
#
# ansible-test runs only from a folder .../ansible_collections/taskstack/aws and reads the real
# path (os.getcwd() resolves the clone's collections/ symlink back to the clone), so it runs on
# a copy: `ansible-galaxy collection build` (galaxy.yml's build_ignore leaves out what only a
# clone needs) installed into a temporary folder. ansible-test finds other collections in the
# same collection root: amazon.aws (module_utils, documentation fragments) and community.aws
# come from the `ansible` package in .venv, linked there, since Galaxy cannot be reached.
#
# Usage: tests/tools/ansible-test.sh [sanity|units]...   (both by default)
# Each ansible-test run makes its own virtual environments (--venv, no Docker here) and caches
# them under ~/.ansible/test; the first run installs its tools from PyPI.
set -euo pipefail
cd "$(dirname "$0")/../.."
clone=$PWD
bin=$PWD/.venv/bin
python=$bin/python
commands=("$@")
((${#commands[@]})) || commands=(sanity units)

# ansible-test bootstraps pip in its virtual environments with a script it downloads from a host
# these machines cannot reach; it uses a cached copy first (tests/tools/get_pip.py says more).
pip_version=$("$python" - <<'PY'
import inspect, re
from ansible_test._internal import python_requirements
print(re.search(r"pip='([0-9.]+)'", inspect.getsource(python_requirements.get_venv_packages))[1])
PY
)
cache=~/.ansible/test/cache/get_pip_${pip_version//./_}.py
if [[ ! -f $cache ]] || ! cmp -s tests/tools/get_pip.py "$cache"; then
  mkdir -p "$(dirname "$cache")"
  cp tests/tools/get_pip.py "$cache"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin/ansible-galaxy" collection build --output-path "$work" . >/dev/null
root=$work/collections/ansible_collections
# Only the new folder counts: the clone's collections/ already holds taskstack.aws (the symlink).
ANSIBLE_COLLECTIONS_PATH=$work/collections "$bin/ansible-galaxy" collection install --no-deps \
  --offline -p "$work/collections" "$work"/taskstack-aws-*.tar.gz >/dev/null
bundled=$("$python" -c 'import ansible_collections.amazon.aws as c, os; print(os.path.dirname(c.__path__[0]))')
ln -s "$bundled" "$root/amazon"
# community.aws (meta/runtime.yml's action group extends its group) from the same package.
mkdir -p "$root/community"
ln -s "$(dirname "$bundled")/community/aws" "$root/community/aws"

cd "$root/taskstack/aws"
for command in "${commands[@]}"; do
  started=$SECONDS
  case $command in
    sanity) "$bin/ansible-test" sanity --venv --python 3.11 --color no ;;
    units)
      # The modules' unit tests meet the emulator's model of the Budgets calls moto lacks
      # (embedded/budgets.py, left out of the built collection): put beside their conftest.py.
      cp "$clone/embedded/budgets.py" tests/unit/budgets.py
      "$bin/ansible-test" units --venv --python 3.11 --color no --requirements ;;
    *) echo "unknown ansible-test command: $command (sanity or units)" >&2; exit 2 ;;
  esac
  echo "ansible-test $command: passed in $((SECONDS - started)) s"
done
