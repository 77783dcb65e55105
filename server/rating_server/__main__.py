import sys

from rating_server.cli import main

sys.exit(main())
