from shop import checkout


class Report:
    def render(self, items) -> str:
        return f"paid {checkout.pay(items)}"
