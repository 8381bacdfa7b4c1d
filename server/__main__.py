"""`python -m server`: one server process with the settings of the environment."""

import sys

from server.runtime.app import main

sys.exit(main())
