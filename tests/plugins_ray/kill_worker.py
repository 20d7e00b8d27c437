"""An index that kills the process that started it while building: under the Ray executor that is the Ray worker
(as the kernel's OOM killer or a lost node would), so the task's worker dies. Loaded only by the Ray executor tests
(under the local executor its parent would be run.py itself)."""

import os
import signal

import numpy as np

from topobench.core.hookspecs import hookimpl
from topobench.core.indexes import Index


class KillWorker(Index):
    def fit(self, X):
        os.kill(os.getppid(), signal.SIGKILL)

    def query(self, q, k):
        return np.arange(k)


@hookimpl
def register_indexes(register):
    register("kill_worker", KillWorker)
