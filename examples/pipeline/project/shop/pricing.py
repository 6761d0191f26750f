from shop.models import Item


def total(items: list[Item]) -> int:
    return sum(i.cents for i in items)
