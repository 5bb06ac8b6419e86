import sys

from hmf_core.cli import main

sys.exit(main())
