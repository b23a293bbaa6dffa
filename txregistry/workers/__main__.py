"""
C{python -m txregistry.workers}: run one worker process (see
L{txregistry.workers.process}).
"""

import sys

from txregistry.workers.process import main

sys.exit(main())
