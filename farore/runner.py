"""Running cases through a backend: requests, batches, scores (the solver/scorer half of a run)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from statistics import fmean

from farore.backends.base import Backend, Generation, GenerationError, GenerationSettings, Message
from farore.behaviour import check_behaviour
from farore.cache import ResponseCache
from farore.cases import Case
from farore.prompts import PromptStrategy
from farore.scoring import ScoringMode, score_response

DEFAULT_SAMPLING_TEMPERATURE = 0.7


@dataclass(frozen=True)
class SampleOutcome:
    """One response to one case, scored."""

    case_id: str
    category: str
    sample: int
    seed: int
    response: str
    score: float
    passed: bool
    found: tuple[str, ...]
    missing: tuple[str, ...]
    anti_keywords: tuple[str, ...]
    behaviour: dict[str, bool]
    latency_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached: bool = False
    error: str | None = None


@dataclass(frozen=True)
class CaseOutcome:
    """All samples of one case; the case passes when the mean score reaches its threshold,
    no sample used an anti-keyword and no sample errored."""

    case_id: str
    category: str
    threshold: float
    samples: tuple[SampleOutcome, ...]

    @property
    def score(self) -> float:
        return fmean(s.score for s in self.samples)

    @property
    def errors(self) -> tuple[str, ...]:
        return tuple(s.error for s in self.samples if s.error)

    @property
    def anti_keywords(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(k for s in self.samples for k in s.anti_keywords))

    @property
    def passed(self) -> bool:
        return not self.errors and not self.anti_keywords and self.score >= self.threshold

    def failure_message(self) -> str:
        if self.errors:
            return f"{self.case_id}: backend error: {self.errors[0]}"
        missing = list(dict.fromkeys(m for s in self.samples for m in s.missing))
        lines = [f"{self.case_id}: score {self.score:.0%} (threshold {self.threshold:.0%})"]
        if missing:
            lines.append(f"missing concepts: {', '.join(missing)}")
        if self.anti_keywords:
            lines.append(f"anti-keywords found: {', '.join(self.anti_keywords)}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Request:
    case: Case
    sample: int
    settings: GenerationSettings

    @property
    def key(self) -> tuple[str, int]:
        return (self.case.id, self.sample)


class Progress:
    """A tqdm bar with counts and ETA on stderr; a no-op when tqdm is absent or output is off."""

    def __init__(self, total: int, description: str = "generating", enabled: bool = True):
        self._bar = None
        if enabled and total:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=description, unit="answer", file=sys.stderr, dynamic_ncols=True)

    def update(self, count: int) -> None:
        if self._bar is not None:
            self._bar.update(count)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def sample_settings(base: GenerationSettings, samples: int, index: int) -> GenerationSettings:
    """One sample keeps the base settings; repeats sample, each with its own seed."""
    if samples <= 1:
        return base
    temperature = base.temperature if base.temperature > 0 else DEFAULT_SAMPLING_TEMPERATURE
    return replace(base, temperature=temperature, seed=base.seed + index)


@dataclass
class Runner:
    """Generates the answers a run needs, batch by batch, and scores them."""

    backend: Backend
    strategy: PromptStrategy
    settings: GenerationSettings = field(default_factory=GenerationSettings)
    samples: int = 1
    scoring: ScoringMode = "whole-term"
    show_progress: bool = True
    #: Answers already generated are replayed from here, new ones stored (None: no cache).
    cache: ResponseCache | None = None
    #: Batches in flight at once: more than 1 keeps several requests to a served model busy.
    concurrency: int = 1
    _done: dict[tuple[str, int], SampleOutcome] = field(default_factory=dict, init=False)

    def requests(self, cases: Iterable[Case]) -> list[Request]:
        return [
            Request(case, index, sample_settings(self.settings, self.samples, index))
            for case in cases
            for index in range(self.samples)
        ]

    def score(self, request: Request, text: str, generation: Generation | None, cached: bool, error: str | None) -> SampleOutcome:
        result = score_response(text, request.case, self.scoring)
        return SampleOutcome(
            case_id=request.case.id,
            category=request.case.category,
            sample=request.sample,
            seed=request.settings.seed,
            response=text,
            score=0.0 if error else result.score,
            passed=False if error else result.passed,
            found=() if error else result.found,
            missing=tuple(c.name for c in request.case.concepts) if error else result.missing,
            anti_keywords=result.anti_keywords,
            behaviour=check_behaviour(text, request.case),
            latency_s=None if generation is None or cached else generation.latency_s,
            prompt_tokens=generation.prompt_tokens if generation else None,
            completion_tokens=generation.completion_tokens if generation else None,
            cached=cached,
            error=error,
        )

    def _messages(self, request: Request) -> list[Message]:
        return self.strategy.messages(request.case.prompt)

    def _cache_key(self, request: Request) -> str:
        assert self.cache is not None
        return self.cache.key(self._messages(request), request.settings, request.sample)

    def _generate_batch(self, batch: Sequence[Request]) -> list[tuple[SampleOutcome, Generation | None]]:
        """Each request's outcome with the generation behind it (None when it errored)."""
        try:
            generations = self.backend.generate([self._messages(r) for r in batch], batch[0].settings)
        except GenerationError as error:
            if len(batch) > 1:  # isolate the failing request; the others still get answers
                return [pair for r in batch for pair in self._generate_batch([r])]
            return [(self.score(batch[0], "", None, cached=False, error=str(error)), None)]
        return [(self.score(r, g.text, g, cached=False, error=None), g) for r, g in zip(batch, generations)]

    def _replay(self, requests: Sequence[Request]) -> list[Request]:
        """Score the cached answers among ``requests``; return the ones still to generate."""
        if self.cache is None:
            return list(requests)
        missing = []
        for request in requests:
            cached = self.cache.get(self._cache_key(request))
            if cached is None:
                missing.append(request)
            else:
                self._done[request.key] = self.score(request, cached.text, cached, cached=True, error=None)
        return missing

    def _batches(self, requests: Sequence[Request]) -> list[list[Request]]:
        """Batches of one sample index and similar prompt length (little padding), as even in size
        as the batch size allows: 50 prompts at 16 are 12+13+13+12, not 16+16+16+2, since a nearly
        empty batch decodes as many steps as a full one."""
        batch_size = max(1, self.backend.batch_size)
        by_sample: dict[int, list[Request]] = {}
        for request in requests:
            by_sample.setdefault(request.sample, []).append(request)
        batches = []
        for group in by_sample.values():
            group.sort(key=lambda r: len(r.case.prompt))
            count = -(-len(group) // batch_size)
            bounds = [round(index * len(group) / count) for index in range(count + 1)]
            batches += [group[start:end] for start, end in zip(bounds, bounds[1:])]
        return batches

    def _answered(self, batches: Sequence[list[Request]]) -> Iterator[tuple[list[Request], list[tuple[SampleOutcome, Generation | None]]]]:
        """Each batch with its answers as it finishes; ``concurrency`` batches in flight at once."""
        if self.concurrency <= 1:
            for batch in batches:
                yield batch, self._generate_batch(batch)
            return
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="farore-request")
        try:
            futures = {pool.submit(self._generate_batch, batch): batch for batch in batches}
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def ensure(self, cases: Iterable[Case]) -> None:
        """Answer every request of ``cases`` not answered yet: from the cache, else generated.

        Each new answer is stored in the cache the moment its batch finishes (errored ones are
        not), so an interrupted run keeps everything it finished.
        """
        missing = self._replay([r for r in self.requests(cases) if r.key not in self._done])
        if not missing:
            return
        progress = Progress(len(missing), f"{self.backend.model}", enabled=self.show_progress)
        try:
            for batch, answers in self._answered(self._batches(missing)):
                for request, (outcome, generation) in zip(batch, answers):
                    self._done[request.key] = outcome
                    if self.cache is not None and generation is not None:
                        self.cache.put(self._cache_key(request), generation)
                progress.update(len(batch))
        finally:
            progress.close()

    def outcome(self, case: Case) -> CaseOutcome:
        self.ensure([case])
        samples = tuple(self._done[(case.id, i)] for i in range(self.samples))
        return CaseOutcome(case.id, case.category, case.threshold, samples)

    def run(self, cases: Sequence[Case]) -> list[CaseOutcome]:
        self.ensure(cases)
        return [self.outcome(case) for case in cases]
