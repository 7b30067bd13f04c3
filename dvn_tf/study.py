"""Where studies went: they drive training and export, so they moved above both, to studies/.

`python -m dvn_tf.study ...` prints the new command in one line and exits 2.
"""

import sys

if __name__ == "__main__":
    print("dvn_tf.study: error: studies moved; run python -m studies --study=NAME "
          "[--seeds=N] [--workdir=DIR]", file=sys.stderr)
    sys.exit(2)
