"""Raw corpora: download with mirror and cache, formats (BEIR, DPR, MS MARCO), integrity checks, answers."""
