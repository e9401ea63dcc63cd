"""Run one scenario of qmt_scenarios.py and print its facts as JSON (one line).

    python3.6 qmt36_harness.py SRC_DIR SCENARIO EXPORTED_FILE

Used by test_qmt_realities.py to run the exported QMT file on a real CPython 3.6.
"""

import json
import os
import sys


def main():
    src, name, path = sys.argv[1:4]
    sys.path.insert(0, src)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import qmt_scenarios

    facts = qmt_scenarios.SCENARIOS[name](path)
    facts["python"] = "%d.%d.%d" % sys.version_info[:3]
    sys.stdout.write("FACTS " + json.dumps(facts, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
