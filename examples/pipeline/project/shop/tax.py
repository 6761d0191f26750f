from typing import TYPE_CHECKING

from . import models

if TYPE_CHECKING:
    from shop.report import Report  # type-only: reported, not an edge


def vat(item: models.Item, report: "Report | None" = None) -> int:
    return item.cents // 5
