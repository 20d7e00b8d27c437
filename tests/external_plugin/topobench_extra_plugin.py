"""A third-party plugin as a user would publish it: an exact index registered through the ``topobench`` entry point."""

import numpy as np

from topobench.core.hookspecs import hookimpl
from topobench.core.indexes import Index, normalize


class ExtraExact(Index):
    """Exact search with numpy, from an external package."""

    def fit(self, X):
        self.X = normalize(X) if self.metric == "angular" else np.asarray(X, np.float32)

    def query(self, q, k):
        if self.metric == "angular":
            scores = self.X @ (q / max(np.linalg.norm(q), 1e-30))
        else:
            scores = -((self.X - q) ** 2).sum(axis=1)
        top = np.argpartition(-scores, min(k, len(scores) - 1))[:k]
        return top[np.argsort(-scores[top])]


@hookimpl
def register_indexes(register):
    register("extra_exact", ExtraExact)
