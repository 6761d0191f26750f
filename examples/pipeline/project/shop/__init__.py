"""The example shop: pricing and tax depend on models, checkout on both, report on checkout."""
