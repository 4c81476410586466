"""`chalice local` with a listen backlog sized for a spike.

Chalice's local server keeps socketserver's default backlog of 5 pending connections, so a burst
of buyers opening connections at once is reset by the kernel before the app sees it. This is the
same `chalice` command line with a deeper backlog; nothing else changes.
"""
import sys

from chalice import local

local.ThreadedHTTPServer.request_queue_size = 1024
local.ThreadedHTTPServer.daemon_threads = True

if __name__ == "__main__":
    from chalice.cli import main

    sys.exit(main())
