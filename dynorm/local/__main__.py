"""``python -m dynorm.local --port 8000``: serve a local DynamoDB until interrupted."""

from dynorm.local import main

main()
