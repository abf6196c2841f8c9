"""``newest-build``: the tag whose image was built last (its config's ``created`` time).

Argo CD Image Updater's strategy of that name (formerly ``latest``), for tags that carry no
order of their own (Git SHAs, build ids). The policy stays pure: resolve hands it a lookup
``created(tag) -> datetime | None`` that reads the registry (cached by digest). Steps 1-2
(exclude, tag-filter) are the shared ones; then:

- a tag whose image states no creation time is skipped, with that reason;
- a tag whose time cannot be read (registry trouble) is skipped with the error; when the
  error is temporary the current tag is kept for this cycle rather than moving to a tag that
  may be older than the one that could not be read;
- the latest build wins; equal times go to the greatest tag name (as Argo CD Image Updater);
- never older than the current tag's build: without a time for the current tag nothing moves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from imagebot.errors import ImagebotError
from imagebot.model import PolicySpec
from imagebot.policy.choice import Choice, Rejected, Rejections
from imagebot.policy.policies import _Policy, _Tally
from imagebot.policy.filters import COSIGN_SUFFIXES, Deadline

#: Tags whose build time is looked up at most (one registry request each, cached by digest);
#: past this a tag-filter is needed (the choice is held with that reason).
MAX_INSPECTED = 1000

Created = Callable[[str], datetime | None]


class NewestBuildPolicy(_Policy):
    """``newest-build``: needs build times, which resolve passes as ``created``."""

    needs_created = True

    def __init__(self, spec: PolicySpec):
        super().__init__(spec, spec.policy)

    def choose(self, tags: Iterable[str], current: str | None, created: Created | None = None) -> Choice:
        listed = list(dict.fromkeys(tags))
        if created is None:
            why = "policy newest-build needs image build times, and this tag source has none"
            return Choice(current, why + (f"; keeping {current}" if current else ""), (), ())
        tally = _Tally(listed)
        if self._filter is None and self._exclude is None:
            kept = [t for t in listed if not t.endswith(COSIGN_SUFFIXES)]
            tally.bucket("cosign artefacts", lambda _v: "cosign signature/attestation/SBOM tag (always excluded)").extend(
                t for t in listed if t.endswith(COSIGN_SUFFIXES))
        else:
            kept, _ = self._filtered(listed, tally, Deadline())
        if current is not None and current not in kept:
            kept.append(current)  # the current tag is compared, even when filtered out (never downgrade)
        if len(kept) > MAX_INSPECTED:
            why = (f"{len(kept)} tags would need their build time read (at most {MAX_INSPECTED}); "
                   "narrow them with a tag-filter")
            return Choice(current, why + (f"; keeping {current}" if current else ""), (), tally.rejections())

        times: dict[str, datetime] = {}
        undated: list[str] = []
        failed: dict[str, ImagebotError] = {}
        for tag in kept:
            try:
                when = created(tag)
            except ImagebotError as e:
                failed[tag] = e
                continue
            if when is None:
                undated.append(tag)
            else:
                times[tag] = when
        extra = [Rejected(t, "the image states no creation time") for t in undated if t != current]
        extra += [Rejected(t, f"build time unreadable: {e}") for t, e in failed.items() if t != current]
        rejected = _combined(tally.rejections(), extra)
        summary = tally.summary()
        notes = [summary] if summary else []
        if undated:
            notes.append(f"{len(undated)} without a creation time")

        temporary = [t for t, e in failed.items() if e.temporary]
        if temporary and current is not None:
            why = f"build time of {temporary[0]} could not be read ({failed[temporary[0]]}); keeping {current} this cycle"
            return Choice(current, _join(why, *notes), (), rejected)

        ranked = sorted(times, key=lambda t: (times[t], t), reverse=True)
        if current is not None:
            if current not in times:
                what = (f"build time of the current tag {current} is unreadable ({failed[current]})" if current in failed
                        else f"the current tag {current} states no creation time")
                why = f"{what}, so newer builds cannot be told apart from older ones; keeping {current}"
                return Choice(current, _join(why, *notes), tuple(ranked), rejected)
            mine = (times[current], current)
            older = [t for t in ranked if (times[t], t) < mine]
            ranked = [t for t in ranked if (times[t], t) >= mine]
            if older:
                notes.insert(0, f"{len(older)} built before {current} (never downgrade)")
                rejected = _combined(rejected, [Rejected(t, f"built {times[t]:%Y-%m-%dT%H:%M:%SZ}, before the current "
                                                            f"tag {current}") for t in older])
            if ranked[0] == current:
                why = f"{current} (built {times[current]:%Y-%m-%dT%H:%M:%SZ}) is the newest build allowed by newest-build"
                return Choice(current, _join(why, *notes), tuple(ranked), rejected)
        if not ranked:
            return Choice(None, _join("no tag with a build time is allowed by newest-build", *notes), (), rejected)
        best = ranked[0]
        why = f"{best}: newest build ({times[best]:%Y-%m-%dT%H:%M:%SZ}) of {len(ranked)} tag(s) allowed by newest-build"
        if current is not None:
            why += f", built after {current} ({times[current]:%Y-%m-%dT%H:%M:%SZ})"
        return Choice(best, _join(why, *notes), tuple(ranked), rejected)


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _combined(first: Rejections | tuple, more: list[Rejected]) -> Rejections:
    if not more:
        return first if isinstance(first, Rejections) else Rejections(len(first), lambda: list(first))
    return Rejections(len(first) + len(more), lambda: [*first, *more])
