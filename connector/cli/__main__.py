"""``python -m connector.cli``: what ``connector run`` starts its web and worker children with."""

from connector.cli import main

main()
