from .pricing import total
from .tax import vat


def pay(items):
    return total(items) + sum(vat(i) for i in items)
