# Sourced by scripts/serve and scripts/test: make .venv and install the project into it
# when pyproject.toml changed since the last install.
VENV="${SULH_VENV:-.venv}"
EXTRAS="${SULH_EXTRAS:-}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
stamp="$VENV/.sulh-installed$EXTRAS"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e ".$EXTRAS"
  touch "$stamp"
fi
