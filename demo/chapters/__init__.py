"""The demo's chapters, in the order the story is told.

A chapter is a function `chapter_<name>(world)` decorated with `@chapter(title, needs=[...])`:
`needs` lists the function binaries it drives; when one is not built, the demo skips the chapter
with a one-line note instead of failing. `follows` names the chapters whose story it continues
(the same execution): asking for a chapter tells those first. A chapter narrates through `world.transcript`, checks
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
    follows: tuple[str, ...] = ()

    def __call__(self, world: object) -> None:
        self.tell(world)


class NotWrittenYet(Exception):
    """The chapter's functions are built but the chapter itself is still to be written."""


def chapter(title: str, needs: list[str], follows: tuple[str, ...] = ()) -> Callable[[Callable[..., None]], Chapter]:
    def wrap(tell: Callable[..., None]) -> Chapter:
        return Chapter(tell.__name__.removeprefix("chapter_"), title, tuple(needs), tell, tuple(follows))

    return wrap


from .push import chapter_push  # noqa: E402
from .notifications import chapter_notifications  # noqa: E402
from .approval import chapter_approval  # noqa: E402
from .canary import chapter_canary  # noqa: E402
from .rollback import chapter_rollback  # noqa: E402
from .smoke import chapter_smoke  # noqa: E402
from .judge import chapter_judge  # noqa: E402
from .metrics import chapter_metrics  # noqa: E402
from .onboard import chapter_onboard  # noqa: E402
from .operations import chapter_operations  # noqa: E402
from .prod_account import chapter_prod_account  # noqa: E402

# `operations` comes before the judge: turning the judge on changes the pipeline's structure, and
# CodePipeline rolls a stage back only to an execution of the structure it runs now.
# `prod_account` moves DeployProd's environment to a second account; `onboard` comes last, as it
# leaves a push of each service waiting at its prod approval.
STORY: list[Chapter] = [chapter_push, chapter_notifications, chapter_approval, chapter_canary, chapter_operations,
                        chapter_rollback, chapter_smoke, chapter_judge, chapter_metrics, chapter_prod_account,
                        chapter_onboard]


def with_earlier(names: set[str]) -> set[str]:
    """The chapters asked for, and every chapter whose story they continue."""
    by_name = {c.name: c for c in STORY}
    wanted, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(by_name[name].follows)
    return wanted
