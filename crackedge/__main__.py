import sys

from crackedge.cli import main

sys.exit(main())
