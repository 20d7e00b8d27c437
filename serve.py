#!/usr/bin/env python3
"""Serve saved indexes over HTTP (FastAPI on uvicorn): POST /encode, POST /search, GET /health, GET /indexes.

    python run.py --dataset scifact-minilm --algorithm hnsw --save-index 32,200     # save the index first
    python serve.py --dataset scifact-minilm --algorithm hnsw --port 8000
    curl -s localhost:8000/search -H 'content-type: application/json' -d '{"query": "aspirin and cancer", "k": 10}'
    python serve.py --list                                                         # saved indexes
"""

import sys

from topobench.cli.serve import serve_main

if __name__ == "__main__":
    sys.exit(serve_main())
