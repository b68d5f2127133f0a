"""``python -m asgi_translate``: the same as the ``asgi-translate`` command."""

import sys

from .cli import main

sys.exit(main())
