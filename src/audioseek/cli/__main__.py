import sys

from audioseek.cli.main import main

sys.exit(main())
