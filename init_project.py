"""Guided setup, as in the original project: same as `jq2qmt init`.

python init_project.py [--help]
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    try:
        from jq2qmt.cli import main
    except ImportError:  # run from a checkout without `pip install .`
        sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))
        from jq2qmt.cli import main
    main(["init"] + sys.argv[1:], prog_name="init_project.py")
