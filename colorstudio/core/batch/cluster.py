"""Batch photos on Ray: the same per-photo function on an actor pool (``--cluster ray[:ADDRESS]``).

Each actor holds one runtime (its engines, models loaded once per actor) and runs
``step.process_photo`` for the photos it is handed; the coordinator keeps the manifest, the
lock and the walk, exactly as on one machine, so resume and reports do not change. Outputs
and their metadata are written by our own code on the worker (Ray's image writers would drop
the metadata), so OUTPUT_DIR and SOURCE_DIR must be visible at the same paths on every node
(a shared file system). Actors ask for a GPU each where the cluster has GPUs.
"""
from __future__ import annotations

from concurrent.futures import Future
from typing import Optional

from .plan import BatchError
from .step import BatchSettings, EngineCache, PhotoTask, process_photo, together_for


class _Worker:
    """A Ray actor: one runtime, reused for every photo it colorizes. With ``together`` > 1
    (a GPU actor) it takes several photos at once (a threaded actor) through a
    ``run.LocalPipeline`` of its own, which decodes and encodes on threads and puts the
    photos waiting of one size through the network in one pass, as on one machine."""

    def __init__(self, settings: BatchSettings, together: int = 1):
        self.settings = settings
        self.runtime = EngineCache()
        self.pipeline = None
        if together > 1:
            from .run import LocalPipeline
            self.pipeline = LocalPipeline(settings, jobs=1, runtime=self.runtime, together=together)

    def process(self, task: PhotoTask) -> dict:
        if self.pipeline is not None:
            return self.pipeline.submit(task).result()
        return process_photo(task, self.settings, self.runtime)

    def engines_built(self) -> int:
        return self.runtime.built


def connect(cluster: str, *, num_cpus: Optional[int] = None):
    """Join (or start) Ray: "ray" starts a local one unless RAY_ADDRESS says where; "ray:ADDRESS" joins it."""
    try:
        import ray
    except ImportError:
        raise BatchError("--cluster ray needs Ray: pip install 'colorstudio[cluster]'") from None
    if not ray.is_initialized():
        address = cluster.partition(":")[2] or None
        kwargs = {"address": address} if address else ({"num_cpus": num_cpus} if num_cpus else {})
        try:
            ray.init(ignore_reinit_error=True, log_to_driver=False, include_dashboard=False, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise BatchError(f"could not reach the Ray cluster at {address or 'this machine'}: {exc}") from None
    return ray


class RayPool:
    """An executor with ``submit(task) -> Future`` and ``in_flight``, like ``run.LocalPipeline``.

    ``jobs`` actors (one per GPU when the cluster has GPUs and ``jobs`` is not given larger;
    ``jobs`` None: one per GPU, or one per CPU of a cluster without GPUs),
    each with at most two photos queued, so memory stays bounded on every node; an actor that
    takes photos together (``step.together_for``: on GPUs)
    has as many in flight as its pipeline holds.
    """

    def __init__(self, settings: BatchSettings, cluster: str = "ray", *, jobs: Optional[int] = 1,
                 num_cpus: Optional[int] = None):
        ray = connect(cluster, num_cpus=num_cpus)
        self.ray = ray
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        want_gpu = gpus > 0 and settings.device in ("auto", "cuda")
        count = max(1, int(jobs if jobs is not None else resources.get("CPU", 1)))
        options = {"num_cpus": 1}
        if want_gpu:
            options = {"num_cpus": 1, "num_gpus": 1}
            count = max(1, min(count, gpus)) if jobs is not None and jobs > 1 else gpus
        together = together_for(settings, want_gpu)
        per_actor = 2
        if together > 1:
            from .run import LocalPipeline
            per_actor = LocalPipeline.in_flight_for(1, together)
            options["max_concurrency"] = per_actor
        actor = ray.remote(**options)(_Worker)
        self.actors = [actor.remote(settings, together) for _ in range(count)]
        self.load = [0] * count
        self.in_flight = per_actor * count

    def submit(self, task: PhotoTask) -> Future:
        i = min(range(len(self.actors)), key=self.load.__getitem__)
        self.load[i] += 1
        future = self.actors[i].process.remote(task).future()

        def release(_f, i=i):
            self.load[i] -= 1
        future.add_done_callback(release)
        return future

    def engines_built(self) -> list[int]:
        return self.ray.get([a.engines_built.remote() for a in self.actors])

    def close(self, cancel: bool = False) -> None:
        for a in self.actors:
            self.ray.kill(a)
        self.actors = []
