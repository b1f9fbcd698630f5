"""`python -m devnet`: run the local TRON node and provider sandboxes until Ctrl-C."""

from devnet.server import main

raise SystemExit(main())
