"""The demo's chapters, in the order the story is told.

A chapter is a function `chapter_<name>(world)` decorated with `@chapter(title, needs=[...])`:
`needs` lists the function binaries it drives; when one is not built, the demo skips the chapter
with a one-line note instead of failing. A chapter narrates through `world.transcript`, checks
what a user would notice with `expect(...)` (a `StoryError` fails the demo), and leaves what the
next chapter needs in `world.facts`.

To add a chapter: write `chapters/<name>.py`, then list it in `STORY` below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Chapter:
    name: str
    title: str
    needs: tuple[str, ...]
    tell: Callable[..., None]

    def __call__(self, world: object) -> None:
        self.tell(world)


class NotWrittenYet(Exception):
    """The chapter's functions are built but the chapter itself is still to be written."""


def chapter(title: str, needs: list[str]) -> Callable[[Callable[..., None]], Chapter]:
    def wrap(tell: Callable[..., None]) -> Chapter:
        return Chapter(tell.__name__.removeprefix("chapter_"), title, tuple(needs), tell)

    return wrap


from .push import chapter_push  # noqa: E402
from .notifications import chapter_notifications  # noqa: E402
from .approval import chapter_approval  # noqa: E402
from .canary import chapter_canary  # noqa: E402
from .rollback import chapter_rollback  # noqa: E402

STORY: list[Chapter] = [chapter_push, chapter_notifications, chapter_approval, chapter_canary, chapter_rollback]
