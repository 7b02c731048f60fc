import sys

from sems_lite.cli import main

sys.exit(main())
